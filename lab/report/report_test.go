package report

import (
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestModelGolden pins the page's data model for a fixed run.
func TestModelGolden(t *testing.T) {
	m := Build(fixture())
	for i := range m.Scenarios {
		for j := range m.Scenarios[i].Charts {
			// The SVG and its data have golden files of their own
			// (TestChartsGolden); this one keeps to the figures.
			m.Scenarios[i].Charts[j].SVG, m.Scenarios[i].Charts[j].CSV = "", ""
		}
	}
	got, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "model.golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lab/report -update to create it)", err)
	}
	if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
		t.Errorf("model differs from %s; if the change is intended, run go test ./lab/report -update and review the diff", path)
	}
}

// TestChartsGolden pins every chart of the fixture: its SVG and its CSV,
// one file each under testdata/charts, as vegeta pins its plot's HTML.
func TestChartsGolden(t *testing.T) {
	m := Build(fixture())
	dir := filepath.Join("testdata", "charts")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, sc := range m.Scenarios {
		for _, c := range sc.Charts {
			data, err := url.PathUnescape(strings.TrimPrefix(string(c.CSV), "data:text/csv;charset=utf-8,"))
			if err != nil {
				t.Fatalf("%s: %v", c.Title, err)
			}
			name := strings.TrimSuffix(c.File, ".csv")
			if seen[name] {
				t.Fatalf("two charts named %s", name)
			}
			seen[name] = true
			for _, file := range []struct{ ext, text string }{{".svg", string(c.SVG)}, {".csv", data}} {
				path := filepath.Join(dir, name+file.ext)
				if *update {
					if err := os.WriteFile(path, []byte(file.text), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./lab/report -update to create it)", err)
				}
				if string(want) != file.text {
					t.Errorf("%s differs; if the change is intended, run go test ./lab/report -update and review the diff", path)
				}
			}
		}
	}
	if len(seen) < 5 {
		t.Errorf("only %d charts", len(seen))
	}
}

func TestVerdict(t *testing.T) {
	m := Build(fixture())
	v := m.Verdicts[0]
	// go-eventloop's c100 is driver-bound: it has the highest rate, but
	// the verdict must not crown it by that; nor node, the best that
	// decides, since go-eventloop's bound rate is already above node's.
	if !strings.HasPrefix(v.Text, "No implementation can be said to lead on answers per second at c100: the best figure that decides, node's") ||
		!strings.Contains(v.Text, "passed by go-eventloop") || strings.Contains(v.Text, "not ranked: their") {
		t.Errorf("verdict %q", v.Text)
	}
	if len(v.Ratios) != 3 || v.Ratios[0].Impl != "go-eventloop" || !strings.HasPrefix(v.Ratios[0].Ratio, "4.00×") || !v.Ratios[0].DriverBound {
		t.Errorf("ratios %+v", v.Ratios)
	}
	idle := m.Verdicts[2]
	if !strings.Contains(idle.Text, "go-eventloop leads on memory per idle connection") || !strings.Contains(strings.Join(idle.Warnings, " "), "threads is missing") {
		t.Errorf("idle verdict %q %v", idle.Text, idle.Warnings)
	}
}

// A server that failed the headline step has the failure where its number
// would be, and the verdict's ratios fall back from a failed baseline to
// the next entry, saying so.
func TestFailedStep(t *testing.T) {
	f := fixture()
	f.Failures = append(f.Failures, lab.Failure{Impl: "threads", Scenario: "echo-sweep", Step: "c100",
		Message: "exited with code 137; last output: ; its other steps run on a fresh container"})
	m := Build(f)
	row := m.Matrix.Rows[slices.IndexFunc(m.Matrix.Rows, func(r MatrixRow) bool { return r.Impl == "threads" })]
	if c := row.Cells[0]; c.Rank != 0 || c.Empty != "failed at c100: exited with code 137" {
		t.Errorf("threads' echo-sweep cell %+v", c)
	}
	v := m.Verdicts[0]
	if v.Against != "go-eventloop" || len(v.Ratios) != 2 || !strings.Contains(strings.Join(v.Warnings, " "), "threads failed at c100: exited with code 137, so the ratios here are against go-eventloop") {
		t.Errorf("against %q, ratios %+v, warnings %q", v.Against, v.Ratios, v.Warnings)
	}
	if other := m.Verdicts[1]; other.Against != "threads" {
		t.Errorf("another scenario's ratios are against %q, want threads", other.Against)
	}
}

// A scenario that names its headline is ranked by it, and the verdict
// says which figure decided and why.
func TestVerdictFollowsTheScenarioHeadline(t *testing.T) {
	f := fixture()
	f.Scenarios[0].Headline = &lab.Headline{Step: "c100", Figure: lab.FigLinesPerCPU, Why: "Efficiency does not depend on the driver."}
	v := Build(f).Verdicts[0]
	if !strings.HasPrefix(v.Text, "go-eventloop leads on lines per server CPU-second at c100") {
		t.Errorf("verdict %q", v.Text)
	}
	if !strings.Contains(v.Decided, "lines per server CPU-second at c100: Efficiency does not depend on the driver.") {
		t.Errorf("decided %q", v.Decided)
	}
}

