package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
)

// Baseline is the implementation every ratio compares with: the demo's
// threaded server, the style the talk argued against.
const Baseline = "threads"

// Model is everything the page shows, computed from results.json alone. It
// holds no timestamps of its own, so golden tests can pin it.
type Model struct {
	Title       string
	RunID       string
	Profile     string
	Started     string
	Command     string
	Interrupted string
	Baseline    string
	// Banners are the run-wide facts a reader needs before any number:
	// a smoke-test profile, a machine that drifted.
	Banners   []string
	Headlines []Headline // the first screen: which model did best at what
	// TrialsNeeded is how many trials a side the rank test needs to call
	// any difference at level analysis.Alpha.
	TrialsNeeded int
	Claims       []ClaimView // the talk's claims, answered: below the headlines
	Matrix       Matrix      // the first screen, below the claims
	Releases     ReleaseView
	Impls        []ImplInfo
	Verdicts     []Verdict
	Warnings     []string // run-wide
	Scenarios    []ScenarioView
	Conformance  ConformanceMatrix
	Env          []KV
	Images       []ImageRow
	Calibration  string
	DriverCost   []KV // the driver's CPU per line against the server's, per loop
	Definitions  []Definition
}

// ImplInfo is one implementation with its colour and code.
type ImplInfo struct {
	Name, Language, Runtime, Model, Description string
	Color                                       string
	Sources                                     []SourceView
	Failed                                      string // why it left the run, if it did
}

// SourceView is a handler file with its lines of code.
type SourceView struct {
	Path  string
	Lang  string
	Lines int // lines of code: not blank, not only a comment
	Text  string
}

// Verdict is one scenario's outcome in plain words.
type Verdict struct {
	Scenario string
	Knee     bool     // the figure is a knee: every rate shown carries its range
	Decided  string   // which figure decided, and why
	Text     string   // who leads, by how much
	Ratios   []Ratio  // every implementation against Against
	Against  string   // the baseline, or the entry standing in for it where it failed
	Warnings []string // next to the numbers they touch
	// Sep is the ranking of the implementations whose figure decides, as
	// the rank test separates them.
	Sep Separation
	// Figure is the headline figure in a few words, for the first screen.
	Figure string
	// Unranked says, in a few words, which implementations had a figure
	// that could not decide and why ("12 more not ranked: …"); "" when
	// every one was ranked.
	Unranked string
}

// Headline is one scenario's answer on the first screen.
type Headline struct {
	Scenario, Figure string
	Chain            string // the ranking, shortened to one line
	Trials           string
	Unranked         string // those left out of the ranking, and why
}

// Ratio is one implementation's headline figure against the baseline's.
type Ratio struct {
	Impl        string
	Value       string // the figure, with unit
	Ratio       string // "2.4× (2.1–2.8)" or "—"
	Better      bool   // ahead of the baseline
	DriverBound bool
	Errors      int64
	// Why says where a CPU figure's CPU went, in words: "2.1 switches a
	// line, 64% of its CPU in the kernel".
	Why string
}

// ScenarioView is a scenario's section: description, charts, table.
type ScenarioView struct {
	Name, Mode, Description string
	Charts                  []Chart
	Rows                    []Row
	Faults                  []FaultRow // timed fault steps: recovery and what clients saw
	Hogs                    []HogRow   // hog steps: the heavy connection and what the others paid
	Skipped                 []string   // steps the run chose not to run, and why
	NotHere                 string     // why this machine could not run the scenario at all
}

// Row is one implementation × step of a scenario's table.
type Row struct {
	Impl, Step                        string
	Throughput, Range, P50, P99, P999 string
	LinesPerCPU, Cores, Memory        string
	OfFloor                           string // lines per CPU-second as a share of the floor server's
	Threads                           string
	Fairness                          string // closed loops: Jain's index (the slowest connection's share)
	Sched                             string // switches and run-queue wait per line, the kernel's share of the CPU
	Headroom                          string // server CPU per line ÷ the driver's
	Canary                            string // the machine's canary against the run's median
	Flags                             []string
}

// ConformanceMatrix is implementations × cases.
type ConformanceMatrix struct {
	Cases []string
	Rows  []ConformanceRow
}

// ConformanceRow is one implementation's cases.
type ConformanceRow struct {
	Impl  string
	Cells []Cell
}

// Cell is one case's verdict over the targets it ran against.
type Cell struct {
	State  string // pass, fail, skip, none
	Detail string // failure details, target by target
}

// KV is a labelled value.
type KV struct{ Key, Value string }

// ImageRow describes one image.
type ImageRow struct{ Impl, Ref, ID, Size, Runtimes string }

// Definition is a scenario file as the run used it.
type Definition struct{ Name, Text string }

// palette: Tableau 10, then its light half and four more, so that a run
// of every server on two releases (24 entries) repeats no colour.
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
	"#a0cbe8", "#ffbe7d", "#8cd17d", "#b6992d", "#f1ce63", "#499894", "#86bcb6", "#d37295", "#fabfd2", "#d4a6c8",
	"#79706e", "#d7b5a6", "#1f77b4", "#17becf"}

