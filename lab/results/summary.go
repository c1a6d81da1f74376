package results

import (
	"errors"
	"math"
	"sort"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/plan"
)

// Summarize groups trials into steps, in scenario and step order, and
// computes summaries, knees and the canary's spread.
func Summarize(f *File, trials []lab.Trial) {
	f.Steps = nil
	f.Knees = nil
	f.Canary = canary(f, trials)
	f.Time = Time{Setup: f.Time.Setup}
	for _, t := range trials {
		f.Time.Trials++
		if t.Kind == string(plan.Extra) {
			f.Time.Extra++
		}
		f.Time.Windows += t.Seconds + f.warmup(t.Scenario)
		if t.Overhead != nil {
			f.Time.Around.Add(*t.Overhead)
		}
	}
	var med float64
	if f.Canary != nil {
		med = f.Canary.Median
	}
	type key struct{ impl, scenario, step string }
	groups := map[key][]lab.Trial{}
	for _, t := range trials {
		k := key{t.Impl, t.Scenario, t.Step}
		groups[k] = append(groups[k], t)
	}
	for _, sc := range f.Scenarios {
		for _, impl := range f.Implementations {
			for _, st := range sc.Steps {
				ts := groups[key{impl.Name, sc.Name, st.Name}]
				if len(ts) == 0 {
					continue
				}
				sort.Slice(ts, func(i, j int) bool { return ts[i].Trial < ts[j].Trial })
				def := st.For(f.Profile)
				s := StepResult{Impl: impl.Name, Scenario: sc.Name, Step: st.Name, Def: def, Trials: ts}
				s.Summary = analysis.Summarize(sc, def, ts, plan.BaseTrials(sc, st.Name, f.Profile), med)
				f.Steps = append(f.Steps, s)
			}
			if sc.LatencyBound > 0 {
				byStep := map[string][]lab.Trial{}
				for _, st := range sc.Steps {
					byStep[st.Name] = groups[key{impl.Name, sc.Name, st.Name}]
				}
				if k, ok := analysis.LadderKnee(impl.Name, sc, f.Profile, byStep); ok {
					f.Knees = append(f.Knees, k)
				}
			}
		}
	}
}

// warmup is a scenario's warm-up in the run's profile, in seconds.
func (f *File) warmup(scen string) float64 {
	for _, sc := range f.Scenarios {
		if sc.Name == scen {
			return sc.Profiles[f.Profile].Warmup.D().Seconds()
		}
	}
	return 0
}

// canary summarises the canary readings of the trials.
func canary(f *File, ts []lab.Trial) *Canary {
	var v []float64
	for _, t := range ts {
		if t.Canary > 0 {
			v = append(v, t.Canary)
		}
	}
	if len(v) == 0 {
		return nil
	}
	st := analysis.StatOf(v)
	c := &Canary{Step: "closed loop, 50 connections, one line in flight", Median: st.Center, Lo: st.Lo, Hi: st.Hi, N: st.N}
	if f.Calibration != nil {
		c.Against = f.Calibration.Against
	}
	for _, x := range v {
		if analysis.Drifted(x, st.Center) {
			c.Drifted++
		}
	}
	return c
}

// PercentilesOf reads the usual percentiles off h.
func PercentilesOf(h *hdrhistogram.Histogram) lab.Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return lab.Percentiles{}
	}
	return lab.Percentiles{
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), P9999: h.ValueAtQuantile(99.99), Max: h.Max(),
		Mean: math.Round(h.Mean()*10) / 10, Count: h.TotalCount(),
	}
}

// EncodeHistogram is h in HdrHistogram's V2 compressed form.
func EncodeHistogram(h *hdrhistogram.Histogram) []byte {
	if h == nil {
		return nil
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil
	}
	return b
}

// DecodeHistogram reverses EncodeHistogram.
func DecodeHistogram(b []byte) (*hdrhistogram.Histogram, error) {
	if len(b) == 0 {
		return nil, errors.New("no histogram")
	}
	return hdrhistogram.Decode(b)
}

// DecodeAll merges the latency histograms of trials (corrected or, for an
// open loop, uncorrected); nil when none decodes.
func DecodeAll(ts []lab.Trial, corrected bool) *hdrhistogram.Histogram {
	var out *hdrhistogram.Histogram
	for _, t := range ts {
		b := t.Histogram
		if !corrected && t.UncorrectedHistogram != nil {
			b = t.UncorrectedHistogram
		}
		h, err := DecodeHistogram(b)
		if err != nil {
			continue
		}
		if out == nil {
			out = h
		} else {
			out.Merge(h)
		}
	}
	return out
}
