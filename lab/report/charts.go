package report

import (
	"encoding/csv"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/results"
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
func (c Chart) withData(x, y axis, ss []Series, xName func(float64) string) Chart {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"implementation", x.label, y.label, y.label + " (lowest trial)", y.label + " (highest trial)"})
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

// spansDecades reports whether the series' values differ by more than 10×,
// where a linear axis would flatten the small ones against zero.
func spansDecades(ss []Series) bool {
	lo, hi := math.Inf(1), 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			if p.Y > 0 {
				lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
			}
		}
	}
	return hi > 10*lo
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

// Series is one implementation's points.
type Series struct {
	Impl   string
	Color  string
	Points []Pt
}

// Pt is a point with an optional interval (Lo == Hi == 0 means none).
type Pt struct{ X, Y, Lo, Hi float64 }

type axis struct {
	label string
	log   bool
	min   float64
	max   float64
	fmt   func(float64) string
	ticks []float64 // fixed ticks; nil for automatic
}

const (
	cw, ch           = 640.0, 300.0
	padL, padR, padT = 70.0, 16.0, 16.0
	padB             = 44.0
)

func (a *axis) fit(vals []float64) {
	a.min, a.max = math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if a.log && v <= 0 {
			continue
		}
		a.min, a.max = math.Min(a.min, v), math.Max(a.max, v)
	}
	if math.IsInf(a.min, 1) {
		a.min, a.max = 1, 10
	}
	if a.log {
		a.min = math.Pow(10, math.Floor(math.Log10(a.min)))
		a.max = math.Pow(10, math.Ceil(math.Log10(a.max)))
		if a.min == a.max {
			a.max *= 10
		}
		return
	}
	if a.min > 0 {
		a.min = 0
	}
	if a.max <= a.min {
		a.max = a.min + 1
	}
	a.max *= 1.08
}

