package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// CompareOptions says what a comparison may cross.
type CompareOptions struct {
	Alpha float64 // significance level; 0 means analysis.Alpha
	// AnyProfile compares runs of different profiles, whose windows and
	// trial counts differ.
	AnyProfile bool
	// AnyImages compares runs whose servers' images differ: what a
	// maintainer does on purpose to see what a new runtime changed.
	AnyImages bool
}

// NotComparableError says why two runs are not compared unless asked.
type NotComparableError struct {
	Reasons []string
	Flags   []string // the flags that would compare them anyway
}

func (e *NotComparableError) Error() string {
	return "runs are not comparable: " + strings.Join(e.Reasons, "; ")
}

// Hint is the command line that compares them anyway.
func (e *NotComparableError) Hint() string {
	return "lab compare " + strings.Join(e.Flags, " ") + " <run A> <run B>, if that is what you mean"
}

// Comparable checks that runs a and b measured the same thing the same
// way: the same profile and the same image for every server in both.
func Comparable(a, b *results.File, opts CompareOptions) error {
	e := &NotComparableError{}
	if a.Profile != b.Profile && !opts.AnyProfile {
		e.Reasons = append(e.Reasons, fmt.Sprintf("profile %s against %s (windows and trials differ)", a.Profile, b.Profile))
		e.Flags = append(e.Flags, "--any-profile")
	}
	if !opts.AnyImages {
		var differ []string
		for impl, ia := range a.Environment.Images {
			if ib, ok := b.Environment.Images[impl]; ok && ia.ID != "" && ib.ID != "" && ia.ID != ib.ID {
				differ = append(differ, impl)
			}
		}
		slices.Sort(differ)
		if len(differ) > 0 {
			e.Reasons = append(e.Reasons, fmt.Sprintf("the images of %s differ (a changed server or runtime, not drift)", strings.Join(differ, ", ")))
			e.Flags = append(e.Flags, "--any-images")
		}
	}
	if len(e.Reasons) > 0 {
		return e
	}
	return nil
}

// Delta is one figure of one implementation present in both runs.
type Delta struct {
	Impl, Scenario, Step string
	Figure               string // what is compared, in words
	A, B                 string // medians with the range of their trials
	Change               string // "-20.3%", or "~" for no change the trials can show
	P                    string // the rank test's p-value and sample sizes
	Ratio                string // the implementation against the step's reference, in A and in B
	Class                string // delta-up, delta-down, delta-same, delta-few
	Verdict              analysis.Verdict
}

// CompareModel is the comparison of two runs.
type CompareModel struct {
	A, B       string // run ids
	Profile    string
	Alpha      float64
	Need       int // trials per run the rank test needs to call any change
	TrialsA    int // the most trials of any step in A
	TrialsB    int
	EnvA       []KV
	EnvB       []KV
	Deltas     []Delta
	Only       []string // steps in one run only
	Changed    int      // deltas beyond the noise
	Untestable int      // deltas with too few trials to test
}

