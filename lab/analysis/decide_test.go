package analysis

import (
	"testing"

	"github.com/linelab/linelab/lab"
)

func TestUndecided(t *testing.T) {
	apart := map[string][]float64{
		"a": {10, 11, 12, 13}, "b": {20, 21, 22, 23}, "c": {30, 31, 32, 33},
	}
	close := map[string][]float64{
		"a": {10, 11, 12, 13}, "b": {12.5, 13.5, 11.5, 14}, "c": {30, 31, 32, 33},
	}
	few := map[string][]float64{"a": {10, 11, 12}, "b": {20, 21, 22}}
	cases := []struct {
		name   string
		by     map[string][]float64
		impl   string
		higher bool
		out    []string
		want   bool
	}{
		{"four and four apart: decided", apart, "b", true, nil, false},
		{"the same, lower is better", apart, "a", false, nil, false},
		{"overlapping neighbour below", close, "a", true, nil, true},
		{"overlapping neighbour above", close, "b", true, nil, true},
		{"its neighbours are apart", close, "c", true, nil, false},
		{"three and three can never be told apart", few, "a", true, nil, true},
		{"no trials: nothing to decide", apart, "z", true, nil, false},
		{"out of the step", close, "a", true, []string{"a"}, false},
		{"its close neighbour is out", close, "a", true, []string{"b"}, false},
	}
	for _, c := range cases {
		if got := Undecided(c.by, c.impl, c.higher, c.out); got != c.want {
			t.Errorf("%s: Undecided(%s) = %v, want %v", c.name, c.impl, got, c.want)
		}
	}
}

func TestTrialFigure(t *testing.T) {
	tr := lab.Trial{Throughput: 100, LinesPerCPUSecond: 400, Latency: lab.Percentiles{P50: 7, P99: 90, Count: 3},
		MemPerConnection: 2048, Connected: 10,
		Timeline: &lab.Timeline{BucketMS: 100, Answers: []int64{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 0, 0, 10, 10, 10, 10},
			Faults: []lab.Mark{{What: "crash", FromMS: 1000, ToMS: 1100}}}}
	for _, c := range []struct {
		f    lab.Figure
		want float64
		ok   bool
	}{
		{lab.FigThroughput, 100, true}, {lab.FigLinesPerCPU, 400, true}, {lab.FigP50, 7, true}, {lab.FigP99, 90, true},
		{lab.FigMemPerConn, 2048, true}, {lab.FigKnee, 0, false}, {lab.FigSlowdown, 0, false},
	} {
		if got, ok := TrialFigure(c.f, tr); got != c.want || ok != c.ok {
			t.Errorf("%s: %v %v, want %v %v", c.f, got, ok, c.want, c.ok)
		}
	}
	if _, ok := TrialFigure(lab.FigRecovery, tr); !ok {
		t.Error("recovery: a timeline whose rate came back gives no figure")
	}
	if _, ok := TrialFigure(lab.FigP50, lab.Trial{}); ok {
		t.Error("p50 of a trial without answers")
	}
}