// baselineOf is the entry the verdicts' ratios compare with: Baseline, or
// with several releases, Baseline on the default release (else the first).
func baselineOf(f *results.File) string {
	var first string
	for _, impl := range f.Implementations {
		switch {
		case impl.Name == Baseline || impl.Name == Baseline+"@"+lab.DefaultRelease:
			return impl.Name
		case impl.Service() == Baseline && first == "":
			first = impl.Name
		}
	}
	if first != "" {
		return first
	}
	return Baseline
}

// Build makes the page's model from a run's results.
func Build(f *results.File) *Model {
	m := &Model{
		Title: "linelab report " + f.RunID, RunID: f.RunID, Profile: string(f.Profile),
		Started: f.Started.UTC().Format("2006-01-02 15:04 UTC"), Command: f.Command,
		Interrupted: f.Interrupted, Baseline: baselineOf(f),
	}
	failed := map[string]string{}
	for _, x := range f.Failures {
		if x.LeftOut {
			failed[x.Impl] = x.Message
		}
	}
	for i, impl := range f.Implementations {
		info := ImplInfo{Name: impl.Name, Language: impl.Language, Runtime: impl.Runtime, Model: impl.Model,
			Description: impl.Description, Color: palette[i%len(palette)], Failed: failed[impl.Name]}
		for _, s := range f.Sources {
			if s.Impl == impl.Name {
				info.Sources = append(info.Sources, SourceView{Path: s.Path, Lang: langOf(s.Path), Lines: linesOfCode(s.Path, s.Text), Text: s.Text})
			}
		}
		m.Impls = append(m.Impls, info)
	}
	m.Warnings = append(m.Warnings, f.Warnings...)
	if f.Interrupted != "" {
		m.Warnings = append(m.Warnings, "the run stopped early ("+f.Interrupted+"); what it gathered is shown")
	}
	if n := len(f.Resumed); n > 0 {
		var at []string
		for _, t := range f.Resumed {
			at = append(at, t.UTC().Format("2006-01-02 15:04 UTC"))
		}
		m.Warnings = append(m.Warnings, fmt.Sprintf("the run stopped and was resumed (%s): its trials were measured in %d sittings, so the machine may have moved between them; the canary's readings show whether it did",
			strings.Join(at, ", "), n+1))
	}
	if miss := f.Missing(); len(miss) > 0 {
		trials := 0
		var where []string
		for _, x := range miss {
			trials += x.Want - x.Have
			if len(where) < 6 {
				where = append(where, fmt.Sprintf("%s %s/%s (%d of %d)", x.Impl, x.Scenario, x.Step, x.Have, x.Want))
			}
		}
		if len(miss) > len(where) {
			where = append(where, fmt.Sprintf("and %d more", len(miss)-len(where)))
		}
		m.Warnings = append(m.Warnings, fmt.Sprintf("%d planned trials are missing, in %d steps: %s; the matrix marks the figures they would have made as missing",
			trials, len(miss), strings.Join(where, ", ")))
	}
	for _, x := range f.Failures {
		where := x.Impl
		if x.Scenario != "" {
			where += " in " + x.Scenario + "/" + x.Step
		}
		m.Warnings = append(m.Warnings, where+": "+x.Message)
	}
	m.Banners = banners(f)
	if c := f.Calibration; c != nil {
		m.Calibration = fmt.Sprintf("%s lines/s closed loop (100 connections), %s lines/s pipelined (50 × 16), against %s",
			results.Count(c.Closed), results.Count(c.Pipelined), c.Against)
		for _, k := range []struct{ key, label string }{
			{"closed", "closed loop, 100 connections"},
			{"pipelined", "pipelined, 50 × 16"},
			{"open", fmt.Sprintf("open loop at %s lines/s", results.Count(c.OpenRate))},
			{"paced", fmt.Sprintf("closed loop paced to %s lines/s, 50 connections", results.Count(c.OpenRate))},
		} {
			d, sv := c.DriverUS[k.key], c.ServerUS[k.key]
			if d <= 0 {
				continue
			}
			v := fmt.Sprintf("driver %.2f µs of CPU per line, %s %.2f µs: headroom %.2f×", d, c.Against, sv, sv/d)
			if b, ok := c.DriverCoreBusy[k.key]; ok && b >= 0 {
				v += fmt.Sprintf("; driver core %.0f%% busy", 100*b)
			}
			m.DriverCost = append(m.DriverCost, KV{k.label, v})
		}
		if ratio, paced, ok := analysis.OpenOverClosed(c.DriverUS); ok {
			v := fmt.Sprintf("the open loop costs the driver %.2f× what the closed loop does per line", ratio)
			if paced {
				v = fmt.Sprintf("the open loop costs the driver %.2f× what a closed loop at the same rate does per line", ratio)
				if cl := c.DriverUS["closed"]; cl > 0 {
					v += fmt.Sprintf(" (%.2f× the saturated closed loop's, whose cost per line is one core over the rate the machine allowed it)", c.DriverUS["open"]/cl)
				}
			}
			m.DriverCost = append(m.DriverCost, KV{"open against closed", v})
		}
	} else {
		m.Calibration = "not measured: no step could be flagged driver-bound by rate"
	}
	for _, sc := range f.Scenarios {
		m.Verdicts = append(m.Verdicts, verdict(f, sc, m))
		m.Scenarios = append(m.Scenarios, scenarioView(f, sc, m))
		m.Definitions = append(m.Definitions, Definition{Name: sc.File, Text: definition(sc)})
	}
	m.TrialsNeeded = analysis.TrialsNeeded(analysis.Alpha)
	for _, v := range m.Verdicts {
		switch {
		case len(v.Sep.Chain) > 0:
			m.Headlines = append(m.Headlines, Headline{Scenario: v.Scenario, Figure: v.Figure, Chain: v.Sep.Short(headlineNames), Trials: v.Sep.TrialsText(), Unranked: v.Unranked})
		case v.Unranked != "":
			// Nothing could be ranked: the question still gets its line,
			// saying why it has no answer on this run.
			m.Headlines = append(m.Headlines, Headline{Scenario: v.Scenario, Figure: v.Figure, Chain: "no ranking", Unranked: v.Unranked})
		}
	}
	m.Claims = claimViews(f, m)
	m.Matrix = buildMatrix(f, m)
	m.Releases = buildReleases(f)
	m.Conformance = conformanceMatrix(f)
	m.Env = environment(f)
	for _, impl := range f.Implementations {
		img, ok := f.Environment.Images[impl.Name]
		if !ok {
			continue
		}
		var rts []string
		for k, v := range img.Runtimes {
			rts = append(rts, k+" "+v)
		}
		sort.Strings(rts)
		m.Images = append(m.Images, ImageRow{Impl: impl.Name, Ref: img.Ref, ID: shortID(img.ID), Size: results.Bytes(float64(img.Size)), Runtimes: strings.Join(rts, ", ")})
	}
	return m
}

