package analysis

import (
	"math"
	"testing"

	"github.com/linelab/linelab/lab"
)

func TestFairness(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		counts        []int64
		jain, slowest float64
		none          bool
	}{
		{"even", []int64{10, 10, 10, 10}, 1, 1, false},
		{"one gets all", []int64{40, 0, 0, 0}, 0.25, 0, false},
		{"half starved", []int64{20, 20, 0, 0}, 0.5, 0, false},
		{"one slow", []int64{12, 12, 12, 4}, 1600.0 / 1792, 0.4, false}, // (40)² ÷ (4 × 448)
		{"one connection", []int64{7}, 0, 0, true},
		{"no answers", []int64{0, 0, 0}, 0, 0, true},
		{"none", nil, 0, 0, true},
	} {
		f := Fairness(c.counts)
		if c.none {
			if f != nil {
				t.Errorf("%s: %+v, want none", c.name, *f)
			}
			continue
		}
		if f == nil || math.Abs(f.Jain-c.jain) > 1e-9 || math.Abs(f.Slowest-c.slowest) > 1e-9 {
			t.Errorf("%s: %+v, want Jain %.2f, slowest %.2f", c.name, f, c.jain, c.slowest)
		}
	}
}

func TestPerLine(t *testing.T) {
	t.Parallel()
	tr := lab.Trial{Lines: 1000, Sched: &lab.Sched{Voluntary: 2100, Involuntary: 50, Waited: 0.004, User: 0.3, System: 0.7}}
	v, i, w, k, ok := PerLine(tr)
	if !ok || v != 2.1 || i != 0.05 || math.Abs(w-4) > 1e-9 || math.Abs(k-0.7) > 1e-9 {
		t.Errorf("PerLine = %v %v %v %v %v; want 2.1 voluntary, 0.05 involuntary, 4 µs waited, 70%% kernel", v, i, w, k, ok)
	}
	for _, tr := range []lab.Trial{{Lines: 10}, {Sched: &lab.Sched{Voluntary: 5}}} {
		if _, _, _, _, ok := PerLine(tr); ok {
			t.Errorf("PerLine(%+v) gave figures", tr)
		}
	}
}
