package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/report/plot"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// FaultRow is one implementation's account of a fault step: how long it
// took to come back, and what the clients saw meanwhile (medians over the
// trials).
type FaultRow struct {
	Impl, Step  string
	Recovery    string // fault's end to the rate back, with its range
	FirstAnswer string // fault's start to the first good answer after it
	Lost        string // lines sent and never answered (reset, closed, timeout, unanswered)
	ErrorLines  string // "error: ..." answers
	Refused     string // connects that failed
	Reconnects  string // connections the clients had to open again
	Seen        string // what the clients saw, in words
}

// faultTrial is the trial a timeline is drawn from: the one with the
// median recovery (the first, when none could say).
func faultTrial(st *results.StepResult) *lab.Trial {
	type rt struct {
		ms float64
		t  *lab.Trial
	}
	var rs []rt
	for i := range st.Trials {
		if ms, back, valid := analysis.Recovery(st.Trials[i].Timeline); valid && back {
			rs = append(rs, rt{ms, &st.Trials[i]})
		}
	}
	if len(rs) == 0 {
		for i := range st.Trials {
			if st.Trials[i].Timeline != nil {
				return &st.Trials[i]
			}
		}
		return nil
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].ms < rs[j].ms })
	return rs[(len(rs)-1)/2].t
}

// faultCharts draws a timed fault step's window: answers per second and
// failures per second against time, one line per implementation (its
// median trial), the fault shaded.
func faultCharts(f *results.File, sc lab.Scenario, st lab.Step, m *Model) []Chart {
	var answers, failures []plot.Series
	var names []string
	var from, to []float64
	bucket := 0
	for _, impl := range f.Implementations {
		x := find(f, impl.Name, sc.Name, st.Name)
		if x == nil {
			continue
		}
		t := faultTrial(x)
		if t == nil || t.Timeline.BucketMS <= 0 {
			continue
		}
		tl := t.Timeline
		bucket = tl.BucketMS
		b := float64(tl.BucketMS)
		a := plot.Series{Impl: impl.Name, Color: m.color(impl.Name)}
		e := plot.Series{Impl: impl.Name, Color: m.color(impl.Name)}
		for i, n := range tl.Answers {
			sec := (float64(i) + 0.5) * b / 1000
			a.Points = append(a.Points, plot.Pt{X: sec, Y: float64(n) * 1000 / b})
			var failed int64
			for class, row := range tl.Errors {
				if class != lab.FailConnect && i < len(row) {
					failed += row[i]
				}
			}
			e.Points = append(e.Points, plot.Pt{X: sec, Y: float64(failed) * 1000 / b})
		}
		answers, failures = append(answers, a), append(failures, e)
		names = append(names, impl.Name)
		for _, mk := range tl.Faults {
			from, to = append(from, mk.FromMS), append(to, mk.ToMS)
		}
	}
	if len(answers) == 0 {
		return nil
	}
	band := func(fr plot.Frame) string {
		if len(from) == 0 {
			return ""
		}
		lo, hi := slices.Min(from)/1000, analysis.Median(to)/1000
		return fmt.Sprintf(`<rect class="fault" x="%.1f" y="%.0f" width="%.1f" height="%.0f"><title>%s</title></rect><text class="tick" x="%.1f" y="%.0f">fault</text>`,
			fr.X(lo), fr.Top, max(fr.X(hi)-fr.X(lo), 2), fr.Bottom-fr.Top, esc(faultWords(st.Fault)), fr.X(lo)+3, fr.Top+12)
	}
	x := plot.Axis{Label: "seconds into the window", Fmt: func(v float64) string { return fmt.Sprintf("%.1f", v) }}
	ya := plot.Axis{Label: "answers per second", Fmt: units.Count}
	yf := plot.Axis{Label: "failed lines per second", Fmt: units.Count}
	what := faultWords(st.Fault)
	return []Chart{
		Chart{Title: sc.Name + ": answers over time", Series: names,
			Hint: fmt.Sprintf("Correct answers per second in each %d ms of the %s step's window, from each implementation's median trial (by recovery); the shaded band is the fault (%s), from its start in the earliest trial to its end in the median one. Higher and sooner back is better.", bucket, st.Name, what),
			SVG:  plot.Line(x, ya, answers, band)}.withData(x, ya, answers, nil),
		Chart{Title: sc.Name + ": failures over time", Series: names,
			Hint: "Lines that failed per second, of every class but a refused connect (those are counted in the table below): lines lost when connections were reset or closed, error lines, answers that never came. From the same trials as the chart above.",
			SVG:  plot.Line(x, yf, failures, band)}.withData(x, yf, failures, nil),
	}
}