// A run whose canary moved says so before any number.
func TestDriftBanner(t *testing.T) {
	f := fixture()
	if bs := Build(f).Banners; len(bs) != 1 || !strings.Contains(bs[0], "Smoke-test") {
		t.Fatalf("banners %q, want the smoke-test one only", bs)
	}
	f.Profile = lab.Standard
	var ts []lab.Trial
	for i, s := range f.Steps {
		for _, t := range s.Trials {
			t.Canary = 100000
			if i%2 == 0 {
				t.Canary = 60000 // a slow phase of the machine
			}
			ts = append(ts, t)
		}
	}
	results.Summarize(f, ts)
	bs := Build(f).Banners
	if len(bs) != 1 || !strings.Contains(bs[0], "The machine drifted") {
		t.Fatalf("banners %q", bs)
	}
}

// TestRenderEscapesHostileText: no hostile string reaches the page as
// markup or as a link (the browser test runs the page too).
func TestRenderEscapesHostileText(t *testing.T) {
	b, err := Render(hostileFixture())
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, bad := range []string{"<script>window.__pwned", "<img src=x", "<svg onload", `href="javascript:`, `src="javascript:`} {
		if strings.Contains(page, bad) {
			i := strings.Index(page, bad)
			t.Errorf("page holds %q: %s", bad, page[max(0, i-80):min(len(page), i+80)])
		}
	}
	if !strings.Contains(page, "&lt;/script&gt;&lt;script&gt;window.__pwned=1") {
		t.Error("the hostile text is not on the page at all, escaped")
	}
}

func TestRenderEscapesAndEmbeds(t *testing.T) {
	b, err := Render(fixture())
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, bad := range []string{"<script>alert(1)", `"<oops>"`, "'<b>&'", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q: unescaped text or a network reference", bad)
		}
	}
	for _, good := range []string{"&lt;script&gt;alert(1)", "&lt;oops&gt;", `<span class="k">def</span>`, "<svg", "<style>"} {
		if !strings.Contains(page, good) {
			t.Errorf("page lacks %q", good)
		}
	}
}

func TestMatrixMark(t *testing.T) {
	t.Parallel()
	stalled := lab.Warning{Code: lab.WarnStalled, Trials: 1, Of: 3}
	noisy := lab.Warning{Code: lab.WarnNoisy, Trials: 3, Of: 3}
	h := newHeadline(lab.FigThroughput, "a")
	for _, tc := range []struct {
		name string
		sum  lab.Summary
		want string
	}{
		{"clean", lab.Summary{}, ""},
		{"driver-bound first", lab.Summary{DriverBound: true, Warnings: []lab.Warning{stalled}}, "driver-bound"},
		{"a stall says so, not only noisy", lab.Summary{Warnings: []lab.Warning{noisy, stalled}}, "stalled in 1 of 3 trials"},
		{"noisy", lab.Summary{Warnings: []lab.Warning{noisy}}, "noisy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := matrixMark(h, &results.StepResult{Summary: tc.sum}, nil, false)
			if !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
				t.Errorf("matrixMark = %q, want %q", got, tc.want)
			}
		})
	}
}

// A figure of one trial has no range to give: it says so.
func TestOneTrialHasNoRange(t *testing.T) {
	t.Parallel()
	if got := throughputRange(lab.Stat{Center: 4000, Lo: 4000, Hi: 4000, N: 1}); got != "one trial" {
		t.Errorf("throughputRange of one trial = %q", got)
	}
	if got := throughputRange(lab.Stat{Center: 4000, Lo: 3900, Hi: 4100, N: 3}); got != "3.90k–4.10k" {
		t.Errorf("throughputRange of three trials = %q", got)
	}
	for _, c := range []struct {
		s    Separation
		want string
	}{
		{Separation{MinTrials: 1, MaxTrials: 1}, "one trial each"},
		{Separation{MinTrials: 4, MaxTrials: 4}, "4 trials each"},
		{Separation{MinTrials: 4, MaxTrials: 6}, "4–6 trials each"},
	} {
		if got := c.s.TrialsText(); got != c.want {
			t.Errorf("TrialsText(%d–%d) = %q, want %q", c.s.MinTrials, c.s.MaxTrials, got, c.want)
		}
	}
}

// TestChartsNamedByTheFile: a scenario gets the charts its file names, in
// that order; a run recorded before files named them gets the charts the
// report drew for it then (here, the same as the fixture names).
func TestChartsNamedByTheFile(t *testing.T) {
	titles := func(f *results.File) map[string][]string {
		out := map[string][]string{}
		for _, sc := range Build(f).Scenarios {
			for _, c := range sc.Charts {
				out[sc.Name] = append(out[sc.Name], c.Title)
			}
		}
		return out
	}
	named := titles(fixture())
	older := fixture()
	for i := range older.Scenarios {
		older.Scenarios[i].Charts = nil
	}
	if got := titles(older); !reflect.DeepEqual(got, named) {
		t.Errorf("a run without charts in its scenarios draws\n  %v\nwant the charts it drew before\n  %v", got, named)
	}
	f := fixture()
	f.Scenarios[0].Charts = []lab.Chart{{Kind: lab.ChartCPU}, {Kind: lab.ChartSpectrum, Steps: []string{"c10", "c1"}}}
	want := []string{"echo-sweep: server CPU per step", "echo-sweep at c10: latency spectrum", "echo-sweep at c1: latency spectrum"}
	if got := titles(f)["echo-sweep"]; !slices.Equal(got, want) {
		t.Errorf("echo-sweep's charts: %q; want %q", got, want)
	}
}