func (m *Model) color(impl string) string {
	for _, i := range m.Impls {
		if i.Name == impl {
			return i.Color
		}
	}
	return "#888"
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// banners are what a reader must know before any figure.
func banners(f *results.File) []string {
	var out []string
	if f.Profile == lab.Quick {
		out = append(out, "Smoke-test profile: one trial a step in windows of a few hundred milliseconds, conformance without the hostile clients. These figures show that the lab and every server run; do not compare servers by them. Use the standard or thorough profile for that.")
	}
	if c := f.Canary; c != nil && c.Median > 0 {
		if analysis.RunDrifted(c.Median, c.Lo, c.Hi, c.Drifted, c.N) {
			out = append(out, fmt.Sprintf("The machine drifted during this run: the canary (%s against %s) read %s–%s lines/s around a median of %s, and %d of %d trials ran more than %.0f%% off it. Compare implementations within a step (their trials were interleaved), not figures across steps; each figure's canary is beside it in the tables.",
				c.Step, c.Against, results.Count(c.Lo), results.Count(c.Hi), results.Count(c.Median), c.Drifted, c.N, 100*analysis.CanaryTolerance))
		}
	}
	return out
}

// headline picks the step a scenario's verdict speaks of, and the figure
// it ranks by, as the registry (lab.Figure.Info) describes it.
type headline struct {
	step        string
	fig         lab.Figure
	info        lab.FigureInfo
	higherWins  bool
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
	return headline{step: step, fig: fig, info: info, higherWins: info.HigherIsBetter, description: info.At(step)}
}

func pickHeadline(f *results.File, sc lab.Scenario) headline {
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

func find(f *results.File, impl, scen, step string) *results.Step {
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
func figure(f *results.File, sc lab.Scenario, h headline, impl string) (lab.Stat, *results.Step, bool) {
	if _, failed := failedAt(f, sc, h, impl); failed {
		return lab.Stat{}, nil, false // what a failed step measured is no figure
	}
	switch h.info.Reading {
	case lab.Ladder:
		for _, k := range f.Knees {
			if k.Impl == impl && k.Scenario == sc.Name {
				var st *results.Step
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
		return results.Count(v) + " lines/s"
	}
	return valueText(h.info.Unit, v)
}

// valueText is a value in its unit, for a place that does not name the
// figure.
func valueText(u lab.Unit, v float64) string {
	switch u {
	case lab.UnitBytesPerConn:
		return results.Bytes(v) + "/connection"
	case lab.UnitMicros:
		return results.Micros(v)
	case lab.UnitMillis:
		return "back within " + millis(v)
	case lab.UnitTimes:
		return fmt.Sprintf("p90 ×%.1f", v)
	case lab.UnitMicrosPerMilli:
		return fmt.Sprintf("%s of p99 per ms", results.Micros(v))
	case lab.UnitShare:
		return fmt.Sprintf("%.0f%%", 100*v)
	case lab.UnitPerLine:
		return fmt.Sprintf("%.2f per line", v)
	case lab.UnitMicrosPerLine:
		return results.Micros(v) + " per line"
	case lab.UnitPerSecond:
		return results.Count(v) + "/s"
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
func decisive(h headline, st *results.Step, k *lab.Knee) bool {
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

func verdict(f *results.File, sc lab.Scenario, m *Model) Verdict {
	h := pickHeadline(f, sc)
	v := Verdict{Scenario: sc.Name, Knee: h.ladder(), Figure: h.short()}
	v.Decided = "Decided by " + h.description
	if h.why != "" {
		v.Decided += ": " + h.why
	} else {
		v.Decided += "."
	}
	baseline := m.Baseline
	base, _, hasBase := figure(f, sc, h, baseline)
	v.Against = baseline
	if why, failed := failedAt(f, sc, h, baseline); failed {
		// The ratios fall back to the first implementation that has the
		// figure, and say so.
		for _, impl := range f.Implementations {
			if impl.Role == lab.RoleFloor || impl.Name == baseline {
				continue
			}
			if s, _, ok := figure(f, sc, h, impl.Name); ok {
				v.Against, base, hasBase = impl.Name, s, true
				v.Warnings = append(v.Warnings, fmt.Sprintf("%s %s, so the ratios here are against %s", baseline, why, impl.Name))
				break
			}
		}
	}
	type entry struct {
		impl     string
		s        lab.Stat
		st       *results.Step
		knee     *lab.Knee
		decisive bool
	}
	var es []entry
	var floor *entry // the physical limit: shown, never ranked
	for _, impl := range f.Implementations {
		s, st, ok := figure(f, sc, h, impl.Name)
		if !ok {
			continue
		}
		if impl.Role == lab.RoleFloor {
			floor = &entry{impl: impl.Name, s: s, st: st}
			continue
		}
		k := kneeOf(f, impl.Name, sc.Name)
		es = append(es, entry{impl.Name, s, st, k, decisive(h, st, k)})
	}
	if len(es) == 0 {
		v.Text = "No implementation finished this scenario."
		if why, no := notHere(f, sc); no {
			v.Text = "Not run on this machine: " + why + "."
		}
		return v
	}
	byName := map[string]entry{}
	var aes []analysis.Entry
	for _, e := range es {
		byName[e.impl] = e
		aes = append(aes, analysis.Entry{Name: e.impl, Figure: spread(e.s), Decisive: e.decisive})
	}
	order, rk, un := analysis.Rank(aes, h.higherWins)
	pick := func(as []analysis.Entry) []entry {
		var out []entry
		for _, a := range as {
			out = append(out, byName[a.Name])
		}
		return out
	}
	es = pick(order)
	ranked, undecided := pick(rk), pick(un)
	var names []string
	for _, e := range ranked {
		names = append(names, e.impl)
	}
	v.Sep = separate(f, sc, h, names)
	// Warnings are grouped by kind, one line each, naming the
	// implementations they touch; the details stay in the scenario's table.
	var kinds []string
	byKind := map[string][]string{}
	for _, e := range es {
		r := Ratio{Impl: e.impl, Value: format(h, e.s.Center), Ratio: "—"}
		if e.knee != nil {
			r.Value = kneeText(*e.knee)
		}
		if c, lo, hi, ok := analysis.Ratio(spread(e.s), spread(base), h.higherWins); hasBase && ok {
			// Oriented so that > 1 always means "better than the
			// baseline"; its interval combines both ranges.
			r.Ratio = fmt.Sprintf("%.2f× (%.2f–%.2f)", c, lo, hi)
			switch {
			case e.s.N < 2 && base.N < 2:
				r.Ratio = fmt.Sprintf("%.2f× (one trial)", c)
			case analysis.Noisy(spread(e.s)) || analysis.Noisy(spread(base)):
				r.Ratio = fmt.Sprintf("%.2f× (no interval: noisy trials)", c)
			}
			r.Better = lo > 1
		}
		if e.st != nil && h.fig == lab.FigLinesPerCPU {
			r.Why = schedWords(e.st.Summary)
		}
		if e.st != nil {
			r.DriverBound = e.st.Summary.DriverBound
			if !e.st.Def.Fault.Timed() { // a fault step fails lines on purpose: its table counts them
				r.Errors = e.st.Summary.Errors
			}
			for _, w := range e.st.Summary.Warnings {
				k := warningKind(w)
				if !slices.Contains(kinds, k) {
					kinds = append(kinds, k)
				}
				byKind[k] = append(byKind[k], e.impl)
			}
		}
		if e.knee != nil && e.knee.AtLeast {
			r.DriverBound = true
		}
		v.Ratios = append(v.Ratios, r)
	}
	for _, k := range kinds {
		v.Warnings = append(v.Warnings, k+": "+strings.Join(byKind[k], ", ")+warningHint[k])
	}
	// A winner is named only from figures that could decide (analysis.Rank),
	// and only when none that could not did as well.
	var text string
	var contested []string
	if len(rk) > 0 {
		contested = analysis.Contested(rk[0], un, h.higherWins)
	}
	switch {
	case len(ranked) == 0 && h.ladder():
		text = "The driver could not offer enough load to find any implementation's knee: each sustained every rate it was given, up to what the driver could keep to its schedule"
	case len(ranked) == 0:
		text = fmt.Sprintf("No implementation can be ranked by %s here: every one was limited by the driver or the upstream, not by itself", h.description)
	case len(contested) > 0:
		// The best decided figure is matched by one the driver or the
		// upstream bounded: no lead can be named (analysis.Contested).
		lead := ranked[0]
		lv := format(h, lead.s.Center)
		if lead.knee != nil {
			lv = kneeText(*lead.knee)
		}
		what := "whose figures were bound by the driver or the upstream and may be better still"
		if h.ladder() {
			what = "whose knees the driver could not offer enough load to find"
		}
		text = fmt.Sprintf("No implementation can be said to lead on %s: the best figure that decides, %s's %s, is matched or passed by %s, %s",
			h.description, lead.impl, lv, strings.Join(contested, ", "), what)
	default:
		lead := ranked[0]
		lv := format(h, lead.s.Center)
		if lead.knee != nil {
			lv = kneeText(*lead.knee)
		}
		text = fmt.Sprintf("%s leads on %s with %s", lead.impl, h.description, lv)
		if len(ranked) > 1 {
			second := ranked[1]
			if second.s.Center > 0 && lead.s.Center > 0 {
				gap := lead.s.Center / second.s.Center
				if !h.higherWins {
					gap = second.s.Center / lead.s.Center
				}
				text += fmt.Sprintf(", %.2f× the next, %s", gap, second.impl)
				if analysis.Overlap(spread(lead.s), spread(second.s)) {
					text += " (their trials overlap: no clear winner)"
				}
			}
		}
	}
	if n := len(undecided); n > 0 {
		why := "bound by the driver or the upstream"
		if h.ladder() {
			why = "the driver could not offer enough load to find their knees"
		}
		v.Unranked = fmt.Sprintf("%d more not ranked: %s", n, why)
		if len(ranked) == 0 {
			v.Unranked = fmt.Sprintf("none of the %d could be ranked: %s", n, why)
		}
		if n == 1 {
			v.Unranked = fmt.Sprintf("%s not ranked: %s", undecided[0].impl, strings.Replace(why, "their knees", "its knee", 1))
		}
	}
	if len(undecided) > len(contested) && len(ranked) > 0 {
		var names []string
		for _, e := range undecided {
			if !slices.Contains(contested, e.impl) {
				names = append(names, e.impl)
			}
		}
		what := "their figures were bound by the driver or the upstream"
		if h.ladder() {
			what = "the driver could not offer enough load to find their knees"
		}
		verb := "is"
		if len(names) > 1 {
			verb = "are"
		}
		text += fmt.Sprintf("; %s %s not ranked: %s", strings.Join(names, ", "), verb, what)
	}
	if hasBase && (len(ranked) == 0 || ranked[0].impl != baseline) {
		bv := format(h, base.Center)
		if k := kneeOf(f, baseline, sc.Name); h.ladder() && k != nil {
			bv = kneeText(*k)
		}
		text += fmt.Sprintf("; the demo's threaded server: %s", bv)
	}
	if !hasBase {
		text += "; the threaded baseline did not run, so there are no ratios"
	}
	if floor != nil {
		fv := format(h, floor.s.Center)
		if k := kneeOf(f, floor.impl, sc.Name); h.ladder() && k != nil {
			fv = kneeText(*k)
		}
		text += fmt.Sprintf("; the C floor server, the machine's limit and not ranked: %s", fv)
		if len(ranked) > 0 && floor.s.Center > 0 && (h.fig == lab.FigLinesPerCPU || h.fig == lab.FigThroughput) {
			text += fmt.Sprintf(" (%s reaches %.0f%% of it)", ranked[0].impl, 100*ranked[0].s.Center/floor.s.Center)
		}
	}
	v.Text = text + "."
	for _, i := range m.Impls {
		present := slices.ContainsFunc(es, func(e entry) bool { return e.impl == i.Name })
		if i.Failed != "" && !present {
			v.Warnings = append(v.Warnings, i.Name+" is missing: "+i.Failed)
		}
		if st, never := neverBack(f, sc, h, i.Name); never && !present {
			v.Warnings = append(v.Warnings, fmt.Sprintf("%s is not ranked: its rate was not back at %.0f%% of its level before the fault by the window's end in any of its %d trials (its timeline shows where it stayed)", i.Name, 100*analysis.BackShare, len(st.Trials)))
		}
	}
	return v
}

// warningKind is the heading a warning is grouped under in a verdict.
func warningKind(w lab.Warning) string {
	switch w.Code {
	case lab.WarnFailed:
		return "failed lines or connections"
	case lab.WarnMissingTrials:
		return "missing trials"
	}
	return string(w.Code)
}

var warningHint = map[string]string{
	"driver-bound":                "; their figure may be the load generator's limit (the reason is in the scenario's table)",
	"upstream-bound":              "; the translator, not the server, may be the limit",
	"noisy":                       fmt.Sprintf("; trials spread more than %.0f%% around the median", 100*analysis.NoisySpread),
	"failed lines or connections": "; the counts by class are in the scenario's table",
	"missing trials":              "; fewer trials than the profile asks for",
	"stalled":                     "; in some trials not one answer came though lines were in flight (the server was still there), and the range holds that zero",
	"not-recovered":               "; in some trials the rate was not back by the window's end, and the recovery time counts only the others",
}

// WarningText is a warning in words, for a reader.
func WarningText(w lab.Warning) string {
	why := ""
	if len(w.Why) > 0 {
		why = " (" + strings.Join(w.Why, "; ") + ")"
	}
	switch w.Code {
	case lab.WarnDriverBound:
		return fmt.Sprintf("driver-bound in %d of %d trials%s: the load generator, not the server, may be the limit", w.Trials, w.Of, why)
	case lab.WarnUpstreamBound:
		return fmt.Sprintf("upstream-bound in %d of %d trials%s: the translator, not the server, may be the limit", w.Trials, w.Of, why)
	case lab.WarnFailed:
		return fmt.Sprintf("%d failed lines or connections over %d trials", w.Count, w.Of)
	case lab.WarnMissingTrials:
		return fmt.Sprintf("only %d of %d trials ran", w.Trials, w.Of)
	case lab.WarnStalled:
		return fmt.Sprintf("stalled in %d of %d trials: lines were in flight and not one answer came, in the window or after it, though the server still answered a probe; the range holds that trial's zero", w.Trials, w.Of)
	case lab.WarnNotRecovered:
		return fmt.Sprintf("not back in %d of %d trials: the rate stayed under %.0f%% of its level before the fault until the window closed; the recovery time counts only the other trials", w.Trials, w.Of, 100*analysis.BackShare)
	case lab.WarnNoisy:
		t := fmt.Sprintf("noisy: trials spread %.0f%% around the median", 100*w.Spread)
		if w.Machine {
			t += fmt.Sprintf("; the machine's canary moved %.0f%% between them: the machine, not the server, is the suspect", 100*w.Canary)
		}
		return t
	}
	return string(w.Code)
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
		return fmt.Sprintf("not measurable here in the median trial (trials %s–%s)", results.Count(k.Lo), results.Count(k.Hi))
	}
	t := results.Count(k.Rate) + " lines/s"
	if k.AtLeast {
		t = "≥ " + t
	}
	switch {
	case k.N > 1 && k.Lo == k.Hi:
		t += fmt.Sprintf(" (in all %d trials)", k.N)
	case k.N > 1:
		t += fmt.Sprintf(" (trials %s–%s)", results.Count(k.Lo), results.Count(k.Hi))
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
		return results.Bytes(v)
	case lab.UnitMicros, lab.UnitMicrosPerLine, lab.UnitMicrosPerMilli:
		return results.Micros(v)
	case lab.UnitMillis:
		return millis(v)
	case lab.UnitTimes:
		return fmt.Sprintf("×%.1f", v)
	case lab.UnitShare:
		return fmt.Sprintf("%.0f%%", 100*v)
	case lab.UnitPerLine:
		return fmt.Sprintf("%.2f", v)
	}
	return results.Count(v)
}

func scenarioView(f *results.File, sc lab.Scenario, m *Model) ScenarioView {
	v := ScenarioView{Name: sc.Name, Mode: string(sc.Mode), Description: strings.TrimSpace(sc.Description), Hogs: hogRows(f, sc)}
	for _, s := range f.Steps {
		if s.Scenario != sc.Name {
			continue
		}
		sm := s.Summary
		row := Row{
			Impl: s.Impl, Step: s.Step,
			Throughput: results.Count(sm.Throughput.Center) + "/s",
			Range:      throughputRange(sm.Throughput),
			P50:        results.Micros(sm.P50.Center), P99: results.Micros(sm.P99.Center),
			P999:        results.Micros(median(s.Trials, func(t lab.Trial) float64 { return float64(t.Latency.P999) })),
			LinesPerCPU: results.Count(sm.LinesPerCPU.Center), Cores: fmt.Sprintf("%.2f", sm.ServerCores.Center),
			Memory: results.Bytes(sm.Memory.Center), Threads: fmt.Sprintf("%.0f", sm.Threads.Center),
		}
		if sm.MemPerConn.N > 0 {
			row.Memory += " (" + results.Bytes(sm.MemPerConn.Center) + "/conn)"
		}
		if sm.Jain.N > 0 {
			row.Fairness = fmt.Sprintf("%.2f (%.2f)", sm.Jain.Center, sm.Slowest.Center)
		}
		if sm.Voluntary.N > 0 {
			row.Sched = fmt.Sprintf("%s + %s switches, %.1f µs waited, %.0f%% kernel", perLineText(sm.Voluntary.Center), perLineText(sm.Involuntary.Center), sm.WaitedUS.Center, 100*sm.Kernel.Center)
		}
		if fl := floorStep(f, s.Scenario, s.Step); fl != nil && fl.Summary.LinesPerCPU.Center > 0 && sm.LinesPerCPU.Center > 0 {
			row.OfFloor = fmt.Sprintf("%.0f%%", 100*sm.LinesPerCPU.Center/fl.Summary.LinesPerCPU.Center)
		}
		if sm.Headroom.N > 0 {
			row.Headroom = fmt.Sprintf("%.1f×", sm.Headroom.Center)
		}
		if sm.Canary.N > 0 {
			row.Canary = fmt.Sprintf("%.0f%%", 100*sm.Canary.Center)
		}
		if sm.DriverBound || sm.UpstreamBound {
			what := "driver-bound"
			if sm.UpstreamBound {
				what = "upstream-bound"
				if sm.DriverBound {
					what = "driver- and upstream-bound"
				}
			}
			n, why := 0, ""
			for _, t := range s.Trials {
				if t.DriverBound || t.UpstreamBound {
					n++
					if why == "" && len(t.BoundBy) > 0 {
						why = t.BoundBy[0]
					}
				}
			}
			flag := fmt.Sprintf("%s in %d of %d trials", what, n, len(s.Trials))
			if why != "" {
				flag += ": " + why
			}
			row.Flags = append(row.Flags, flag)
		}
		var late, inflight int64
		for _, t := range s.Trials {
			late += t.Late
			inflight += t.InFlight
		}
		if n := sm.Throughput.N; s.Def.Loop == lab.Open && n > 0 && analysis.Backlog(float64(inflight)/float64(n), float64(s.Def.Rate)) {
			row.Flags = append(row.Flags, fmt.Sprintf("backlog: %s lines in flight at the window's end", results.Count(float64(inflight)/float64(n))))
		}
		if s.Def.Fault.Timed() {
			if sm.Recovery.N > 0 {
				row.Flags = append(row.Flags, "back within "+millis(sm.Recovery.Center)+" of the fault's end (its table below)")
			}
		} else if sm.Errors > 0 {
			row.Flags = append(row.Flags, fmt.Sprintf("%d errors", sm.Errors))
		}
		if sm.Ideal > 0 {
			row.Flags = append(row.Flags, fmt.Sprintf("%.0f%% of ideal %s/s", 100*sm.Throughput.Center/sm.Ideal, results.Count(sm.Ideal)))
		}
		for _, w := range sm.Warnings {
			if w.Code == lab.WarnNoisy {
				row.Flags = append(row.Flags, WarningText(w))
			}
		}
		v.Rows = append(v.Rows, row)
	}
	for _, sk := range f.Skipped {
		line := fmt.Sprintf("%s %s: %s", sk.Impl, sk.Step, sk.Why)
		if sk.Impl == "" && sk.Scenario == sc.Name {
			v.NotHere = sk.Why
			continue
		}
		if sk.Scenario == sc.Name && !slices.Contains(v.Skipped, line) {
			v.Skipped = append(v.Skipped, line)
		}
	}
	v.Charts = charts(f, sc, m)
	v.Faults = faultRows(f, sc)
	return v
}

// floorStep is the floor server's result at a step, if it ran.
func floorStep(f *results.File, scen, step string) *results.Step {
	for _, impl := range f.Implementations {
		if impl.Role == lab.RoleFloor {
			if st := find(f, impl.Name, scen, step); st != nil {
				return st
			}
		}
	}
	return nil
}

func median(ts []lab.Trial, f func(lab.Trial) float64) float64 {
	var v []float64
	for _, t := range ts {
		v = append(v, f(t))
	}
	return results.NewStat(v).Center
}

func conformanceMatrix(f *results.File) ConformanceMatrix {
	var cm ConformanceMatrix
	for _, c := range f.Conformance {
		for _, r := range c.Results {
			if !slices.Contains(cm.Cases, r.Case) {
				cm.Cases = append(cm.Cases, r.Case)
			}
		}
	}
	for _, impl := range f.Implementations {
		row := ConformanceRow{Impl: impl.Name}
		for _, name := range cm.Cases {
			cell := Cell{State: "none"}
			var details []string
			for _, c := range f.Conformance {
				if c.Impl != impl.Name {
					continue
				}
				for _, r := range c.Results {
					if r.Case != name {
						continue
					}
					switch {
					case r.Skipped:
						if cell.State == "none" {
							cell.State = "skip"
						}
					case r.Passed:
						if cell.State != "fail" {
							cell.State = "pass"
						}
					default:
						cell.State = "fail"
						details = append(details, c.Target+": "+r.Detail)
					}
				}
			}
			cell.Detail = strings.Join(details, "\n")
			row.Cells = append(row.Cells, cell)
		}
		cm.Rows = append(cm.Rows, row)
	}
	return cm
}

func environment(f *results.File) []KV {
	e := f.Environment
	return []KV{
		{"CPU", fmt.Sprintf("%s, %d cores", e.CPUModel, e.Cores)},
		{"kernel", e.Kernel},
		{"Docker", e.DockerVersion + ", cgroup v" + e.CgroupVersion},
		{"lab built with", e.GoVersion},
		{"pinning", pinning(e)},
		{"driver", driverKind(e)},
		{"engine", engineKind(e)},
		{"server memory limit", results.Bytes(float64(e.MemoryLimit))},
		{"profile", string(f.Profile)},
		{"started", f.Started.UTC().Format("2006-01-02 15:04:05 UTC")},
		{"finished", f.Finished.UTC().Format("2006-01-02 15:04:05 UTC")},
	}
}

func definition(sc lab.Scenario) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nmode: %s\n", sc.Name, sc.Mode)
	if sc.LatencyBound > 0 {
		fmt.Fprintf(&b, "latency_bound: %s\n", sc.LatencyBound)
	}
	if u := sc.Upstream; u != nil {
		fmt.Fprintf(&b, "upstream: {latency: %s, jitter: %s, error_rate: %g, slow_rate: %g, slow_latency: %s}\n", u.Latency, u.Jitter, u.ErrorRate, u.SlowRate, u.SlowLatency)
	}
	b.WriteString("profiles:\n")
	for _, p := range []lab.Profile{lab.Quick, lab.Standard} {
		s := sc.Profiles[p]
		fmt.Fprintf(&b, "  %s: {duration: %s, warmup: %s, trials: %d}\n", p, s.Duration, s.Warmup, s.Trials)
	}
	b.WriteString("steps:\n")
	for _, st := range sc.Steps {
		fmt.Fprintf(&b, "  - {name: %s, loop: %s, connections: %d", st.Name, st.Loop, st.Connections)
		if st.Depth > 1 {
			fmt.Fprintf(&b, ", depth: %d", st.Depth)
		}
		if st.Rate > 0 {
			fmt.Fprintf(&b, ", rate: %d", st.Rate)
		}
		if st.Quick != nil && st.Quick.Connections > 0 {
			fmt.Fprintf(&b, ", quick: {connections: %d}", st.Quick.Connections)
		}
		if u := st.Upstream; u != nil {
			fmt.Fprintf(&b, ", upstream: {latency: %s, slow_rate: %g, slow_latency: %s}", u.Latency, u.SlowRate, u.SlowLatency)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// roundSig keeps n significant figures, for axis ticks.
func roundSig(v float64, n int) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// pinning says which cores did what, and on which machine when there
// were two.
func pinning(e results.Environment) string {
	p := e.Pinning
	if e.DriverEngine != nil {
		return fmt.Sprintf("servers on %s and upstream on %s of the servers' machine; driver on %s of its own", results.Cores(p.Server), results.Cores(p.Upstream), results.Cores(p.Driver))
	}
	return fmt.Sprintf("servers on %s; driver on %s; upstream on %s", results.Cores(p.Server), results.Cores(p.Driver), results.Cores(p.Upstream))
}

// engineKind says where the containers ran.
func engineKind(e results.Environment) string {
	g, d := e.Engine, e.DriverEngine
	switch {
	case g == nil:
		return "this machine's Docker engine"
	case d != nil:
		return fmt.Sprintf("two machines: the servers and the upstream on %s, the driver and the canary's load on %s, dialling the servers at %s: the figures crossed a real network, and include it. The lab could not read the driver machine's cores: driver-bound is judged by the driver's own CPU and its calibrated ceiling, and a network that held the load is not flagged (a server whose cores idled was held by it or by the driver)",
			machine(g), machine(d), e.ServerAddress)
	}
	return fmt.Sprintf("%s, steered from another machine: the servers, the upstream, the driver and the canary all ran there, and their CPU and memory were read there. The lab could not read that machine's cores: driver-bound is judged by the driver's own CPU and its calibrated ceiling", machine(g))
}

func machine(g *results.Engine) string {
	return fmt.Sprintf("%s, the engine of %s (%s, %d cores, %s)", g.Host, g.Machine, g.OS, g.Cores, results.Bytes(float64(g.Memory)))
}

// driverKind says where the load came from.
func driverKind(e results.Environment) string {
	switch {
	case e.DriverEngine != nil:
		return fmt.Sprintf("a linelab/driver container per trial and per canary (image %.19s), on its machine's host network", e.Images["driver"].ID)
	case e.Engine != nil:
		return fmt.Sprintf("a linelab/driver container per trial and per canary (image %.19s), on the run's network", e.Images["driver"].ID)
	}
	if e.Driver == "container" {
		return fmt.Sprintf("a linelab/driver container per trial (image %.19s), on the run's network; the canary, and any fault step, from the lab process", e.Images["driver"].ID)
	}
	return "the lab process (in-process driver)"
}

// throughputRange is a step's answers per second over its trials: one
// trial has none.
func throughputRange(s lab.Stat) string {
	if s.N < 2 {
		return "one trial"
	}
	return results.Count(s.Lo) + "–" + results.Count(s.Hi)
}

// schedWords is a step's scheduler counters in a few words, for a figure
// of CPU per line; "" without them.
func schedWords(sm lab.Summary) string {
	if sm.Voluntary.N == 0 {
		return ""
	}
	return fmt.Sprintf("%s switches a line (%s preempted), %.0f%% of its CPU in the kernel", perLineText(sm.Voluntary.Center+sm.Involuntary.Center), perLineText(sm.Involuntary.Center), 100*sm.Kernel.Center)
}

// perLineText writes a count per line to two significant figures, without
// an exponent: "2.1", "0.0017", "<0.0001".
func perLineText(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.0001:
		return "<0.0001"
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
