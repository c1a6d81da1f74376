package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/report/code"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
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
// smokeWarning heads a quick run's page and terminal table alike.
const smokeWarning = "Smoke-test profile: one trial a step in windows of a few hundred milliseconds, conformance without the hostile clients. These figures show that the lab and every server run; do not compare servers by them. Use the standard or thorough profile for that."

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
	m.Impls = implInfos(f)
	m.Warnings = runWarnings(f)
	m.Banners = banners(f)
	m.Calibration, m.DriverCost = driverCost(f.Calibration)
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
	m.Images = imageRows(f)
	return m
}

// implInfos are the implementations with their colours, sources and why
// any left the run.
func implInfos(f *results.File) []ImplInfo {
	failed := map[string]string{}
	for _, x := range f.Failures {
		if x.LeftOut {
			failed[x.Impl] = x.Message
		}
	}
	var out []ImplInfo
	for i, impl := range f.Implementations {
		info := ImplInfo{Name: impl.Name, Language: impl.Language, Runtime: impl.Runtime, Model: impl.Model,
			Description: impl.Description, Color: palette[i%len(palette)], Failed: failed[impl.Name]}
		for _, s := range f.Sources {
			if s.Impl == impl.Name {
				info.Sources = append(info.Sources, SourceView{Path: s.Path, Lang: code.Lang(s.Path), Lines: code.Lines(s.Path, s.Text), Text: s.Text})
			}
		}
		out = append(out, info)
	}
	return out
}

// runWarnings are the run-wide warnings: the run's own, an early stop, a
// resumption, missing trials and every failure.
func runWarnings(f *results.File) []string {
	out := append([]string(nil), f.Warnings...)
	if f.Interrupted != "" {
		out = append(out, "the run stopped early ("+f.Interrupted+"); what it gathered is shown")
	}
	if n := len(f.Resumed); n > 0 {
		var at []string
		for _, t := range f.Resumed {
			at = append(at, t.UTC().Format("2006-01-02 15:04 UTC"))
		}
		out = append(out, fmt.Sprintf("the run stopped and was resumed (%s): its trials were measured in %d sittings, so the machine may have moved between them; the canary's readings show whether it did",
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
		out = append(out, fmt.Sprintf("%d planned trials are missing, in %d steps: %s; the matrix marks the figures they would have made as missing",
			trials, len(miss), strings.Join(where, ", ")))
	}
	for _, x := range f.Failures {
		where := x.Impl
		if x.Scenario != "" {
			where += " in " + x.Scenario + "/" + x.Step
		}
		out = append(out, where+": "+x.Message)
	}
	return out
}

// driverCost is the calibration in words: its ceilings, and the driver's
// CPU per line against the server's for each loop.
func driverCost(c *results.Calibration) (string, []KV) {
	if c == nil {
		return "not measured: no step could be flagged driver-bound by rate", nil
	}
	calibration := fmt.Sprintf("%s lines/s closed loop (100 connections), %s lines/s pipelined (50 × 16), against %s",
		units.Count(c.Closed), units.Count(c.Pipelined), c.Against)
	var out []KV
	for _, k := range []struct{ key, label string }{
		{lab.CalClosed, "closed loop, 100 connections"},
		{lab.CalPipelined, "pipelined, 50 × 16"},
		{lab.CalOpen, fmt.Sprintf("open loop at %s lines/s", units.Count(c.OpenRate))},
		{lab.CalPaced, fmt.Sprintf("closed loop paced to %s lines/s, 50 connections", units.Count(c.OpenRate))},
	} {
		d, sv := c.DriverUS[k.key], c.ServerUS[k.key]
		if d <= 0 {
			continue
		}
		v := fmt.Sprintf("driver %.2f µs of CPU per line, %s %.2f µs: headroom %.2f×", d, c.Against, sv, sv/d)
		if b, ok := c.DriverCoreBusy[k.key]; ok && b >= 0 {
			v += fmt.Sprintf("; driver core %.0f%% busy", 100*b)
		}
		out = append(out, KV{k.label, v})
	}
	if ratio, paced, ok := analysis.OpenOverClosed(c.DriverUS); ok {
		v := fmt.Sprintf("the open loop costs the driver %.2f× what the closed loop does per line", ratio)
		if paced {
			v = fmt.Sprintf("the open loop costs the driver %.2f× what a closed loop at the same rate does per line", ratio)
			if cl := c.DriverUS[lab.CalClosed]; cl > 0 {
				v += fmt.Sprintf(" (%.2f× the saturated closed loop's, whose cost per line is one core over the rate the machine allowed it)", c.DriverUS[lab.CalOpen]/cl)
			}
		}
		out = append(out, KV{"open against closed", v})
	}
	return calibration, out
}

// imageRows are the images the run used, with their runtimes.
func imageRows(f *results.File) []ImageRow {
	var out []ImageRow
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
		out = append(out, ImageRow{Impl: impl.Name, Ref: img.Ref, ID: shortID(img.ID), Size: units.Bytes(float64(img.Size)), Runtimes: strings.Join(rts, ", ")})
	}
	return out
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
		out = append(out, smokeWarning)
	}
	if c := f.Canary; c != nil && c.Median > 0 {
		if analysis.RunDrifted(c.Median, c.Lo, c.Hi, c.Drifted, c.N) {
			out = append(out, fmt.Sprintf("The machine drifted during this run: the canary (%s against %s) read %s–%s lines/s around a median of %s, and %d of %d trials ran more than %.0f%% off it. Compare implementations within a step (their trials were interleaved), not figures across steps; each figure's canary is beside it in the tables.",
				c.Step, c.Against, units.Count(c.Lo), units.Count(c.Hi), units.Count(c.Median), c.Drifted, c.N, 100*analysis.CanaryTolerance))
		}
	}
	return out
}
