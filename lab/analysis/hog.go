package analysis

import (
	"slices"

	"github.com/linelab/linelab/lab"
)

// Against is a figure read against the scenario's first step
// (lab.AgainstFirst), trial by trial: each trial of the step with the same
// trial of the first step, the two run minutes apart at most and on the
// same container. Trials missing on either side are left out; nil for a
// figure that is not read so.
func Against(f lab.Figure, step, first []lab.Trial) Sample {
	byTrial := func(ts []lab.Trial) map[int]lab.Trial {
		out := map[int]lab.Trial{}
		for _, t := range ts {
			out[t.Trial] = t
		}
		return out
	}
	base := byTrial(first)
	var keys []int
	for _, t := range step {
		if _, ok := base[t.Trial]; ok {
			keys = append(keys, t.Trial)
		}
	}
	slices.Sort(keys)
	at := byTrial(step)
	var out Sample
	for _, k := range keys {
		if v, ok := against(f, at[k], base[k]); ok {
			out = append(out, v)
		}
	}
	return out
}

func against(f lab.Figure, t, base lab.Trial) (float64, bool) {
	switch f {
	case lab.FigSlowdown:
		if base.Latency.P90 == 0 {
			return 0, false
		}
		return float64(t.Latency.P90) / float64(base.Latency.P90), true
	case lab.FigBlastRadius:
		return BlastRadius(t, base)
	}
	return 0, false
}

// BlastRadius is how much a hog trial's light lines' p99 grew over the
// same trial without the hog, in µs per ms of the CPU one heavy line cost
// the server: the price every other connection paid for one handler that
// computes. A p99 that did not grow is 0 (the hog cost the light lines
// nothing the percentile could see), not a gain; false without a heavy
// line that was answered.
func BlastRadius(hog, alone lab.Trial) (float64, bool) {
	h := hog.Hog
	if h == nil || h.LineMS <= 0 || h.Lines == 0 || hog.Latency.Count == 0 || alone.Latency.Count == 0 {
		return 0, false
	}
	return max(float64(hog.Latency.P99-alone.Latency.P99), 0) / h.LineMS, true
}