func (a *axis) pos(v, lo, hi float64) float64 {
	var t float64
	if a.log {
		if v <= 0 {
			v = a.min
		}
		t = (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	} else {
		t = (v - a.min) / (a.max - a.min)
	}
	return lo + t*(hi-lo)
}

func (a *axis) tickValues() []float64 {
	if a.ticks != nil {
		return a.ticks
	}
	var out []float64
	if a.log {
		for v := a.min; v <= a.max*1.0001; v *= 10 {
			out = append(out, v)
		}
		return out
	}
	step := roundSig((a.max-a.min)/5, 1)
	if step <= 0 {
		step = 1
	}
	for v := math.Ceil(a.min/step) * step; v <= a.max; v += step {
		out = append(out, v)
	}
	return out
}

func esc(s string) string { return html.EscapeString(s) }

// lineChart draws series on x and y axes, with interval bars where given,
// and extra marks drawn by extra (in plot coordinates).
func lineChart(x, y axis, series []Series, extra func(px, py func(float64) float64) string) template.HTML {
	var xs, ys []float64
	for _, s := range series {
		for _, p := range s.Points {
			xs = append(xs, p.X)
			ys = append(ys, p.Y, p.Lo, p.Hi)
		}
	}
	if x.ticks == nil {
		x.fit(xs)
	}
	ys = nonzero(ys)
	y.fit(ys)
	px := func(v float64) float64 { return x.pos(v, padL, cw-padR) }
	py := func(v float64) float64 { return y.pos(v, ch-padB, padT) }
	var b strings.Builder
	frame(&b, x, y, px, py)
	var marks [][2]float64 // where the data is drawn, for the legend to avoid
	for _, s := range series {
		fmt.Fprintf(&b, `<g class="series" data-impl="%s" stroke="%s" fill="%s">`, esc(s.Impl), s.Color, s.Color)
		var d []string
		for _, p := range s.Points {
			if y.log && p.Y <= 0 {
				continue
			}
			marks = append(marks, [2]float64{px(p.X), py(p.Y)})
			d = append(d, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
			if p.Hi > 0 && p.Hi != p.Lo {
				fmt.Fprintf(&b, `<line class="interval" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke-width="1.5"/>`, px(p.X), px(p.X), py(math.Max(p.Lo, y.min)), py(p.Hi))
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3"><title>%s: %s</title></circle>`, px(p.X), py(p.Y), esc(s.Impl), esc(y.fmt(p.Y)))
		}
		if len(d) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke-width="2" points="%s"/>`, strings.Join(d, " "))
		}
		b.WriteString(`</g>`)
	}
	if extra != nil {
		b.WriteString(extra(px, py))
	}
	legend(&b, series, marks)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func nonzero(v []float64) []float64 {
	var out []float64
	for _, x := range v {
		if x > 0 {
			out = append(out, x)
		}
	}
	return out
}

func frame(b *strings.Builder, x, y axis, px, py func(float64) float64) {
	fmt.Fprintf(b, `<svg viewBox="0 0 %.0f %.0f" role="img" class="chart">`, cw, ch)
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" class="plot"/>`, padL, padT, cw-padL-padR, ch-padT-padB)
	for _, t := range y.tickValues() {
		fmt.Fprintf(b, `<line class="grid" x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f"/><text class="tick" x="%.0f" y="%.1f" text-anchor="end">%s</text>`,
			padL, cw-padR, py(t), py(t), padL-6, py(t)+4, esc(y.fmt(t)))
	}
	for _, t := range x.tickValues() {
		fmt.Fprintf(b, `<line class="grid" y1="%.0f" y2="%.0f" x1="%.1f" x2="%.1f"/><text class="tick" x="%.1f" y="%.0f" text-anchor="middle">%s</text>`,
			padT, ch-padB, px(t), px(t), px(t), ch-padB+16, esc(x.fmt(t)))
	}
	fmt.Fprintf(b, `<text class="label" x="%.0f" y="%.0f" text-anchor="middle">%s</text>`, padL+(cw-padL-padR)/2, ch-6, esc(x.label))
	fmt.Fprintf(b, `<text class="label" transform="translate(14 %.0f) rotate(-90)" text-anchor="middle">%s</text>`, padT+(ch-padT-padB)/2, esc(y.label))
}

// legend draws the series' names inside the plot, in the corner where the
// fewest data marks fall (the top right on a tie), on a light box so that
// a line passing under it stays readable.
func legend(b *strings.Builder, series []Series, marks [][2]float64) {
	if len(series) == 0 {
		return
	}
	longest := 0
	for _, s := range series {
		longest = max(longest, len([]rune(s.Impl)))
	}
	w, h := 30+6.2*float64(longest), 8+17*float64(len(series))
	left, right := padL+6, cw-padR-6-w
	top, bottom := padT+6, ch-padB-6-h
	corners := [][2]float64{{right, top}, {left, top}, {right, bottom}, {left, bottom}}
	best, fewest := corners[0], -1
	for _, c := range corners {
		n := 0
		for _, m := range marks {
			if m[0] >= c[0]-4 && m[0] <= c[0]+w+4 && m[1] >= c[1]-4 && m[1] <= c[1]+h+4 {
				n++
			}
		}
		if fewest < 0 || n < fewest {
			best, fewest = c, n
		}
	}
	fmt.Fprintf(b, `<g class="legend-box"><rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" class="legend-bg"/>`, best[0], best[1], w, h)
	for i, s := range series {
		ly := best[1] + 18 + float64(i)*17
		fmt.Fprintf(b, `<g data-impl="%s"><rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text class="legend" x="%.0f" y="%.0f">%s</text></g>`,
			esc(s.Impl), best[0]+8, ly-10, s.Color, best[0]+26, ly, esc(s.Impl))
	}
	b.WriteString(`</g>`)
}

func barChart(cats []string, series []Series, y axis) template.HTML {
	var ys []float64
	for _, s := range series {
		for _, p := range s.Points {
			ys = append(ys, p.Y, p.Hi)
		}
	}
	if y.log {
		ys = nonzero(ys)
	}
	y.fit(ys)
	py := func(v float64) float64 { return y.pos(v, ch-padB, padT) }
	x := axis{label: "", fmt: func(float64) string { return "" }, ticks: []float64{}}
	var b strings.Builder
	frame(&b, x, y, func(float64) float64 { return 0 }, py)
	groupW := (cw - padL - padR) / float64(max(len(cats), 1))
	barW := groupW * 0.8 / float64(max(len(series), 1))
	for ci, c := range cats {
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, padL+groupW*(float64(ci)+0.5), ch-padB+16, esc(c))
	}
	var marks [][2]float64
	for si, s := range series {
		fmt.Fprintf(&b, `<g class="series" data-impl="%s" fill="%s" stroke="%s">`, esc(s.Impl), s.Color, s.Color)
		for _, p := range s.Points {
			ci := int(p.X)
			x0 := padL + groupW*float64(ci) + groupW*0.1 + barW*float64(si)
			base := py(y.min)
			if !y.log {
				base = py(0)
			}
			top := py(math.Max(p.Y, y.min))
			for yy := top; yy <= base; yy += 8 { // a bar fills its column: mark it down to the base
				marks = append(marks, [2]float64{x0 + barW/2, yy})
			}
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" stroke="none"><title>%s · %s: %s</title></rect>`,
				x0, top, math.Max(barW-1, 1), math.Max(base-top, 0.5), esc(s.Impl), esc(cats[ci]), esc(y.fmt(p.Y)))
			if p.Hi > 0 && p.Hi != p.Lo {
				fmt.Fprintf(&b, `<line class="interval" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#333"/>`, x0+barW/2, x0+barW/2, py(math.Max(p.Lo, y.min)), py(p.Hi))
			}
		}
		b.WriteString(`</g>`)
	}
	legend(&b, series, marks)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func fmtCount(v float64) string  { return results.Count(v) }
func fmtMicros(v float64) string { return results.Micros(v) }
func fmtBytes(v float64) string  { return results.Bytes(v) }
func fmtCores(v float64) string  { return fmt.Sprintf("%.2f", v) }

// spectrumQuantiles are where a latency spectrum is read.
var spectrumQuantiles = []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// nines maps a percentile to the log axis of a spectrum: 90% → 1, 99% → 2.
// The maximum (q = 100) is drawn at 6, one step past 99.999%.
func nines(q float64) float64 { return -math.Log10(1 - math.Min(q, 99.9999)/100) }

func spectrum(f *results.File, m *Model, sc lab.Scenario, step string, corrected bool) (Chart, bool) {
	var ss []Series
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
		s := Series{Impl: impl.Name, Color: m.color(impl.Name)}
		for _, q := range spectrumQuantiles {
			s.Points = append(s.Points, Pt{X: nines(q), Y: float64(h.ValueAtQuantile(q))})
		}
		ss = append(ss, s)
		names = append(names, impl.Name)
	}
	if len(ss) == 0 {
		return Chart{}, false
	}
	x := axis{label: "percentile", ticks: []float64{0, 1, 2, 3, 4, 5, 6}, min: 0, max: 6, fmt: func(v float64) string {
		return map[float64]string{0: "0%", 1: "90%", 2: "99%", 3: "99.9%", 4: "99.99%", 5: "99.999%", 6: "max"}[v]
	}}
	y := axis{label: "latency", log: true, fmt: fmtMicros}
	what := "round-trip latency"
	if corrected {
		what = "latency from each line's intended send time"
	}
	return Chart{
		Title:  fmt.Sprintf("%s at %s: latency spectrum", sc.Name, step),
		Hint:   "Each curve is one implementation's " + what + " over all trials, read at every percentile; lower is better, and the right end is the tail a user meets once in ten thousand lines. Both axes are logarithmic.",
		SVG:    lineChart(x, y, ss, nil),
		Series: names,
	}.withData(x, y, ss, func(v float64) string {
		for _, q := range spectrumQuantiles {
			if nines(q) == v {
				return strconv.FormatFloat(q, 'g', -1, 64) + "%"
			}
		}
		return x.fmt(v)
	}), true
}

// charts picks the charts a scenario's shape calls for.
func charts(f *results.File, sc lab.Scenario, m *Model) []Chart {
	var out []Chart
	if len(sc.Steps) == 0 {
		return nil
	}
	loop := sc.Steps[0].Loop
	for _, st := range sc.Steps {
		if st.Fault.Timed() {
			out = append(out, faultCharts(f, sc, st, m)...)
		}
	}
	// Throughput against connections, for a sweep.
	if loop == lab.Closed && len(sc.Steps) > 1 && sc.Steps[0].Connections != sc.Steps[1].Connections {
		ss, names := stepSeries(f, sc, m, func(x *results.Step) (float64, lab.Stat) {
			return float64(x.Def.Connections), x.Summary.Throughput
		})
		hint := "Median lines per second over the trials (bars: the range of the trials) at each number of connections; higher is better. The connections axis is logarithmic."
		var extra func(px, py func(float64) float64) string
		if sc.Mode == "fetch" && sc.Upstream != nil && sc.Upstream.Latency > 0 {
			lat := sc.Upstream.Latency.D().Seconds()
			hint += " The dashed line is the ideal, connections ÷ upstream latency."
			extra = func(px, py func(float64) float64) string {
				var pts []string
				for _, st := range sc.Steps {
					c := float64(st.For(f.Profile).Connections)
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(c), py(c/lat)))
				}
				return `<polyline class="ideal" fill="none" points="` + strings.Join(pts, " ") + `"/>`
			}
		}
		if len(ss) > 0 {
			x, y := axis{label: "connections", log: true, fmt: fmtCount}, axis{label: "lines per second", log: spansDecades(ss), fmt: fmtCount}
			if y.log {
				hint += " The rates span more than a decade, so the lines-per-second axis is logarithmic too."
			}
			out = append(out, Chart{Title: sc.Name + ": throughput against connections", Hint: hint, Series: names,
				SVG: lineChart(x, y, ss, extra)}.withData(x, y, ss, nil))
		}
	}
	// Open loop: p99 against offered rate, knees marked.
	if loop == lab.Open {
		ss, names := stepSeries(f, sc, m, func(x *results.Step) (float64, lab.Stat) {
			return float64(x.Def.Rate), x.Summary.P99
		})
		bound := float64(sc.LatencyBound.D().Microseconds())
		extra := func(px, py func(float64) float64) string {
			var b strings.Builder
			fmt.Fprintf(&b, `<line class="bound" x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f"/><text class="tick" x="%.0f" y="%.1f">p99 bound %s</text>`,
				padL, cw-padR, py(bound), py(bound), padL+4, py(bound)-4, esc(results.Micros(bound)))
			for _, k := range f.Knees {
				if k.Scenario == sc.Name && k.Rate > 0 {
					if x := find(f, k.Impl, sc.Name, k.Step); x != nil {
						fmt.Fprintf(&b, `<circle class="knee" data-impl="%s" cx="%.1f" cy="%.1f" r="7" fill="none" stroke="%s" stroke-width="2"><title>knee of %s: %s lines/s</title></circle>`,
							esc(k.Impl), px(k.Rate), py(x.Summary.P99.Center), m.color(k.Impl), esc(k.Impl), esc(results.Count(k.Rate)))
					}
				}
			}
			return b.String()
		}
		if len(ss) > 0 {
			x, y := axis{label: "offered lines per second", fmt: fmtCount}, axis{label: "p99 latency (µs)", log: true, fmt: fmtMicros}
			out = append(out, Chart{Title: sc.Name + ": p99 latency against offered rate", Series: names,
				Hint: "Median p99, corrected for coordinated omission, at each offered rate; lower is better. A ring marks each implementation's knee: the highest rate whose p99 stays under the dashed bound with every line answered. The latency axis is logarithmic.",
				SVG:  lineChart(x, y, ss, extra)}.withData(x, y, ss, nil))
		}
	}
	// A latency spectrum for the step the scenario is about.
	switch loop {
	case lab.Closed, lab.Churn:
		step := sc.Steps[len(sc.Steps)-1].Name
		if len(sc.Steps) > 2 {
			step = sc.Steps[len(sc.Steps)-2].Name // a sweep's busiest step is often driver-bound; show the one before
		}
		if c, ok := spectrum(f, m, sc, step, false); ok {
			out = append(out, c)
		}
		if sc.Mode == "fetch" && len(sc.Steps) == 2 {
			if c, ok := spectrum(f, m, sc, sc.Steps[0].Name, false); ok {
				out = append(out, c)
			}
		}
	case lab.Open:
		for _, st := range sc.Steps[:min(2, len(sc.Steps))] {
			if c, ok := spectrum(f, m, sc, st.Name, true); ok {
				out = append(out, c)
			}
		}
	case lab.Idle:
		out = append(out, idleCharts(f, sc, m)...)
	}
	if c, ok := cpuChart(f, sc, m); ok {
		out = append(out, c)
	}
	return out
}