// BuildCompare compares runs a and b figure by figure: every step's own
// figure, every knee, and each scenario's headline where it is another
// figure (lines per CPU-second, p50, slowdown). Rates are scaled from
// run B's speed to run A's, each the median of the run's canaries (a
// faster machine changes every rate alike; see analysis.AtSpeed); lines
// per CPU-second, latencies and memory are compared as measured. Each
// figure is also given as a ratio to the step's reference implementation
// (the floor server when it ran the step, else A's fastest), which
// survives drift by construction.
// A change is called only when the Mann–Whitney U test over the trials
// says so at level alpha (analysis.Compare); benchstat's "~" otherwise.
func BuildCompare(a, b *results.File, alpha float64) *CompareModel {
	if alpha <= 0 {
		alpha = analysis.Alpha
	}
	m := &CompareModel{A: a.RunID, B: b.RunID, Profile: string(a.Profile), Alpha: alpha, Need: analysis.TrialsNeeded(alpha),
		EnvA: environment(a), EnvB: environment(b)}
	if a.Profile != b.Profile {
		m.Profile = string(a.Profile) + " against " + string(b.Profile)
	}
	refSpeed := 0.0 // the machine's speed in run A, to scale rates to
	if a.Canary != nil {
		refSpeed = a.Canary.Median
	}
	seen := map[string]bool{}
	for _, sc := range a.Scenarios {
		for _, st := range sc.Steps {
			for _, impl := range a.Implementations {
				sa := find(a, impl.Name, sc.Name, st.Name)
				if sa == nil {
					continue
				}
				key := impl.Name + " " + sc.Name + "/" + st.Name
				seen[key] = true
				sb := find(b, impl.Name, sc.Name, st.Name)
				if sb == nil {
					m.Only = append(m.Only, key+" (only in "+a.RunID+")")
					continue
				}
				m.TrialsA, m.TrialsB = max(m.TrialsA, len(sa.Trials)), max(m.TrialsB, len(sb.Trials))
				fig := stepFigure(sa.Def.Loop)
				c := analysis.Compare(fig.sample(a, sa.Trials, refSpeed), fig.sample(b, sb.Trials, refSpeed), fig.higher, alpha)
				d := newDelta(impl.Name, sc.Name, st.Name, fig.name, c, fig.unit)
				if ref := reference(a, b, sc.Name, st.Name, fig); ref != "" && ref != impl.Name {
					ra := analysis.SpreadOf(analysis.Ratios(fig.byTrial(sa.Trials), fig.byTrial(find(a, ref, sc.Name, st.Name).Trials)))
					rb := analysis.SpreadOf(analysis.Ratios(fig.byTrial(sb.Trials), fig.byTrial(find(b, ref, sc.Name, st.Name).Trials)))
					if ra.N > 0 && rb.N > 0 {
						d.Ratio = fmt.Sprintf("%.2f× → %.2f× %s", ra.Center, rb.Center, ref)
					}
				}
				m.add(d)
			}
		}
		// The headline, where it is not already a step's figure above.
		if hf, ok := headlineFigure(sc); ok {
			for _, impl := range a.Implementations {
				sa, sb := find(a, impl.Name, sc.Name, sc.Headline.Step), find(b, impl.Name, sc.Name, sc.Headline.Step)
				if sa == nil || sb == nil {
					continue
				}
				va, vb := hf.sample(a, sa), hf.sample(b, sb)
				if len(va) == 0 || len(vb) == 0 {
					continue
				}
				c := analysis.Compare(va, vb, hf.higher, alpha)
				m.add(newDelta(impl.Name, sc.Name, sc.Headline.Step+" (headline)", hf.name, c, hf.unit))
			}
		}
		for _, impl := range a.Implementations {
			ka, kb := kneeOf(a, impl.Name, sc.Name), kneeOf(b, impl.Name, sc.Name)
			if ka == nil || kb == nil {
				continue
			}
			// A knee is a rung of the scenario's ladder, as measured:
			// scaling it by the canary would give a rate nobody ran.
			c := analysis.Compare(ka.Trials, kb.Trials, true, alpha)
			m.add(newDelta(impl.Name, sc.Name, "knee", fmt.Sprintf("knee (p99 under %s)", sc.LatencyBound), c, perSecond))
		}
	}
	for _, sb := range b.Steps {
		if key := sb.Impl + " " + sb.Scenario + "/" + sb.Step; !seen[key] {
			m.Only = append(m.Only, key+" (only in "+b.RunID+")")
		}
	}
	return m
}

// newDelta puts a compared figure in words, in its unit.
func newDelta(impl, scen, step, figure string, c analysis.Change, unit func(float64) string) Delta {
	d := Delta{Impl: impl, Scenario: scen, Step: step, Figure: figure, A: spreadText(c.A, unit), B: spreadText(c.B, unit),
		Verdict: c.Verdict, P: fmt.Sprintf("p=%.3f n=%d+%d", c.P, c.A.N, c.B.N)}
	d.Change, d.Class = changeText(c)
	return d
}

// Worse names the figures that got worse beyond the noise.
func (m *CompareModel) Worse() []string {
	var out []string
	for _, d := range m.Deltas {
		if d.Verdict == analysis.Worse {
			out = append(out, fmt.Sprintf("%s %s/%s %s %s", d.Impl, d.Scenario, d.Step, d.Figure, d.Change))
		}
	}
	return out
}

func (m *CompareModel) add(d Delta) {
	switch d.Verdict {
	case analysis.Better, analysis.Worse:
		m.Changed++
	case analysis.TooFew:
		m.Untestable++
	}
	m.Deltas = append(m.Deltas, d)
}

