package runner

import (
	"testing"
	"time"
)

// budgetRun is a runner that began ago and whose plan has rest left,
// running slower than planned by slow (spent over counted so far).
func budgetRun(budget, ago, rest time.Duration, slow float64) *runner {
	r := &runner{opts: Options{Budget: budget}, prog: progress{began: time.Now().Add(-ago), total: rest,
		extraSteps: []string{"a/x", "b/y"}}}
	if slow > 0 {
		r.prog.counted = time.Minute
		r.prog.spent = time.Duration(slow * float64(time.Minute))
	}
	return r
}

func TestBudgetMargin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ budget, want time.Duration }{
		{8 * time.Minute, 2 * time.Minute},
		{30 * time.Minute, 3 * time.Minute},
		{2 * time.Hour, 12 * time.Minute},
	} {
		if got := budgetMargin(c.budget); got != c.want {
			t.Errorf("budgetMargin(%s) = %s, want %s", c.budget, got, c.want)
		}
	}
}

func TestBehind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name            string
		budget, ago, in time.Duration
		slow            float64
		want            bool
	}{
		{"inside the budget less its margin", 30 * time.Minute, 10 * time.Minute, 15 * time.Minute, 0, false},
		{"into the margin", 30 * time.Minute, 10 * time.Minute, 18 * time.Minute, 0, true},
		{"the plan runs slow", 30 * time.Minute, 10 * time.Minute, 15 * time.Minute, 1.2, true},
		{"the plan runs fast", 30 * time.Minute, 10 * time.Minute, 18 * time.Minute, 0.8, false},
		{"no budget", 0, time.Hour, time.Hour, 0, false},
	} {
		r := budgetRun(c.budget, c.ago, c.in, c.slow)
		if got := r.behind(); got != c.want {
			t.Errorf("%s: behind() = %v, want %v", c.name, got, c.want)
		}
		// Behind, the quiet wait shrinks.
		if want := map[bool]time.Duration{false: quietWait, true: quietWaitBehind}[c.want]; r.quietWait() != want {
			t.Errorf("%s: quietWait() = %s, want %s", c.name, r.quietWait(), want)
		}
	}
}

// The spare time after the margin, the time so far and the rest is shared
// evenly by the headline steps still to come; none when there is none.
func TestGrant(t *testing.T) {
	t.Parallel()
	r := budgetRun(30*time.Minute, 10*time.Minute, 13*time.Minute, 0)
	got := r.grant("a/x")
	if want := 2 * time.Minute; got < want-time.Second || got > want {
		t.Errorf("first of two steps: grant = %s, want about %s (4 min spare over two steps)", got, want)
	}
	if got := r.grant("b/y"); got < 4*time.Minute-time.Second || got > 4*time.Minute {
		t.Errorf("last step: grant = %s, want about 4m", got)
	}
	if got := budgetRun(30*time.Minute, 10*time.Minute, 18*time.Minute, 0).grant("a/x"); got != 0 {
		t.Errorf("a run behind its budget: grant = %s, want 0", got)
	}
}
