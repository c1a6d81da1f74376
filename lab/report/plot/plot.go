// Package plot draws the report's charts as inline SVG: line charts with
// interval bars and bar charts, on linear or logarithmic axes, with a
// legend placed where it hides the fewest points. It knows nothing of the
// lab; the report says what to draw. The page loads nothing from the
// network, so no charting library fits (STYLE 16).
package plot

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// Series is one implementation's points.
type Series struct {
	Impl   string
	Color  string
	Points []Pt
}

// Pt is a point with an optional interval (Lo == Hi == 0 means none).
type Pt struct{ X, Y, Lo, Hi float64 }

// The drawing's size and the plot area's margins, in SVG units.
const (
	cw, ch           = 640.0, 300.0
	padL, padR, padT = 70.0, 16.0, 16.0
	padB             = 44.0
)

// SpansDecades reports whether the series' values differ by more than 10×,
// where a linear axis would flatten the small ones against zero.
func SpansDecades(ss []Series) bool {
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

// Axis is one axis of a chart: its label, scale and how a tick reads.
// Min and Max are fitted to the data unless Ticks are fixed.
type Axis struct {
	Label string
	Log   bool
	Min   float64
	Max   float64
	Fmt   func(float64) string
	Ticks []float64 // fixed ticks; nil for automatic
}

func (a *Axis) fit(vals []float64) {
	a.Min, a.Max = math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if a.Log && v <= 0 {
			continue
		}
		a.Min, a.Max = math.Min(a.Min, v), math.Max(a.Max, v)
	}
	if math.IsInf(a.Min, 1) {
		a.Min, a.Max = 1, 10
	}
	if a.Log {
		a.Min = math.Pow(10, math.Floor(math.Log10(a.Min)))
		a.Max = math.Pow(10, math.Ceil(math.Log10(a.Max)))
		if a.Min == a.Max {
			a.Max *= 10
		}
		return
	}
	if a.Min > 0 {
		a.Min = 0
	}
	if a.Max <= a.Min {
		a.Max = a.Min + 1
	}
	a.Max *= 1.08
}

func (a *Axis) pos(v, lo, hi float64) float64 {
	var t float64
	if a.Log {
		if v <= 0 {
			v = a.Min
		}
		t = (math.Log10(v) - math.Log10(a.Min)) / (math.Log10(a.Max) - math.Log10(a.Min))
	} else {
		t = (v - a.Min) / (a.Max - a.Min)
	}
	return lo + t*(hi-lo)
}

func (a *Axis) tickValues() []float64 {
	if a.Ticks != nil {
		return a.Ticks
	}
	var out []float64
	if a.Log {
		for v := a.Min; v <= a.Max*1.0001; v *= 10 {
			out = append(out, v)
		}
		return out
	}
	step := roundSig((a.Max-a.Min)/5, 1)
	if step <= 0 {
		step = 1
	}
	for v := math.Ceil(a.Min/step) * step; v <= a.Max; v += step {
		out = append(out, v)
	}
	return out
}

func esc(s string) string { return html.EscapeString(s) }

// Frame is where a chart draws: X and Y place a value of its axes, Left,
// Right, Top and Bottom bound its plot area; marks of the caller's own
// (an ideal, a bound, a fault's span) are drawn with it.
type Frame struct {
	X, Y                     func(float64) float64
	Left, Right, Top, Bottom float64
}

// Line draws series on x and y axes, with interval bars where given, and
// the marks extra draws in the chart's frame.
func Line(x, y Axis, series []Series, extra func(Frame) string) template.HTML {
	var xs, ys []float64
	for _, s := range series {
		for _, p := range s.Points {
			xs = append(xs, p.X)
			ys = append(ys, p.Y, p.Lo, p.Hi)
		}
	}
	if x.Ticks == nil {
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
			if y.Log && p.Y <= 0 {
				continue
			}
			marks = append(marks, [2]float64{px(p.X), py(p.Y)})
			d = append(d, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
			if p.Hi > 0 && p.Hi != p.Lo {
				fmt.Fprintf(&b, `<line class="interval" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke-width="1.5"/>`, px(p.X), px(p.X), py(math.Max(p.Lo, y.Min)), py(p.Hi))
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3"><title>%s: %s</title></circle>`, px(p.X), py(p.Y), esc(s.Impl), esc(y.Fmt(p.Y)))
		}
		if len(d) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke-width="2" points="%s"/>`, strings.Join(d, " "))
		}
		b.WriteString(`</g>`)
	}
	if extra != nil {
		b.WriteString(extra(Frame{X: px, Y: py, Left: padL, Right: cw - padR, Top: padT, Bottom: ch - padB}))
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

func frame(b *strings.Builder, x, y Axis, px, py func(float64) float64) {
	fmt.Fprintf(b, `<svg viewBox="0 0 %.0f %.0f" role="img" class="chart">`, cw, ch)
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" class="plot"/>`, padL, padT, cw-padL-padR, ch-padT-padB)
	for _, t := range y.tickValues() {
		fmt.Fprintf(b, `<line class="grid" x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f"/><text class="tick" x="%.0f" y="%.1f" text-anchor="end">%s</text>`,
			padL, cw-padR, py(t), py(t), padL-6, py(t)+4, esc(y.Fmt(t)))
	}
	for _, t := range x.tickValues() {
		fmt.Fprintf(b, `<line class="grid" y1="%.0f" y2="%.0f" x1="%.1f" x2="%.1f"/><text class="tick" x="%.1f" y="%.0f" text-anchor="middle">%s</text>`,
			padT, ch-padB, px(t), px(t), px(t), ch-padB+16, esc(x.Fmt(t)))
	}
	fmt.Fprintf(b, `<text class="label" x="%.0f" y="%.0f" text-anchor="middle">%s</text>`, padL+(cw-padL-padR)/2, ch-6, esc(x.Label))
	fmt.Fprintf(b, `<text class="label" transform="translate(14 %.0f) rotate(-90)" text-anchor="middle">%s</text>`, padT+(ch-padT-padB)/2, esc(y.Label))
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

// Bar draws series as grouped bars, one group per category (a point's X
// is its category's index), with interval bars where given.
func Bar(cats []string, series []Series, y Axis) template.HTML {
	var ys []float64
	for _, s := range series {
		for _, p := range s.Points {
			ys = append(ys, p.Y, p.Hi)
		}
	}
	if y.Log {
		ys = nonzero(ys)
	}
	y.fit(ys)
	py := func(v float64) float64 { return y.pos(v, ch-padB, padT) }
	x := Axis{Label: "", Fmt: func(float64) string { return "" }, Ticks: []float64{}}
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
			base := py(y.Min)
			if !y.Log {
				base = py(0)
			}
			top := py(math.Max(p.Y, y.Min))
			for yy := top; yy <= base; yy += 8 { // a bar fills its column: mark it down to the base
				marks = append(marks, [2]float64{x0 + barW/2, yy})
			}
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" stroke="none"><title>%s · %s: %s</title></rect>`,
				x0, top, math.Max(barW-1, 1), math.Max(base-top, 0.5), esc(s.Impl), esc(cats[ci]), esc(y.Fmt(p.Y)))
			if p.Hi > 0 && p.Hi != p.Lo {
				fmt.Fprintf(&b, `<line class="interval" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#333"/>`, x0+barW/2, x0+barW/2, py(math.Max(p.Lo, y.Min)), py(p.Hi))
			}
		}
		b.WriteString(`</g>`)
	}
	legend(&b, series, marks)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// roundSig keeps n significant figures, for axis ticks.
func roundSig(v float64, n int) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}
