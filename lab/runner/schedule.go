package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// next runs one trial of the plan, unless the run already has it (a
// resumed run), its server is out or failed the step, its rung is pruned,
// or it is an extra trial that the ranking or the budget does not call for.
func (r *runner) next(ctx context.Context, s *server, t plan.Trial) {
	sc, st := r.stepOf(t)
	if t.Kind == plan.Extra {
		if s == nil || r.finished[t.Key] || !r.extraWanted(t, sc) {
			return
		}
	} else {
		r.prog.count++
		r.prog.done += t.Cost
	}
	if s == nil {
		return // it did not start in this phase, and is out
	}
	if _, out := r.dead[s.impl.Name]; out || r.finished[t.Key] {
		return
	}
	if r.failed[[3]string{s.impl.Name, sc.Name, st.Name}] {
		r.skip(s, sc, st, t.Trial, "the server failed this step in an earlier trial")
		return
	}
	if r.pruned(s, sc, st, t.Trial) {
		return
	}
	// A scenario that answers one of the talk's claims keeps every trial:
	// a claim needs a range from each step it reads.
	if t.Kind == plan.Side && t.Trial > 1 && len(sc.Claims) == 0 && r.behind() {
		r.skip(s, sc, st, t.Trial, "the run's budget: a step that decides nothing keeps one trial while the run is behind its budget")
		return
	}
	var ov lab.Overhead
	if s.broken {
		began := time.Now()
		if !r.renew(ctx, s) {
			return
		}
		ov.Start = time.Since(began).Seconds()
	}
	r.trial(ctx, s, sc, st, t, ov)
}

// stepOf is the scenario and the step (as it runs in the profile) of a
// planned trial.
func (r *runner) stepOf(t plan.Trial) (lab.Scenario, lab.Step) {
	for _, sc := range r.plan.Scenarios {
		if sc.Name != t.Scenario {
			continue
		}
		for _, st := range sc.Steps {
			if st.Name == t.Step {
				return sc, st.For(r.opts.Profile)
			}
		}
	}
	panic("plan: a trial of a step the run does not have: " + t.Scenario + "/" + t.Step)
}

// unplanned says why the plan does not run a scenario ("" it does).
func (r *runner) unplanned(sc lab.Scenario) string {
	why, ok := r.sched.Skipped(sc.Name)
	switch {
	case !ok:
		return ""
	case why == plan.NeedsCores:
		have := len(r.plan.Layout.Server)
		return fmt.Sprintf("it needs %d server cores and this run gives the servers %d (%s); run it on a machine with at least %d cores with lab run --server-cores %d",
			sc.ServerCores, have, units.Cores(r.serverCPU()), sc.ServerCores+1, sc.ServerCores)
	case why == plan.SteeredFault:
		return "its faults act on the containers from inside the driver's window, and the driver of a remote engine runs in a container; run it on the engine's own machine with one engine"
	}
	return string(why)
}

// pruned decides whether an open-loop rung is worth running (see
// analysis.Prune), and records it as skipped when it is not.
func (r *runner) pruned(s *server, sc lab.Scenario, st lab.Step, trial int) bool {
	if st.Loop != lab.Open {
		return false
	}
	def := st.For(r.opts.Profile)
	key := [2]string{s.impl.Name, sc.Name}
	var earlier [][]analysis.Rung
	for _, ladder := range r.mem.rungs[key] {
		// Only the rungs below this rate: other trials of this very rate
		// must not decide whether it runs.
		var below []analysis.Rung
		for _, g := range ladder {
			if g.Rate < float64(def.Rate) {
				below = append(below, g)
			}
		}
		if len(below) > 0 {
			earlier = append(earlier, below)
		}
	}
	var driverUS float64
	if r.calib != nil {
		driverUS = r.calib.DriverUS[lab.CalOpen]
	}
	skip, why := analysis.Prune(float64(def.Rate), earlier, float64(sc.LatencyBound.D().Microseconds()), r.bestClosed(s.impl.Name), driverUS)
	if !skip {
		return false
	}
	r.mem.addRung(key, trial, analysis.Rung{Step: def.Name, Rate: float64(def.Rate)})
	r.skip(s, sc, st, trial, why)
	return true
}

// skip records a trial that is not run, and why.
func (r *runner) skip(s *server, sc lab.Scenario, st lab.Step, trial int, why string) {
	def := st.For(r.opts.Profile)
	r.w.Update(func(f *results.File) {
		f.Skipped = append(f.Skipped, results.Skip{Impl: s.impl.Name, Scenario: sc.Name, Step: def.Name, Trial: trial, Why: why})
	})
}

// bestClosed is the highest median rate of the implementation's echo
// closed-loop steps so far in this run (0: none yet).
func (r *runner) bestClosed(impl string) float64 {
	best := 0.0
	for k, v := range r.mem.closedRates {
		if k[0] == impl {
			best = max(best, analysis.Median(v))
		}
	}
	return best
}