// stepFig is the figure a step is compared by.
type stepFig struct {
	name   string
	higher bool
	rate   bool // scaled by the canary
	value  func(lab.Trial) float64
	unit   func(float64) string
}

func stepFigure(loop lab.Loop) stepFig {
	fig, qualifier := lab.FigThroughput, ", at A's speed"
	switch loop {
	case lab.Open:
		fig, qualifier = lab.FigP99, " (corrected)"
	case lab.Idle:
		fig, qualifier = lab.FigMemPerConn, ""
	}
	info := fig.Info()
	return stepFig{name: info.Label() + qualifier, higher: info.HigherIsBetter, rate: fig == lab.FigThroughput,
		value: func(t lab.Trial) float64 { v, _ := analysis.TrialFigure(fig, t); return v },
		unit:  func(v float64) string { return valueText(info.Unit, v) }}
}

// headFig is a scenario's headline figure where it is not a step's own
// figure (throughput, knee and memory per connection are compared above).
type headFig struct {
	name   string
	higher bool
	unit   func(float64) string
	sample func(f *results.File, st *results.StepResult) analysis.Sample
}

// headlineFigure is how lab compare reads a scenario's headline, as the
// registry describes it: each trial's own figure, or each trial against
// the first step's. Lines per CPU-second is compared as measured: CPU time
// already holds much of the machine's speed, and the canary did not follow
// it from trial to trial (docs/FINDINGS.md), so scaling by it only added
// its noise.
func headlineFigure(sc lab.Scenario) (headFig, bool) {
	h := sc.Headline
	if h == nil || h.Figure == lab.FigThroughput || h.Figure == lab.FigMemPerConn {
		return headFig{}, false
	}
	info := h.Figure.Info()
	hf := headFig{name: info.ShortAt(h.Step), higher: info.HigherIsBetter, unit: func(v float64) string { return bareText(info.Unit, v) }}
	switch info.Reading {
	case lab.Ladder:
		return headFig{}, false
	case lab.AgainstFirst:
		first := sc.Steps[0].Name
		hf.sample = func(f *results.File, st *results.StepResult) analysis.Sample {
			base := find(f, st.Impl, st.Scenario, first)
			if base == nil {
				return nil
			}
			return analysis.Against(h.Figure, st.Trials, base.Trials)
		}
	default:
		hf.sample = func(_ *results.File, st *results.StepResult) analysis.Sample {
			var v analysis.Sample
			for _, t := range st.Trials {
				if x, ok := analysis.TrialFigure(h.Figure, t); ok {
					v = append(v, x)
				}
			}
			return v
		}
	}
	return hf, true
}

func perSecond(v float64) string { return units.Count(v) + "/s" }

func spreadText(s analysis.Spread, unit func(float64) string) string {
	if s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%s [%s–%s]", unit(s.Center), unit(s.Lo), unit(s.Hi))
}

// sample is the figure in each trial of run r, rates scaled from r's
// speed to refSpeed.
func (f stepFig) sample(r *results.File, ts []lab.Trial, refSpeed float64) analysis.Sample {
	var v []float64
	for _, t := range ts {
		v = append(v, f.value(t))
	}
	if !f.rate {
		return v
	}
	return analysis.AtSpeed(v, runSpeed(r), refSpeed)
}

// runSpeed is how fast the machine was over a run: the median of its
// canaries; 0 when it had none.
func runSpeed(r *results.File) float64 {
	if r.Canary == nil {
		return 0
	}
	return r.Canary.Median
}

// byTrial is the figure by trial number, unscaled: a ratio between two
// implementations of the same round needs no canary.
func (f stepFig) byTrial(ts []lab.Trial) map[int]float64 {
	out := map[int]float64{}
	for _, t := range ts {
		out[t.Trial] = f.value(t)
	}
	return out
}

// reference is the implementation a step's ratios are taken against: the
// floor server when it ran the step in both runs, else the fastest in A
// (the lowest, for a figure where less is better) of those in both.
func reference(a, b *results.File, scen, step string, f stepFig) string {
	best, bestV := "", math.NaN()
	for _, impl := range a.Implementations {
		sa, sb := find(a, impl.Name, scen, step), find(b, impl.Name, scen, step)
		if sa == nil || sb == nil {
			continue
		}
		if impl.Role == lab.RoleFloor {
			return impl.Name
		}
		v := analysis.SpreadOf(f.sample(a, sa.Trials, 0)).Center
		if best == "" || (f.higher && v > bestV) || (!f.higher && v < bestV) {
			best, bestV = impl.Name, v
		}
	}
	return best
}

