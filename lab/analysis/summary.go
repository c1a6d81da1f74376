package analysis

import (
	"slices"

	"github.com/linelab/linelab/lab"
)

// StatOf is the median of v with its range (SpreadOf), as results.json
// keeps it.
func StatOf(v []float64) lab.Stat {
	s := SpreadOf(v)
	return lab.Stat{Center: s.Center, Lo: s.Lo, Hi: s.Hi, N: s.N}
}

// Summarize is a step's summary over its trials: each figure's median
// with its range, what explains them, and the step's warnings. want is
// how many trials the plan gave the step; canaryMedian the run's canary.
func Summarize(sc lab.Scenario, def lab.Step, ts []lab.Trial, want int, canaryMedian float64) lab.Summary {
	pick := func(f func(lab.Trial) float64) lab.Stat {
		var v []float64
		for _, t := range ts {
			v = append(v, f(t))
		}
		return StatOf(v)
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
	facts := StepFacts{Trials: len(ts), Want: want,
		Lo: s.Throughput.Lo, Center: s.Throughput.Center, Hi: s.Throughput.Hi}
	var canaries []float64
	for _, t := range ts {
		for _, n := range t.Errors {
			s.Errors += n
		}
		if t.DriverBound {
			facts.DriverBound++
		}
		if Stalled(def.Loop, t) {
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
	s.Canary = StatOf(canaries)
	facts.Failed = s.Errors
	if def.Fault.Timed() {
		recovery(&s, &facts, ts)
	}
	if s.Canary.N > 1 {
		facts.CanaryLo, facts.CanaryCenter, facts.CanaryHi = s.Canary.Lo, s.Canary.Center, s.Canary.Hi
	}
	s.DriverBound = facts.DriverBound > 0
	s.UpstreamBound = facts.UpBound > 0
	s.Warnings = StepWarnings(facts)
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
	s.Jain, s.Slowest = StatOf(jain), StatOf(slowest)
	var vol, invol, waited, kernel []float64
	for _, t := range ts {
		if v, i, w, k, ok := PerLine(t); ok {
			vol, invol, waited, kernel = append(vol, v), append(invol, i), append(waited, w), append(kernel, k)
		}
	}
	s.Voluntary, s.Involuntary, s.WaitedUS, s.Kernel = StatOf(vol), StatOf(invol), StatOf(waited), StatOf(kernel)
	var share, lineMS []float64
	for _, t := range ts {
		if t.Hog != nil {
			share, lineMS = append(share, t.Hog.CPUShare), append(lineMS, t.Hog.LineMS)
		}
	}
	s.HogShare, s.HogLineMS = StatOf(share), StatOf(lineMS)
	if def.Loop != lab.Idle {
		var h []float64
		for _, t := range ts {
			if t.DriverCores > 0 && t.ServerCores > 0 {
				h = append(h, t.ServerCores/t.DriverCores)
			}
		}
		s.Headroom = StatOf(h)
	}
}

// recovery is a fault step's recovery and first answer over its trials.
// Throughput over a window with a fault in it spreads with where the
// fault fell; the figure that is noisy or not is recovery, read to the
// bucket: a spread of two buckets or less is the grain.
func recovery(s *lab.Summary, facts *StepFacts, ts []lab.Trial) {
	facts.Fault = true
	var rec, first []float64
	for _, t := range ts {
		if ms, back, valid := Recovery(t.Timeline); valid && back {
			rec = append(rec, ms)
		} else if valid {
			s.NotRecovered++
		}
		if t.Timeline != nil && t.Timeline.FirstAnswerMS >= 0 {
			first = append(first, t.Timeline.FirstAnswerMS)
		}
	}
	s.Recovery, s.FirstAnswer = StatOf(rec), StatOf(first)
	facts.NotRecovered = s.NotRecovered
	facts.Lo, facts.Center, facts.Hi = s.Recovery.Center, s.Recovery.Center, s.Recovery.Center
	if b := bucketMS(ts); s.Recovery.Hi-s.Recovery.Lo > 2*b {
		facts.Lo, facts.Hi = s.Recovery.Lo, s.Recovery.Hi
	}
}

// StepIdeal is the lines/s a fetch closed loop could reach (Ideal)
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
	return Ideal(def.Connections, def.Depth, up.Latency.D().Seconds())
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

// LadderKnee finds, in each trial, the last rate of an open-loop
// scenario's ladder before the first that failed (TrialKnee), and gives
// the median trial's knee with the range over trials. trials holds the
// implementation's trials of the scenario by step.
func LadderKnee(impl string, sc lab.Scenario, p lab.Profile, trials map[string][]lab.Trial) (lab.Knee, bool) {
	k := lab.Knee{Impl: impl, Scenario: sc.Name, BoundUS: sc.LatencyBound.D().Microseconds()}
	var open []lab.Step
	for _, st := range sc.Steps {
		if st.Loop == lab.Open {
			open = append(open, st.For(p))
		}
	}
	slices.SortStableFunc(open, func(a, b lab.Step) int { return a.Rate - b.Rate })
	last := 0
	for _, ts := range trials {
		for _, t := range ts {
			last = max(last, t.Trial)
		}
	}
	if last == 0 {
		return k, false
	}
	trialOf := func(step string, trial int) *lab.Trial {
		for i := range trials[step] {
			if trials[step][i].Trial == trial {
				return &trials[step][i]
			}
		}
		return nil
	}
	var rs []KneeTrial
	for trial := 1; trial <= last; trial++ {
		var ladder []Rung
		for _, st := range open {
			r := Rung{Step: st.Name, Rate: float64(st.Rate)}
			if t := trialOf(st.Name, trial); t != nil {
				var failed int64
				for _, n := range t.Errors {
					failed += n
				}
				r.Ran, r.P99US, r.Answers, r.Errors, r.Driver = true, float64(t.Latency.P99), t.Throughput, failed, t.DriverBound
			}
			ladder = append(ladder, r)
		}
		rate, step, atLeast, why := TrialKnee(ladder, float64(k.BoundUS))
		rs = append(rs, KneeTrial{Rate: rate, Step: step, AtLeast: atLeast, Why: why})
		k.Trials = append(k.Trials, rate)
	}
	m := MedianKnee(rs)
	st := StatOf(k.Trials)
	k.Rate, k.Lo, k.Hi, k.N = m.Rate, st.Lo, st.Hi, st.N
	k.Step, k.AtLeast, k.Why = m.Step, m.AtLeast, m.Why
	return k, true
}
