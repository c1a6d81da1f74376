package plot

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAxisTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a    Axis
		vals []float64
		want []float64
	}{
		{"log: whole decades around the data", Axis{Log: true}, []float64{30, 4000}, []float64{10, 100, 1000, 10000}},
		{"log: zero is left out", Axis{Log: true}, []float64{0, 5, 50}, []float64{1, 10, 100}},
		{"linear: from zero, 8% headroom", Axis{}, []float64{10, 50}, []float64{0, 10, 20, 30, 40, 50}},
		{"no data: one decade", Axis{Log: true}, nil, []float64{1, 10}},
	} {
		a := tc.a
		a.fit(tc.vals)
		if got := a.tickValues(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ticks %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestSpansDecades(t *testing.T) {
	t.Parallel()
	s := func(ys ...float64) []Series {
		var ps []Pt
		for _, y := range ys {
			ps = append(ps, Pt{Y: y})
		}
		return []Series{{Points: ps}}
	}
	if SpansDecades(s(100, 900)) || !SpansDecades(s(0, 10, 101)) {
		t.Error("a 9× span is one decade, 10.1× is more (a zero is ignored)")
	}
}

// TestLine: every point is drawn with its title, an interval where given,
// the caller's marks inside the plot area, and one legend entry per series.
func TestLine(t *testing.T) {
	t.Parallel()
	num := func(v float64) string { return fmt.Sprint(v) }
	ss := []Series{
		{Impl: "a<b", Color: "#111", Points: []Pt{{X: 1, Y: 10}, {X: 2, Y: 20, Lo: 15, Hi: 25}}},
		{Impl: "c", Color: "#222", Points: []Pt{{X: 1, Y: 5}}},
	}
	var inside bool
	svg := string(Line(Axis{Label: "x", Fmt: num}, Axis{Label: "y", Fmt: num}, ss, func(fr Frame) string {
		inside = fr.Left < fr.X(1) && fr.X(2) <= fr.Right && fr.Top <= fr.Y(25) && fr.Y(0) <= fr.Bottom
		return `<g class="mine"/>`
	}))
	for what, n := range map[string]int{"<circle": 3, `class="interval"`: 1, "<polyline": 1, `class="mine"`: 1, `class="legend"`: 2, "a&lt;b": 5} {
		if got := strings.Count(svg, what); got != n {
			t.Errorf("%s: %d; want %d", what, got, n)
		}
	}
	if !inside {
		t.Error("the frame's X and Y do not place the data inside its bounds")
	}
}
