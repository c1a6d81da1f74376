package report

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/report/plot"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// Chart is one inline SVG with what a reader needs to read it.
type Chart struct {
	Title  string
	Hint   string // one line on how to read it
	SVG    template.HTML
	Series []string // implementations drawn, for the browser test and the legend
	// CSV is the chart's data as a data: URL, so a reader can take the
	// numbers without the page loading anything; File is its name.
	CSV  template.URL
	File string
}

// withData attaches the data drawn as CSV: one row per point, x named by
// xName (nil: the number as it is), y with the range of its trials.
func (c Chart) withData(x, y plot.Axis, ss []plot.Series, xName func(float64) string) Chart {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"implementation", x.Label, y.Label, y.Label + " (lowest trial)", y.Label + " (highest trial)"})
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, s := range ss {
		for _, p := range s.Points {
			xv := num(p.X)
			if xName != nil {
				xv = xName(p.X)
			}
			lo, hi := "", ""
			if p.Lo != 0 || p.Hi != 0 {
				lo, hi = num(p.Lo), num(p.Hi)
			}
			_ = w.Write([]string{s.Impl, xv, num(p.Y), lo, hi})
		}
	}
	w.Flush()
	c.CSV = template.URL("data:text/csv;charset=utf-8," + url.PathEscape(b.String()))
	c.File = slug(c.Title) + ".csv"
	return c
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// spectrumQuantiles are where a latency spectrum is read.
var spectrumQuantiles = []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// nines maps a percentile to the log axis of a spectrum: 90% → 1, 99% → 2.
// The maximum (q = 100) is drawn at 6, one step past 99.999%.
func nines(q float64) float64 { return -math.Log10(1 - math.Min(q, 99.9999)/100) }

func spectrum(f *results.File, m *Model, sc lab.Scenario, step string, corrected bool) (Chart, bool) {
	var ss []plot.Series
	var names []string
	for _, impl := range f.Implementations {
		st := find(f, impl.Name, sc.Name, step)
		if st == nil {
			continue
		}
		h := results.DecodeAll(st.Trials, corrected)
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		s := plot.Series{Impl: impl.Name, Color: m.color(impl.Name)}
		for _, q := range spectrumQuantiles {
			s.Points = append(s.Points, plot.Pt{X: nines(q), Y: float64(h.ValueAtQuantile(q))})
		}
		ss = append(ss, s)
		names = append(names, impl.Name)
	}
	if len(ss) == 0 {
		return Chart{}, false
	}
	x := plot.Axis{Label: "percentile", Ticks: []float64{0, 1, 2, 3, 4, 5, 6}, Min: 0, Max: 6, Fmt: func(v float64) string {
		return map[float64]string{0: "0%", 1: "90%", 2: "99%", 3: "99.9%", 4: "99.99%", 5: "99.999%", 6: "max"}[v]
	}}
	y := plot.Axis{Label: "latency", Log: true, Fmt: units.Micros}
	what := "round-trip latency"
	if corrected {
		what = "latency from each line's intended send time"
	}
	return Chart{
		Title:  fmt.Sprintf("%s at %s: latency spectrum", sc.Name, step),
		Hint:   "Each curve is one implementation's " + what + " over all trials, read at every percentile; lower is better, and the right end is the tail a user meets once in ten thousand lines. Both axes are logarithmic.",
		SVG:    plot.Line(x, y, ss, nil),
		Series: names,
	}.withData(x, y, ss, func(v float64) string {
		for _, q := range spectrumQuantiles {
			if nines(q) == v {
				return strconv.FormatFloat(q, 'g', -1, 64) + "%"
			}
		}
		return x.Fmt(v)
	}), true
}

