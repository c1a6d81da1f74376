package runner

import (
	"slices"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/plan"
)

// extraWanted decides whether an extra trial of a headline step runs: only
// while the implementation's place in the ranking is undecided, and only
// from the share of the budget's spare time granted to the step.
func (r *runner) extraWanted(t plan.Trial, sc lab.Scenario) bool {
	key := t.Scenario + "/" + t.Step
	if !analysis.Undecided(r.mem.figures[key], t.Impl, sc.Headline.HigherIsBetter(), r.outOfStep(t)) {
		return false
	}
	if r.opts.Budget <= 0 {
		return true
	}
	cost := r.scaled(t.Cost)
	grant, ok := r.prog.spare[key]
	if !ok {
		grant = r.grant(key)
		r.prog.spare[key] = grant
	}
	if grant < cost {
		return false
	}
	r.prog.spare[key] = grant - cost
	return true
}

// outOfStep lists the implementations that are out of the step: left out of
// the run, or failed the step; their trials rank nothing.
func (r *runner) outOfStep(t plan.Trial) []string {
	var out []string
	for impl := range r.mem.figures[t.Scenario+"/"+t.Step] {
		if _, dead := r.dead[impl]; dead || r.failed[[3]string{impl, t.Scenario, t.Step}] {
			out = append(out, impl)
		}
	}
	return out
}

// grant is a headline step's share of the budget's spare time: what the
// budget leaves after the time so far and the estimate of the rest,
// shared evenly by this step and the headline steps after it that may run
// extra trials. A step that needs less leaves the rest to those after it.
func (r *runner) grant(key string) time.Duration {
	spare := r.headroom()
	i := slices.Index(r.prog.extraSteps, key)
	if spare <= 0 || i < 0 {
		return 0
	}
	return spare / time.Duration(len(r.prog.extraSteps)-i)
}

// headroom is what the budget, less its margin, leaves after the time so
// far and the estimate of the rest; negative when the run is behind.
func (r *runner) headroom() time.Duration {
	b := r.opts.Budget
	return b - budgetMargin(b) - time.Since(r.prog.began) - r.left() - r.setupLeft()
}

// behind reports whether the run, by the estimate of the rest, will end
// past its budget (less the margin): then the steps that decide nothing
// give up their later trials before the headline steps give up anything.
func (r *runner) behind() bool {
	return r.opts.Budget > 0 && r.headroom() < 0
}

// budgetMargin is the part of the budget no extra trial may take: what a
// run spends that the estimate does not see (make's check of the images
// and building the command before the run's clock starts, the report at
// the end, a trial run again), a tenth of the budget and at least two
// minutes.
func budgetMargin(budget time.Duration) time.Duration {
	return max(2*time.Minute, budget/10)
}

// scaled is a planned cost as the trials so far ran against the plan.
func (r *runner) scaled(d time.Duration) time.Duration {
	if r.prog.counted > 0 && r.prog.spent > 0 {
		return time.Duration(float64(d) * float64(r.prog.spent) / float64(r.prog.counted))
	}
	return d
}

// setupLeft is the time the phases still to come will take to start
// their servers and judge them, from the last phase's.
func (r *runner) setupLeft() time.Duration {
	return time.Duration(r.prog.phasesLeft) * r.prog.lastSetup
}

// stepsWithExtras lists, in the plan's order, the headline steps that may
// run extra trials.
func stepsWithExtras(p *plan.Plan) []string {
	var out []string
	for _, t := range p.Trials {
		if k := t.Scenario + "/" + t.Step; t.Kind == plan.Extra && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
