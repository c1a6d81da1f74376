package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/results"
)

// timelineBucket is the grain of a fault scenario's timelines.
const timelineBucket = 100 * time.Millisecond

// inject prepares a step of a fault scenario: a timeline for every step
// (the clean ones are what the faulty one is read against), the driver's
// action for a timed fault, the lossy link for a lossy one. It returns what
// takes the fault off after the step (nil: nothing to), and false when the
// fault could not be set up, which is recorded.
func (r *runner) inject(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, cfg *driver.Config) (func(), bool) {
	if hasFault(sc) {
		cfg.Timeline = timelineBucket
	}
	f := def.Fault
	if f == nil {
		return nil, true
	}
	switch f.Kind {
	case lab.FaultCrash:
		// The container keeps its name and settings but may come back
		// with another address.
		cfg.Target = func() string { return s.c.Addr(ServerPort) }
		// A connect sent while the container was gone waits a second for
		// TCP to send its SYN again, the same for every server; clients
		// that retry sooner let the figure show the server's own start.
		cfg.DialTimeout = 200 * time.Millisecond
		cfg.Actions = []driver.Action{{What: "killed (SIGKILL) and started again", At: f.At.D(),
			Do: func(ctx context.Context) error { _, err := s.c.Crash(ctx); return err }}}
	case lab.FaultUpstreamFlap:
		normal := behaviour(sc, def)
		failing := normal
		failing.ErrorRate = 1
		half := f.For.D() / 2
		cfg.Actions = []driver.Action{{
			What: fmt.Sprintf("upstream down: %v answering 503, then %v refusing connections", half, f.For.D()-half),
			At:   f.At.D(),
			Do: func(ctx context.Context) error {
				if err := r.upControl.set(ctx, failing); err != nil {
					return err
				}
				sleepCtx(ctx, half)
				if err := r.upControl.set(ctx, normal); err != nil {
					return err
				}
				if err := r.upControl.refuse(ctx, f.For.D()-half); err != nil {
					return err
				}
				return r.upControl.waitHealthy(ctx, 10*time.Millisecond)
			}}}
	case lab.FaultLossyLink:
		undo, err := s.c.Netem(ctx, f.Loss, f.Delay.D())
		if err != nil {
			r.fail(s.impl.Name, sc.Name, def.Name, "could not make the link lossy: "+err.Error())
			return nil, false
		}
		return func() {
			if err := undo(context.WithoutCancel(ctx)); err != nil {
				// A link left lossy would spoil every later step of the
				// server: its container is replaced before the next one.
				r.stepFailed(s, sc, def, err.Error())
			}
		}, true
	}
	return nil, true
}

// hasFault reports whether a scenario injects a fault in any step.
func hasFault(sc lab.Scenario) bool {
	return slices.ContainsFunc(sc.Steps, func(st lab.Step) bool { return st.Fault != nil })
}

// lossyUnavailable says why this machine cannot run a scenario with a
// lossy link ("" when it can, or the scenario has none), trying netem once
// per run on a container of the phase and taking it off again.
func (r *runner) lossyUnavailable(ctx context.Context, sc lab.Scenario, servers []*server) string {
	if !slices.ContainsFunc(sc.Steps, func(st lab.Step) bool { return st.Fault != nil && st.Fault.Kind == lab.FaultLossyLink }) {
		return ""
	}
	if r.netemChecked {
		return r.netemWhy
	}
	for _, s := range servers {
		if _, out := r.dead[s.impl.Name]; out || s.c == nil {
			continue
		}
		undo, err := s.c.Netem(ctx, 0.01, time.Millisecond)
		var no *engine.NetemUnavailable
		switch {
		case errors.As(err, &no):
			r.netemWhy = no.Why
		case err != nil:
			continue // this container's trouble, not the machine's: try another
		default:
			if err := undo(ctx); err != nil {
				r.netemWhy = err.Error()
			}
		}
		r.netemChecked = true
		return r.netemWhy
	}
	return ""
}

// skipScenario records every trial of a scenario as not run, for one
// reason that holds for the machine, not for a server.
func (r *runner) skipScenario(sc lab.Scenario, why string) {
	for _, t := range r.sched.Base() {
		if t.Scenario == sc.Name {
			r.prog.count++
			r.prog.done += t.Cost
		}
	}
	r.say("lab: %s is not run on this machine: %s", sc.Name, why)
	r.w.Update(func(f *results.File) {
		f.Skipped = append(f.Skipped, results.Skip{Scenario: sc.Name, Why: why})
	})
}
