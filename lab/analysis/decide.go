package analysis

import (
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
)

// TrialFigure is a headline figure as one trial gives it; false for the
// figures one trial cannot give on its own (a knee takes a ladder, a
// slowdown two steps) and for a trial without it (a fault trial whose rate
// never came back has no recovery).
func TrialFigure(f lab.Figure, t lab.Trial) (float64, bool) {
	switch f {
	case lab.FigThroughput:
		return t.Throughput, true
	case lab.FigLinesPerCPU:
		return t.LinesPerCPUSecond, t.LinesPerCPUSecond > 0
	case lab.FigP50:
		return float64(t.Latency.P50), t.Latency.Count > 0
	case lab.FigP99:
		return float64(t.Latency.P99), t.Latency.Count > 0
	case lab.FigMemPerConn:
		return t.MemPerConnection, t.Connected > 0
	case lab.FigRecovery:
		ms, back, valid := Recovery(t.Timeline)
		return ms, valid && back
	}
	return 0, false
}

// Undecided reports whether impl's place in a headline's ranking is still
// open: ranked by the median of each implementation's trials (byImpl, the
// ones named in out left aside), the rank test cannot tell it from the
// implementation just above or just below it at level Alpha. With too few
// trials for the test ever to call it, it is undecided; an implementation
// with no trials has no place to decide.
func Undecided(byImpl map[string][]float64, impl string, higher bool, out []string) bool {
	mine := byImpl[impl]
	if len(mine) == 0 || slices.Contains(out, impl) {
		return false
	}
	var names []string
	for n, v := range byImpl {
		if len(v) > 0 && !slices.Contains(out, n) {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		ma, mb := Median(byImpl[a]), Median(byImpl[b])
		switch {
		case ma == mb:
			return strings.Compare(a, b)
		case (ma > mb) == higher:
			return -1
		}
		return 1
	})
	i := slices.Index(names, impl)
	for _, j := range []int{i - 1, i + 1} {
		if j >= 0 && j < len(names) && MannWhitney(mine, byImpl[names[j]]) >= Alpha {
			return true
		}
	}
	return false
}