// idleCharts: memory and threads against connections, from every echo
// closed-loop step and the idle step, per implementation.
func idleCharts(f *results.File, sc lab.Scenario, m *Model) []Chart {
	var mem, thr []Series
	var names []string
	for _, impl := range f.Implementations {
		ms := Series{Impl: impl.Name, Color: m.color(impl.Name)}
		ts := ms
		byConns := map[int][2]float64{}
		for _, x := range f.Steps {
			if x.Impl != impl.Name || (x.Def.Loop != lab.Closed && x.Def.Loop != lab.Idle) || x.Def.Depth > 1 || modeOf(f, x.Scenario) != "echo" {
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
			ms.Points = append(ms.Points, Pt{X: float64(c), Y: byConns[c][0]})
			ts.Points = append(ts.Points, Pt{X: float64(c), Y: byConns[c][1]})
		}
		if len(cs) > 0 {
			mem, thr = append(mem, ms), append(thr, ts)
			names = append(names, impl.Name)
		}
	}
	if len(mem) == 0 {
		return nil
	}
	conns := axis{label: "open connections", log: true, fmt: fmtCount}
	memY, thrY := axis{label: "working set (bytes)", log: true, fmt: fmtBytes}, axis{label: "threads", log: true, fmt: fmtCount}
	return []Chart{
		Chart{Title: "memory against connections", Series: names,
			Hint: "The server container's working set (memory in use, less file cache) at each number of open connections, from the echo steps and the idle step; lower is better. Both axes are logarithmic.",
			SVG:  lineChart(conns, memY, mem, nil)}.withData(conns, memY, mem, nil),
		Chart{Title: "threads against connections", Series: names,
			Hint: "Threads (tasks) in the server container at each number of open connections; a thread per connection shows as a diagonal. Both axes are logarithmic.",
			SVG:  lineChart(conns, thrY, thr, nil)}.withData(conns, thrY, thr, nil),
	}
}

func modeOf(f *results.File, scen string) string {
	for _, s := range f.Scenarios {
		if s.Name == scen {
			return string(s.Mode)
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
	ss, names := stepSeries(f, sc, m, func(x *results.Step) (float64, lab.Stat) {
		return index[x.Step], x.Summary.ServerCores
	})
	if len(ss) == 0 {
		return Chart{}, false
	}
	y := axis{label: "server cores busy", fmt: fmtCores}
	return Chart{Title: sc.Name + ": server CPU per step", Series: names,
		Hint: "CPU seconds the server container used per second of each step, from its cgroup (1.00 is its whole core). Read it beside throughput: the same lines for less CPU is the more efficient model.",
		SVG:  barChart(cats, ss, y)}.withData(axis{label: "step"}, y, ss, func(v float64) string { return cats[int(v)] }), true
}

// stepSeries makes a series per implementation with a point per step of
// sc, placed by point (x and the stat drawn with its range).
func stepSeries(f *results.File, sc lab.Scenario, m *Model, point func(*results.Step) (float64, lab.Stat)) ([]Series, []string) {
	var ss []Series
	var names []string
	for _, impl := range f.Implementations {
		s := Series{Impl: impl.Name, Color: m.color(impl.Name)}
		for _, st := range sc.Steps {
			if x := find(f, impl.Name, sc.Name, st.Name); x != nil {
				px, y := point(x)
				s.Points = append(s.Points, Pt{X: px, Y: y.Center, Lo: y.Lo, Hi: y.Hi})
			}
		}
		if len(s.Points) > 0 {
			ss = append(ss, s)
			names = append(names, impl.Name)
		}
	}
	return ss, names
}