// neverBack returns impl's step of the headline when the headline is
// recovery and not one of its trials came back: it has no figure, and
// says why.
func neverBack(f *results.File, sc lab.Scenario, h headline, impl string) (*results.StepResult, bool) {
	if h.fig != lab.FigRecovery {
		return nil, false
	}
	st := find(f, impl, sc.Name, h.step)
	return st, st != nil && st.Summary.Recovery.N == 0 && st.Summary.NotRecovered > 0
}

// faultWords says what a fault does, for a reader.
func faultWords(ft *lab.Fault) string {
	if ft == nil {
		return ""
	}
	switch ft.Kind {
	case lab.FaultCrash:
		return fmt.Sprintf("at %v the container is killed with SIGKILL and started again", ft.At)
	case lab.FaultUpstreamFlap:
		return fmt.Sprintf("at %v the upstream answers 503 for %v, then refuses connections for %v", ft.At, ft.For.D()/2, ft.For.D()-ft.For.D()/2)
	case lab.FaultLossyLink:
		return fmt.Sprintf("the server's packets dropped at %.1f%% and delayed %v", 100*ft.Loss, ft.Delay)
	}
	return string(ft.Kind)
}

// faultRows is the account of every timed fault step of a scenario.
func faultRows(f *results.File, sc lab.Scenario) []FaultRow {
	var out []FaultRow
	for _, st := range sc.Steps {
		if !st.Fault.Timed() {
			continue
		}
		for _, impl := range f.Implementations {
			x := find(f, impl.Name, sc.Name, st.Name)
			if x == nil || len(x.Trials) == 0 {
				continue
			}
			sm := x.Summary
			row := FaultRow{Impl: impl.Name, Step: st.Name, Recovery: "—", FirstAnswer: "—"}
			if sm.Recovery.N > 0 {
				row.Recovery = millis(sm.Recovery.Center) + msRange(sm.Recovery)
			}
			if sm.NotRecovered > 0 {
				row.Recovery += fmt.Sprintf("; not back in %d of %d trials", sm.NotRecovered, len(x.Trials))
			}
			if sm.FirstAnswer.N > 0 {
				row.FirstAnswer = millis(sm.FirstAnswer.Center) + msRange(sm.FirstAnswer)
			}
			med := func(v func(lab.Trial) float64) string {
				var vs []float64
				for _, t := range x.Trials {
					vs = append(vs, v(t))
				}
				return units.Count(analysis.Median(vs))
			}
			row.Lost = med(func(t lab.Trial) float64 { return float64(analysis.LostLines(t.Errors)) })
			row.ErrorLines = med(func(t lab.Trial) float64 { return float64(t.Errors[lab.FailErrorLine]) })
			row.Refused = med(func(t lab.Trial) float64 { return float64(t.Errors[lab.FailConnect]) })
			row.Reconnects = med(func(t lab.Trial) float64 { return float64(t.Reconnects) })
			row.Seen = seen(x.Trials)
			out = append(out, row)
		}
	}
	return out
}

func msRange(s lab.Stat) string {
	if s.N < 2 || millis(s.Lo) == millis(s.Hi) {
		return ""
	}
	return " (" + millis(s.Lo) + "–" + millis(s.Hi) + ")"
}

// seen says what the clients saw of the fault over all trials: resets,
// closes, hangs (no answer before a timeout), error lines, or nothing.
func seen(ts []lab.Trial) string {
	total := map[lab.FailClass]int64{}
	for _, t := range ts {
		for c, n := range t.Errors {
			total[c] += n
		}
	}
	var out []string
	for _, w := range []struct {
		class lab.FailClass
		words string
	}{
		{lab.FailReset, "resets"}, {lab.FailClosed, "connections closed"}, {lab.FailTimeout, "hangs (no answer before a timeout)"},
		{lab.FailUnanswered, "lines never answered"}, {lab.FailErrorLine, "error lines"}, {lab.FailConnect, "refused connects"},
		{lab.FailWrong, "wrong answers"}, {lab.FailOrder, "answers out of order"}, {lab.FailExtra, "answers nobody asked for"},
	} {
		if total[w.class] > 0 {
			out = append(out, w.words)
		}
	}
	if len(out) == 0 {
		return "nothing: every line was answered"
	}
	return strings.Join(out, ", ")
}
