package results

import (
	"errors"
	"math"
	"slices"
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
				s := Step{Impl: impl.Name, Scenario: sc.Name, Step: st.Name, Def: def, Trials: ts}
				s.Summary = summarize(sc, def, ts, f.Profile, med)
				f.Steps = append(f.Steps, s)
			}
			if sc.LatencyBound > 0 {
				if k, ok := knee(f, impl.Name, sc); ok {
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
	st := NewStat(v)
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

func summarize(sc lab.Scenario, def lab.Step, ts []lab.Trial, p lab.Profile, canaryMedian float64) lab.Summary {
	pick := func(f func(lab.Trial) float64) lab.Stat {
		var v []float64
		for _, t := range ts {
			v = append(v, f(t))
		}
		return NewStat(v)
	}
	s := lab.Summary{
		Throughput:  pick(func(t lab.Trial) float64 { return t.Throughput }),
		P50:         pick(func(t lab.Trial) float64 { return float64(t.Latency.P50) }),
		P99:         pick(func(t lab.Trial) float64 { return float64(t.Latency.P99) }),
		LinesPerCPU: pick(func(t lab.Trial) float64 { return t.LinesPerCPUSecond }),
		ServerCores: pick(func(t lab.Trial) float64 { return t.ServerCores }),
		Memory:      pick(func(t lab.Trial) float64 { return float64(t.MemWorkingSetMax) }),
		Threads:     pick(func(t lab.Trial) float64 { return float64(t.ThreadsMax) }),
	}
	if def.Loop == lab.Idle {
		s.MemPerConn = pick(func(t lab.Trial) float64 { return t.MemPerConnection })
	}
	explain(&s, def, ts)
	facts := analysis.StepFacts{Trials: len(ts), Want: plan.BaseTrials(sc, def.Name, p),
		Lo: s.Throughput.Lo, Center: s.Throughput.Center, Hi: s.Throughput.Hi}
	var canaries []float64
	for _, t := range ts {
		for _, n := range t.Errors {
			s.Errors += n
		}
		if t.DriverBound {
			facts.DriverBound++
		}
		if analysis.Stalled(def.Loop, t) {
			facts.Stalled++
		}
		if t.UpstreamBound {
			facts.UpBound++
		}
		if (t.DriverBound || t.UpstreamBound) && len(t.BoundBy) > 0 && !slices.Contains(facts.Why, t.BoundBy[0]) {
			facts.Why = append(facts.Why, t.BoundBy[0])
		}
		if canaryMedian > 0 && t.Canary > 0 {
			canaries = append(canaries, t.Canary/canaryMedian)
		}
	}
	s.Canary = NewStat(canaries)
	facts.Failed = s.Errors
	if def.Fault.Timed() {
		recovery(&s, &facts, ts)
	}
	if s.Canary.N > 1 {
		facts.CanaryLo, facts.CanaryCenter, facts.CanaryHi = s.Canary.Lo, s.Canary.Center, s.Canary.Hi
	}
	s.DriverBound = facts.DriverBound > 0
	s.UpstreamBound = facts.UpBound > 0
	s.Warnings = analysis.StepWarnings(facts)
	s.Ideal = StepIdeal(sc, def)
	return s
}

// explain adds the figures that say why a step costs what it costs:
// fairness, the scheduler's counters per line, the heavy connection's
// share, and the driver's headroom.
func explain(s *lab.Summary, def lab.Step, ts []lab.Trial) {
	var jain, slowest []float64
	for _, t := range ts {
		if t.Fairness != nil {
			jain, slowest = append(jain, t.Fairness.Jain), append(slowest, t.Fairness.Slowest)
		}
	}
	s.Jain, s.Slowest = NewStat(jain), NewStat(slowest)
	var vol, invol, waited, kernel []float64
	for _, t := range ts {
		if v, i, w, k, ok := analysis.PerLine(t); ok {
			vol, invol, waited, kernel = append(vol, v), append(invol, i), append(waited, w), append(kernel, k)
		}
	}
	s.Voluntary, s.Involuntary, s.WaitedUS, s.Kernel = NewStat(vol), NewStat(invol), NewStat(waited), NewStat(kernel)
	var share, lineMS []float64
	for _, t := range ts {
		if t.Hog != nil {
			share, lineMS = append(share, t.Hog.CPUShare), append(lineMS, t.Hog.LineMS)
		}
	}
	s.HogShare, s.HogLineMS = NewStat(share), NewStat(lineMS)
	if def.Loop != lab.Idle {
		var h []float64
		for _, t := range ts {
			if t.DriverCores > 0 && t.ServerCores > 0 {
				h = append(h, t.ServerCores/t.DriverCores)
			}
		}
		s.Headroom = NewStat(h)
	}
}

// recovery is a fault step's recovery and first answer over its trials.
// Throughput over a window with a fault in it spreads with where the
// fault fell; the figure that is noisy or not is recovery, read to the
// bucket: a spread of two buckets or less is the grain.
func recovery(s *lab.Summary, facts *analysis.StepFacts, ts []lab.Trial) {
	facts.Fault = true
	var rec, first []float64
	for _, t := range ts {
		if ms, back, valid := analysis.Recovery(t.Timeline); valid && back {
			rec = append(rec, ms)
		} else if valid {
			s.NotRecovered++
		}
		if t.Timeline != nil && t.Timeline.FirstAnswerMS >= 0 {
			first = append(first, t.Timeline.FirstAnswerMS)
		}
	}
	s.Recovery, s.FirstAnswer = NewStat(rec), NewStat(first)
	facts.NotRecovered = s.NotRecovered
	facts.Lo, facts.Center, facts.Hi = s.Recovery.Center, s.Recovery.Center, s.Recovery.Center
	if b := bucketMS(ts); s.Recovery.Hi-s.Recovery.Lo > 2*b {
		facts.Lo, facts.Hi = s.Recovery.Lo, s.Recovery.Hi
	}
}

// StepIdeal is the lines/s a fetch closed loop could reach (analysis.Ideal)
// with the step's upstream latency; 0 for a step that has none. The ideal is
// for a step whose window is all load: a fault step's window holds its
// outage too, and slow answers are not the latency.
func StepIdeal(sc lab.Scenario, def lab.Step) float64 {
	if sc.Mode != lab.Fetch || def.Loop != lab.Closed || def.Fault != nil {
		return 0
	}
	up := sc.Upstream
	if def.Upstream != nil {
		up = def.Upstream
	}
	if up == nil || up.Latency <= 0 || up.SlowRate != 0 {
		return 0
	}
	return analysis.Ideal(def.Connections, def.Depth, up.Latency.D().Seconds())
}

// bucketMS is the grain of the trials' timelines (100 ms if none says).
func bucketMS(ts []lab.Trial) float64 {
	for _, t := range ts {
		if t.Timeline != nil && t.Timeline.BucketMS > 0 {
			return float64(t.Timeline.BucketMS)
		}
	}
	return 100
}

// knee finds, in each trial, the last rate of an open-loop scenario's
// ladder before the first that failed (analysis.TrialKnee), and gives the
// median trial's knee with the range over trials.
func knee(f *File, impl string, sc lab.Scenario) (lab.Knee, bool) {
	k := lab.Knee{Impl: impl, Scenario: sc.Name, BoundUS: sc.LatencyBound.D().Microseconds()}
	var open []lab.Step
	for _, st := range sc.Steps {
		if st.Loop == lab.Open {
			open = append(open, st.For(f.Profile))
		}
	}
	slices.SortStableFunc(open, func(a, b lab.Step) int { return a.Rate - b.Rate })
	trials := 0
	for _, s := range f.Steps {
		if s.Impl == impl && s.Scenario == sc.Name {
			for _, t := range s.Trials {
				trials = max(trials, t.Trial)
			}
		}
	}
	if trials == 0 {
		return k, false
	}
	var rs []analysis.KneeTrial
	for trial := 1; trial <= trials; trial++ {
		var ladder []analysis.Rung
		for _, st := range open {
			r := analysis.Rung{Step: st.Name, Rate: float64(st.Rate)}
			if t := trialOf(f, impl, sc.Name, st.Name, trial); t != nil {
				var failed int64
				for _, n := range t.Errors {
					failed += n
				}
				r.Ran, r.P99US, r.Answers, r.Errors, r.Driver = true, float64(t.Latency.P99), t.Throughput, failed, t.DriverBound
			}
			ladder = append(ladder, r)
		}
		rate, step, atLeast, why := analysis.TrialKnee(ladder, float64(k.BoundUS))
		rs = append(rs, analysis.KneeTrial{Rate: rate, Step: step, AtLeast: atLeast, Why: why})
		k.Trials = append(k.Trials, rate)
	}
	m := analysis.MedianKnee(rs)
	st := NewStat(k.Trials)
	k.Rate, k.Lo, k.Hi, k.N = m.Rate, st.Lo, st.Hi, st.N
	k.Step, k.AtLeast, k.Why = m.Step, m.AtLeast, m.Why
	return k, true
}

func trialOf(f *File, impl, scen, step string, trial int) *lab.Trial {
	for i := range f.Steps {
		s := &f.Steps[i]
		if s.Impl != impl || s.Scenario != scen || s.Step != step {
			continue
		}
		for j := range s.Trials {
			if s.Trials[j].Trial == trial {
				return &s.Trials[j]
			}
		}
	}
	return nil
}

// NewStat is the median of v with its range (analysis.SpreadOf).
func NewStat(v []float64) lab.Stat {
	s := analysis.SpreadOf(v)
	return lab.Stat{Center: s.Center, Lo: s.Lo, Hi: s.Hi, N: s.N}
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