// charts draws the charts sc's file names, in its order.
func charts(f *results.File, sc lab.Scenario, m *Model) []Chart {
	var out []Chart
	for _, c := range chartsOf(sc) {
		switch c.Kind {
		case lab.ChartFaults:
			for _, st := range sc.Steps {
				if st.Fault.Timed() {
					out = append(out, faultCharts(f, sc, st, m)...)
				}
			}
		case lab.ChartSweep:
			out = append(out, sweepChart(f, sc, m)...)
		case lab.ChartLadder:
			out = append(out, ladderChart(f, sc, m)...)
		case lab.ChartSpectrum:
			for _, step := range c.Steps {
				// An open loop's latency counts from when each line was
				// due (corrected for coordinated omission).
				if ch, ok := spectrum(f, m, sc, step, stepLoop(sc, step) == lab.Open); ok {
					out = append(out, ch)
				}
			}
		case lab.ChartIdle:
			out = append(out, idleCharts(f, sc, m)...)
		case lab.ChartCPU:
			if ch, ok := cpuChart(f, sc, m); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

// chartsOf is the charts of sc: those its file names or, for a run
// recorded before scenario files named them, those the report drew for
// such a scenario then.
func chartsOf(sc lab.Scenario) []lab.Chart {
	if len(sc.Charts) > 0 || len(sc.Steps) == 0 {
		return sc.Charts
	}
	var out []lab.Chart
	if slices.ContainsFunc(sc.Steps, func(st lab.Step) bool { return st.Fault.Timed() }) {
		out = append(out, lab.Chart{Kind: lab.ChartFaults})
	}
	first := sc.Steps[0]
	spectrum := lab.Chart{Kind: lab.ChartSpectrum}
	switch first.Loop {
	case lab.Closed, lab.Churn:
		if first.Loop == lab.Closed && len(sc.Steps) > 1 && first.Connections != sc.Steps[1].Connections {
			out = append(out, lab.Chart{Kind: lab.ChartSweep})
		}
		h := pickHeadline(sc)
		spectrum.Steps = append(spectrum.Steps, h.step)
		if h.info.Reading == lab.AgainstFirst && first.Name != h.step {
			spectrum.Steps = append(spectrum.Steps, first.Name)
		}
	case lab.Open:
		out = append(out, lab.Chart{Kind: lab.ChartLadder})
		for _, st := range sc.Steps[:min(2, len(sc.Steps))] {
			spectrum.Steps = append(spectrum.Steps, st.Name)
		}
	case lab.Idle:
		out = append(out, lab.Chart{Kind: lab.ChartIdle})
	}
	if len(spectrum.Steps) > 0 {
		out = append(out, spectrum)
	}
	return append(out, lab.Chart{Kind: lab.ChartCPU})
}

// sweepChart is throughput against connections, with the ideal where
// the upstream's latency sets one.
func sweepChart(f *results.File, sc lab.Scenario, m *Model) []Chart {
	ss, names := stepSeries(f, sc, m, func(x *results.StepResult) (float64, lab.Stat) {
		return float64(x.Def.Connections), x.Summary.Throughput
	})
	hint := "Median lines per second over the trials (bars: the range of the trials) at each number of connections; higher is better. The connections axis is logarithmic."
	var extra func(plot.Frame) string
	// The ideal of each step as the step runs (analysis.StepIdeal: a
	// step's own upstream settings count).
	var ideal [][2]float64
	for _, st := range sc.Steps {
		def := st.For(f.Profile)
		if v := analysis.StepIdeal(sc, def); v > 0 {
			ideal = append(ideal, [2]float64{float64(def.Connections), v})
		}
	}
	if len(ideal) > 1 {
		hint += " The dashed line is the ideal, connections ÷ upstream latency."
		extra = func(fr plot.Frame) string {
			var pts []string
			for _, p := range ideal {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", fr.X(p[0]), fr.Y(p[1])))
			}
			return `<polyline class="ideal" fill="none" points="` + strings.Join(pts, " ") + `"/>`
		}
	}
	if len(ss) == 0 {
		return nil
	}
	x, y := plot.Axis{Label: "connections", Log: true, Fmt: units.Count}, plot.Axis{Label: "lines per second", Log: plot.SpansDecades(ss), Fmt: units.Count}
	if y.Log {
		hint += " The rates span more than a decade, so the lines-per-second axis is logarithmic too."
	}
	return []Chart{Chart{Title: sc.Name + ": throughput against connections", Hint: hint, Series: names,
		SVG: plot.Line(x, y, ss, extra)}.withData(x, y, ss, nil)}
}

// ladderChart is an open-loop ladder's p99 against the offered rate, its
// knees ringed.
func ladderChart(f *results.File, sc lab.Scenario, m *Model) []Chart {
	ss, names := stepSeries(f, sc, m, func(x *results.StepResult) (float64, lab.Stat) {
		return float64(x.Def.Rate), x.Summary.P99
	})
	bound := float64(sc.LatencyBound.D().Microseconds())
	extra := func(fr plot.Frame) string {
		px, py := fr.X, fr.Y
		var b strings.Builder
		fmt.Fprintf(&b, `<line class="bound" x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f"/><text class="tick" x="%.0f" y="%.1f">p99 bound %s</text>`,
			fr.Left, fr.Right, py(bound), py(bound), fr.Left+4, py(bound)-4, esc(units.Micros(bound)))
		for _, k := range f.Knees {
			if k.Scenario == sc.Name && k.Rate > 0 {
				if x := find(f, k.Impl, sc.Name, k.Step); x != nil {
					fmt.Fprintf(&b, `<circle class="knee" data-impl="%s" cx="%.1f" cy="%.1f" r="7" fill="none" stroke="%s" stroke-width="2"><title>knee of %s: %s lines/s</title></circle>`,
						esc(k.Impl), px(k.Rate), py(x.Summary.P99.Center), m.color(k.Impl), esc(k.Impl), esc(units.Count(k.Rate)))
				}
			}
		}
		return b.String()
	}
	if len(ss) == 0 {
		return nil
	}
	x, y := plot.Axis{Label: "offered lines per second", Fmt: units.Count}, plot.Axis{Label: "p99 latency (µs)", Log: true, Fmt: units.Micros}
	return []Chart{Chart{Title: sc.Name + ": p99 latency against offered rate", Series: names,
		Hint: "Median p99, corrected for coordinated omission, at each offered rate; lower is better. A ring marks each implementation's knee: the highest rate whose p99 stays under the dashed bound with every line answered. The latency axis is logarithmic.",
		SVG:  plot.Line(x, y, ss, extra)}.withData(x, y, ss, nil)}
}

// idleCharts: memory and threads against connections, from every echo
// closed-loop step and the idle step, per implementation.
func idleCharts(f *results.File, sc lab.Scenario, m *Model) []Chart {
	var mem, thr []plot.Series
	var names []string
	for _, impl := range f.Implementations {
		ms := plot.Series{Impl: impl.Name, Color: m.color(impl.Name)}
		ts := ms
		byConns := map[int][2]float64{}
		for _, x := range f.Steps {
			if x.Impl != impl.Name || (x.Def.Loop != lab.Closed && x.Def.Loop != lab.Idle) || x.Def.Depth > 1 || modeOf(f, x.Scenario) != lab.Echo {
				continue
			}
			c := x.Def.Connections
			if x.Def.Loop == lab.Idle && len(x.Trials) > 0 {
				c = int(median(x.Trials, func(t lab.Trial) float64 { return float64(t.Connected) }))
			}
			old := byConns[c]
			byConns[c] = [2]float64{math.Max(old[0], x.Summary.Memory.Center), math.Max(old[1], x.Summary.Threads.Center)}
		}
		var cs []int
		for c := range byConns {
			cs = append(cs, c)
		}
		sort.Ints(cs)
		for _, c := range cs {
			ms.Points = append(ms.Points, plot.Pt{X: float64(c), Y: byConns[c][0]})
			ts.Points = append(ts.Points, plot.Pt{X: float64(c), Y: byConns[c][1]})
		}
		if len(cs) > 0 {
			mem, thr = append(mem, ms), append(thr, ts)
			names = append(names, impl.Name)
		}
	}
	if len(mem) == 0 {
		return nil
	}
	conns := plot.Axis{Label: "open connections", Log: true, Fmt: units.Count}
	memY, thrY := plot.Axis{Label: "working set (bytes)", Log: true, Fmt: units.Bytes}, plot.Axis{Label: "threads", Log: true, Fmt: units.Count}
	return []Chart{
		Chart{Title: "memory against connections", Series: names,
			Hint: "The server container's working set (memory in use, less file cache) at each number of open connections, from the echo steps and the idle step; lower is better. Both axes are logarithmic.",
			SVG:  plot.Line(conns, memY, mem, nil)}.withData(conns, memY, mem, nil),
		Chart{Title: "threads against connections", Series: names,
			Hint: "Threads (tasks) in the server container at each number of open connections; a thread per connection shows as a diagonal. Both axes are logarithmic.",
			SVG:  plot.Line(conns, thrY, thr, nil)}.withData(conns, thrY, thr, nil),
	}
}

func modeOf(f *results.File, scen string) lab.Mode {
	for _, s := range f.Scenarios {
		if s.Name == scen {
			return s.Mode
		}
	}
	return ""
}

// cpuChart: the server's CPU use per step.
func cpuChart(f *results.File, sc lab.Scenario, m *Model) (Chart, bool) {
	var cats []string
	for _, st := range sc.Steps {
		cats = append(cats, st.Name)
	}
	index := map[string]float64{}
	for i, st := range sc.Steps {
		index[st.Name] = float64(i)
	}
	ss, names := stepSeries(f, sc, m, func(x *results.StepResult) (float64, lab.Stat) {
		return index[x.Step], x.Summary.ServerCores
	})
	if len(ss) == 0 {
		return Chart{}, false
	}
	y := plot.Axis{Label: "server cores busy", Fmt: fmtCores}
	return Chart{Title: sc.Name + ": server CPU per step", Series: names,
		Hint: "CPU seconds the server container used per second of each step, from its cgroup (1.00 is its whole core). Read it beside throughput: the same lines for less CPU is the more efficient model.",
		SVG:  plot.Bar(cats, ss, y)}.withData(plot.Axis{Label: "step"}, y, ss, func(v float64) string { return cats[int(v)] }), true
}

// stepSeries makes a series per implementation with a point per step of
// sc, placed by point (x and the stat drawn with its range).
func stepSeries(f *results.File, sc lab.Scenario, m *Model, point func(*results.StepResult) (float64, lab.Stat)) ([]plot.Series, []string) {
	var ss []plot.Series
	var names []string
	for _, impl := range f.Implementations {
		s := plot.Series{Impl: impl.Name, Color: m.color(impl.Name)}
		for _, st := range sc.Steps {
			if x := find(f, impl.Name, sc.Name, st.Name); x != nil {
				px, y := point(x)
				s.Points = append(s.Points, plot.Pt{X: px, Y: y.Center, Lo: y.Lo, Hi: y.Hi})
			}
		}
		if len(s.Points) > 0 {
			ss = append(ss, s)
			names = append(names, impl.Name)
		}
	}
	return ss, names
}
