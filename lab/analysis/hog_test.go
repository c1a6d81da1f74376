package analysis

import (
	"testing"

	"github.com/linelab/linelab/lab"
)

func TestAgainstFirst(t *testing.T) {
	t.Parallel()
	trial := func(n int, p90, p99 int64, hog *lab.HogTrial) lab.Trial {
		return lab.Trial{Trial: n, Latency: lab.Percentiles{P90: p90, P99: p99, Count: 100}, Hog: hog}
	}
	heavy := &lab.HogTrial{LineMS: 20, Lines: 10}
	alone := []lab.Trial{trial(1, 100, 200, nil), trial(2, 100, 300, nil), trial(3, 50, 100, nil)}
	hogged := []lab.Trial{
		trial(1, 150, 20_200, heavy), // +20 ms of p99 for a 20 ms line: 1,000 µs per ms
		trial(2, 100, 250, heavy),    // p99 fell: 0, not a gain
		trial(4, 100, 9_000, heavy),  // no trial 4 alone: left out
	}
	for _, tc := range []struct {
		name string
		fig  lab.Figure
		want Sample
	}{
		{"blast radius", lab.FigBlastRadius, Sample{1000, 0}},
		{"slowdown", lab.FigSlowdown, Sample{1.5, 1}},
		{"a figure of one step", lab.FigP99, nil},
	} {
		got := Against(tc.fig, hogged, alone)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
	}
	// A heavy line never answered sizes nothing.
	if _, ok := BlastRadius(trial(1, 1, 1, &lab.HogTrial{LineMS: 20}), alone[0]); ok {
		t.Error("blast radius without a heavy answer")
	}
}
