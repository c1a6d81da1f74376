package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/upstream"
)

func (r *runner) markDead(impl, scen, step, why string) {
	r.dead[impl] = why
	r.record(lab.Failure{Impl: impl, Scenario: scen, Step: step, Message: why + "; skipped for the rest of the run", LeftOut: true})
}

// judgedKey is an implementation in a mode.
type judgedKey struct {
	impl string
	mode lab.Mode
}

// conform runs the conformance step; a server that fails is out.
func (r *runner) conform(ctx context.Context, s *server, mode lab.Mode) bool {
	targets := []conformance.Target{{Addr: s.c.Addr(ServerPort), Mode: mode, Upstream: conformance.NotFetch}}
	if mode == lab.Fetch {
		targets = []conformance.Target{
			{Addr: s.c.Addr(ServerPort), Mode: mode, Upstream: conformance.Healthy},
			{Addr: s.c.Addr(ServerPort), Mode: mode, Upstream: conformance.Failing},
		}
	}
	ok := true
	// A later phase of the same mode changes only the upstream client:
	// the hostile clients tried the server's reading and writing already.
	again := r.judged[judgedKey{s.impl.Name, mode}]
	if r.opts.Profile == lab.Quick {
		// A smoke test judges each server once a mode, by the contract:
		// make test's conformance of every image tries the rest.
		if again {
			return true
		}
		again = true
	}
	for _, t := range targets {
		t.Memory, t.ContractOnly = s.memory, again
		b := upstream.Behaviour{Latency: time.Millisecond, Jitter: time.Millisecond}
		if t.Upstream == conformance.Failing {
			b = upstream.Behaviour{ErrorRate: 1}
		}
		if err := r.upControl.set(ctx, b); err != nil {
			r.markDead(s.impl.Name, "", "", "could not set the upstream for conformance: "+err.Error())
			return false
		}
		res, err := r.check(ctx, t)
		if err != nil {
			r.markDead(s.impl.Name, "", "", fmt.Sprintf("could not run the conformance suite (%s): %v", t.Name(), err))
			return false
		}
		failed := conformance.FailedCases(res)
		name := t.Name()
		if r.client != "" {
			name += " (" + r.client + " upstream client)"
		}
		r.w.Update(func(f *results.File) {
			// A resumed run judges again: the newer verdict stands.
			f.Conformance = slices.DeleteFunc(f.Conformance, func(c results.Conformance) bool { return c.Impl == s.impl.Name && c.Target == name })
			f.Conformance = append(f.Conformance, results.Conformance{Impl: s.impl.Name, Target: name, Passed: len(failed) == 0, Results: res})
		})
		if len(failed) > 0 && ctx.Err() == nil {
			r.markDead(s.impl.Name, "", "", fmt.Sprintf("failed conformance (%s): %s", t.Name(), strings.Join(failed, ", ")))
			ok = false
			break
		}
		r.say("lab: %s passes conformance (%s, %d cases)", s.impl.Name, t.Name(), len(res)-skipped(res))
	}
	if ok {
		r.judged[judgedKey{s.impl.Name, mode}] = true
	}
	return ok
}

// check runs the conformance suite against t: from this process, or on a
// remote engine from a driver container on the run's network (`driver
// conform`), so that its timings and resets are the network's own.
func (r *runner) check(ctx context.Context, t conformance.Target) ([]conformance.Result, error) {
	if !r.plan.Topology.gated() {
		return conformance.Check(ctx, t), nil
	}
	job, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	out, code, err := r.rt.RunToEnd(ctx, engine.Spec{
		Image: AgentImage, Name: "conformance", Network: r.nw, Cpuset: r.helperCPU(), Cmd: []string{"conform", string(job)},
	})
	if err != nil {
		return nil, err
	}
	var res []conformance.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("the conformance container (exit %d) wrote no verdicts (%v): %s", code, err, tail(string(out), 400))
	}
	return res, nil
}

func skipped(rs []conformance.Result) int {
	n := 0
	for _, r := range rs {
		if r.Skipped {
			n++
		}
	}
	return n
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	if s == "" {
		return "(nothing)"
	}
	return s
}