func changeText(c analysis.Change) (text, class string) {
	delta := "—"
	if !math.IsNaN(c.Delta) && !math.IsInf(c.Delta, 0) {
		delta = fmt.Sprintf("%+.1f%%", 100*c.Delta)
	}
	switch c.Verdict {
	case analysis.Better:
		return delta, "delta-up"
	case analysis.Worse:
		return delta, "delta-down"
	case analysis.TooFew:
		return "? (" + delta + ")", "delta-few"
	}
	return "~ (" + delta + ")", "delta-same"
}

// Summary is the comparison's first lines: what was compared and how, and
// what it found.
func (m *CompareModel) Summary() []string {
	out := []string{
		fmt.Sprintf("run %s against run %s, %s profile; rates scaled by the ratio of the runs' median canaries to run %s's machine speed", m.A, m.B, m.Profile, m.A),
		fmt.Sprintf("a change is called when the Mann–Whitney U test over the trials gives p < %.2g; \"~\" is no change the trials can show", m.Alpha),
	}
	found := fmt.Sprintf("%d of %d figures changed beyond the noise", m.Changed, len(m.Deltas))
	if m.Untestable > 0 {
		found += fmt.Sprintf("; %d could not be tested (\"?\"): their steps ran fewer than the %d trials a run the rank test needs to reach p < %.2g (steps that decide nothing, ladders, faults; the thorough profile runs 5 everywhere)",
			m.Untestable, m.Need, m.Alpha)
	}
	return append(out, found)
}

// WriteText writes the comparison as a terminal table, benchstat's way.
func (m *CompareModel) WriteText(w io.Writer) error {
	for _, l := range m.Summary() {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario/step\timpl\tfigure\t%s\t%s\tchange\ttest\tagainst the reference\n", m.A, m.B)
	for _, d := range m.Deltas {
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Scenario, d.Step, d.Impl, d.Figure, d.A, d.B, d.Change, d.P, d.Ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range m.Only {
		fmt.Fprintln(w, "in one run only:", o)
	}
	return nil
}

var comparePage = template.Must(template.New("compare").Funcs(funcs).Parse(compareHTML))

// WriteCompare writes the comparison m to path as HTML.
func WriteCompare(path string, m *CompareModel) error {
	var buf bytes.Buffer
	if err := comparePage.Execute(&buf, m); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

const compareHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>linelab: {{.A}} against {{.B}}</title><style>{{css}}</style></head>
<body><main>
<h1>linelab: run {{.A}} against run {{.B}}</h1>
{{range .Summary}}<p class="sub">{{.}}.</p>{{end}}
<table><tr><th>scenario/step</th><th>implementation</th><th>figure</th><th>{{.A}}</th><th>{{.B}}</th><th>change</th><th>test</th><th>against the reference</th></tr>
{{range .Deltas}}<tr data-impl="{{.Impl}}" class="{{.Class}}"><td>{{.Scenario}}/{{.Step}}</td><td>{{.Impl}}</td><td>{{.Figure}}</td><td class="num">{{.A}}</td><td class="num">{{.B}}</td><td class="num {{.Class}}">{{.Change}}</td><td class="num muted">{{.P}}</td><td class="num">{{.Ratio}}</td></tr>
{{end}}</table>
<p class="muted">Medians with the range of their trials. "~": no change the trials can show; "?": too few trials for the test to call any change. A ratio is the implementation's figure over the reference's in the same round of trials, so it holds however the machine drifted.</p>
{{if .Only}}<h2>In one run only</h2><ul>{{range .Only}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Environments</h2>
<table><tr><th></th><th>{{.A}}</th><th>{{.B}}</th></tr>
{{range $i, $kv := .EnvA}}<tr><th>{{$kv.Key}}</th><td>{{$kv.Value}}</td><td>{{(index $.EnvB $i).Value}}</td></tr>{{end}}</table>
</main><script>{{js}}</script></body></html>
`
