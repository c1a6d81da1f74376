package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// headline picks the step a scenario's verdict speaks of, and the figure
// it ranks by, as the registry (lab.Figure.Info) describes it.
type headline struct {
	step        string
	fig         lab.Figure
	info        lab.FigureInfo
	description string
	why         string // from the scenario file
}

// headlineNames is how many of a ranking the first screen names before
// its last: the rest is one click away.
const headlineNames = 5

// short is the headline figure in a few words.
func (h headline) short() string { return h.info.ShortAt(h.step) }

// ladder reports whether the figure is read from a whole ladder (a knee).
func (h headline) ladder() bool { return h.info.Reading == lab.Ladder }

func newHeadline(fig lab.Figure, step string) headline {
	info := fig.Info()
	return headline{step: step, fig: fig, info: info, description: info.At(step)}
}

func pickHeadline(sc lab.Scenario) headline {
	if h := sc.Headline; h != nil {
		fig := h.Figure
		if fig == lab.FigLinesPerCPU && stepLoop(sc, h.Step) == lab.Churn {
			fig = lab.FigConnsPerCPU // a churn step's answers are connections
		}
		out := newHeadline(fig, h.Step)
		out.why = strings.TrimSpace(h.Why)
		switch fig {
		case lab.FigKnee:
			out.description = fmt.Sprintf("the highest rate with p99 under %s", sc.LatencyBound)
		case lab.FigRecovery:
			out.description += fmt.Sprintf(" (until the rate is back at %.0f%%)", 100*analysis.BackShare)
		}
		return out
	}
	// A results.json from before scenario files had to name their
	// headline: say so rather than guess the scenario's meaning.
	var last string
	for _, st := range sc.Steps {
		last = st.Name
	}
	out := newHeadline(lab.FigThroughput, last)
	out.description += " (the scenario file named no headline)"
	return out
}

func find(f *results.File, impl, scen, step string) *results.StepResult {
	for i := range f.Steps {
		s := &f.Steps[i]
		if s.Impl == impl && s.Scenario == scen && s.Step == step {
			return s
		}
	}
	return nil
}

// figure returns an implementation's headline figure as a stat, and the
// warnings that touch it.
func figure(f *results.File, sc lab.Scenario, h headline, impl string) (lab.Stat, *results.StepResult, bool) {
	if _, failed := failedAt(f, sc, h, impl); failed {
		return lab.Stat{}, nil, false // what a failed step measured is no figure
	}
	switch h.info.Reading {
	case lab.Ladder:
		for _, k := range f.Knees {
			if k.Impl == impl && k.Scenario == sc.Name {
				var st *results.StepResult
				if k.Step != "" {
					st = find(f, impl, sc.Name, k.Step)
				}
				return lab.Stat{Center: k.Rate, Lo: k.Lo, Hi: k.Hi, N: k.N}, st, true
			}
		}
		return lab.Stat{}, nil, false
	case lab.AgainstFirst:
		// Trial by trial against the same trial of the first step.
		base, st := find(f, impl, sc.Name, sc.Steps[0].Name), find(f, impl, sc.Name, h.step)
		if base == nil || st == nil {
			return lab.Stat{}, nil, false
		}
		s := analysis.SpreadOf(analysis.Against(h.fig, st.Trials, base.Trials))
		if s.N == 0 {
			return lab.Stat{}, nil, false
		}
		return lab.Stat{Center: s.Center, Lo: s.Lo, Hi: s.Hi, N: s.N}, st, true
	}
	st := find(f, impl, sc.Name, h.step)
	if st == nil {
		return lab.Stat{}, nil, false
	}
	switch h.fig {
	case lab.FigMemPerConn:
		return st.Summary.MemPerConn, st, true
	case lab.FigP50:
		return st.Summary.P50, st, true
	case lab.FigP99:
		return st.Summary.P99, st, true
	case lab.FigRecovery:
		return st.Summary.Recovery, st, st.Summary.Recovery.N > 0
	case lab.FigLinesPerCPU, lab.FigConnsPerCPU:
		return st.Summary.LinesPerCPU, st, true
	}
	return st.Summary.Throughput, st, true
}

func format(h headline, v float64) string {
	if h.fig == lab.FigKnee {
		if v == 0 {
			return "below the lowest rate"
		}
		return units.Count(v) + " lines/s"
	}
	return valueText(h.info.Unit, v)
}

// valueText is a value in its unit, for a place that does not name the
// figure.
func valueText(u lab.Unit, v float64) string {
	switch u {
	case lab.UnitBytesPerConn:
		return units.Bytes(v) + "/connection"
	case lab.UnitMicros:
		return units.Micros(v)
	case lab.UnitMillis:
		return "back within " + millis(v)
	case lab.UnitTimes:
		return fmt.Sprintf("p90 ×%.1f", v)
	case lab.UnitMicrosPerMilli:
		return fmt.Sprintf("%s of p99 per ms", units.Micros(v))
	case lab.UnitShare:
		return fmt.Sprintf("%.0f%%", 100*v)
	case lab.UnitPerLine:
		return fmt.Sprintf("%.2f per line", v)
	case lab.UnitMicrosPerLine:
		return units.Micros(v) + " per line"
	case lab.UnitPerSecond:
		return units.Count(v) + "/s"
	}
	return bareText(u, v) + " " + string(u)
}

// millis is a time in ms as a reader wants it; a fault's timeline is read
// to the 100 ms, so no finer.
func millis(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.1f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func kneeOf(f *results.File, impl, scen string) *lab.Knee {
	for i := range f.Knees {
		if k := &f.Knees[i]; k.Impl == impl && k.Scenario == scen {
			return k
		}
	}
	return nil
}

// decisive reports whether an entry's figure can rank it (analysis.Decisive).
func decisive(h headline, st *results.StepResult, k *lab.Knee) bool {
	if h.ladder() {
		return analysis.Decisive(h.fig, k != nil, false, false, k != nil && k.AtLeast)
	}
	return st != nil && analysis.Decisive(h.fig, true, st.Summary.DriverBound, st.Summary.UpstreamBound, false)
}

// failedAt returns why impl failed the step the headline figure comes from
// (both steps of a slowdown), in short, when it did. A knee is left to
// its ladder: a rung that failed ends the climb there.
func failedAt(f *results.File, sc lab.Scenario, h headline, impl string) (string, bool) {
	if h.ladder() {
		return "", false
	}
	steps := []string{h.step}
	if h.info.Reading == lab.AgainstFirst && len(sc.Steps) > 0 {
		steps = append(steps, sc.Steps[0].Name)
	}
	for _, x := range f.Failures {
		if x.Impl == impl && x.Scenario == sc.Name && !x.LeftOut && slices.Contains(steps, x.Step) {
			why, _, _ := strings.Cut(x.Message, "; ")
			if len(why) > 80 {
				why = why[:77] + "..."
			}
			return "failed at " + x.Step + ": " + why, true
		}
	}
	return "", false
}

func stepLoop(sc lab.Scenario, name string) lab.Loop {
	for _, st := range sc.Steps {
		if st.Name == name {
			return st.Loop
		}
	}
	return ""
}

// kneeText is a knee with its range over trials, and "≥" where the climb
// was cut short before the server failed.
func kneeText(k lab.Knee) string {
	if k.Rate == 0 && !k.AtLeast {
		return "below the lowest rate (" + k.Why + ")"
	}
	if k.Rate == 0 && k.Hi == 0 {
		return fmt.Sprintf("not measurable here: the driver fell behind at the lowest rate in all %d trials", k.N)
	}
	if k.Rate == 0 && k.AtLeast {
		return fmt.Sprintf("not measurable here in the median trial (trials %s–%s)", units.Count(k.Lo), units.Count(k.Hi))
	}
	t := units.Count(k.Rate) + " lines/s"
	if k.AtLeast {
		t = "≥ " + t
	}
	switch {
	case k.N > 1 && k.Lo == k.Hi:
		t += fmt.Sprintf(" (in all %d trials)", k.N)
	case k.N > 1:
		t += fmt.Sprintf(" (trials %s–%s)", units.Count(k.Lo), units.Count(k.Hi))
	}
	return t
}

// spread is a lab.Stat as analysis reads it.
func spread(s lab.Stat) analysis.Spread {
	return analysis.Spread{Center: s.Center, Lo: s.Lo, Hi: s.Hi, N: s.N}
}

// rangeText is a figure's range over its trials, in the figure's unit
// without repeating it, or how many trials agreed.
func rangeText(h headline, s lab.Stat) string {
	if s.N < 2 {
		return ""
	}
	if lo, hi := bare(h, s.Lo), bare(h, s.Hi); lo != hi {
		return " (" + lo + "–" + hi + ")"
	}
	return fmt.Sprintf(" (all %d trials)", s.N)
}

// bare is a figure's value in its unit's shortest form, for a place that
// names the figure already.
func bare(h headline, v float64) string { return bareText(h.info.Unit, v) }

func bareText(u lab.Unit, v float64) string {
	switch u {
	case lab.UnitBytesPerConn:
		return units.Bytes(v)
	case lab.UnitMicros, lab.UnitMicrosPerLine, lab.UnitMicrosPerMilli:
		return units.Micros(v)
	case lab.UnitMillis:
		return millis(v)
	case lab.UnitTimes:
		return fmt.Sprintf("×%.1f", v)
	case lab.UnitShare:
		return fmt.Sprintf("%.0f%%", 100*v)
	case lab.UnitPerLine:
		return fmt.Sprintf("%.2f", v)
	}
	return units.Count(v)
}
