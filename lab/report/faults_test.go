package report

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/results"
)

// faultFixture is the fixture with a crash scenario (two servers, one of
// which comes back slower and once not at all) and a lossy-link scenario
// this machine could not run.
func faultFixture() *results.File {
	f := fixture()
	d := func(x time.Duration) lab.Duration { return lab.Duration(x) }
	prof := map[lab.Profile]lab.ProfileSpec{lab.Quick: {Duration: d(3 * time.Second), Trials: 3}, lab.Standard: {Duration: d(4 * time.Second), Trials: 3}}
	crash := lab.Scenario{Name: "fault-crash", Mode: "echo", Description: "crash", Profiles: prof, File: "scenarios/fault-crash.yaml",
		Headline: &lab.Headline{Step: "crash", Figure: lab.FigRecovery, Why: "how soon it serves again"},
		Steps:    []lab.Step{{Name: "crash", Loop: lab.Closed, Connections: 100, Depth: 1, Fault: &lab.Fault{Kind: lab.FaultCrash, At: d(time.Second)}}}}
	lossy := lab.Scenario{Name: "fault-lossy-link", Mode: "echo", Description: "lossy", Profiles: prof, File: "scenarios/fault-lossy-link.yaml",
		Headline: &lab.Headline{Step: "lossy", Figure: lab.FigP99, Why: "the tail"},
		Steps: []lab.Step{{Name: "clean", Loop: lab.Closed, Connections: 10, Depth: 1},
			{Name: "lossy", Loop: lab.Closed, Connections: 10, Depth: 1, Fault: &lab.Fault{Kind: lab.FaultLossyLink, Loss: 0.01, Delay: d(5 * time.Millisecond)}}}}
	f.Scenarios = append(f.Scenarios, crash, lossy)
	f.Skipped = append(f.Skipped, results.Skip{Scenario: "fault-lossy-link", Why: "this kernel has no netem queueing discipline; tc said: <b>unknown</b>"})
	var trials []lab.Trial
	for _, s := range f.Steps {
		trials = append(trials, s.Trials...)
	}
	// 30 buckets of 100 ms: 1,000 answers each before the kill at 1 s,
	// none while down, back after `back` buckets past the restart (1.5 s).
	timeline := func(back int) *lab.Timeline {
		tl := &lab.Timeline{BucketMS: 100, Answers: make([]int64, 30), FirstAnswerMS: 600,
			Errors: map[lab.FailClass][]int64{"reset": make([]int64, 30), "connect": make([]int64, 30)},
			Faults: []lab.Mark{{What: "killed (SIGKILL) and started again", FromMS: 1000, ToMS: 1500}}}
		for i := range tl.Answers {
			if i < 10 || i >= 15+back {
				tl.Answers[i] = 1000
			}
		}
		tl.Errors["reset"][10] = 100
		tl.Errors["connect"][11] = 500
		return tl
	}
	for impl, backs := range map[string][]int{"go-eventloop": {0, 1, 0}, "threads": {3, 5, 40}, "node": {40, 40, 40}} {
		for i, back := range backs {
			trials = append(trials, lab.Trial{Impl: impl, Scenario: "fault-crash", Step: "crash", Trial: i + 1, Seconds: 3, Lines: 20000, Throughput: 6000,
				Errors: map[lab.FailClass]int64{"reset": 100, "connect": 500}, Reconnects: 100, Timeline: timeline(back)})
		}
	}
	results.Summarize(f, trials)
	return f
}

func TestFaultReport(t *testing.T) {
	t.Parallel()
	m := Build(faultFixture())
	i := slices.IndexFunc(m.Scenarios, func(v ScenarioView) bool { return v.Name == "fault-crash" })
	v := m.Scenarios[i]
	var titles []string
	for _, c := range v.Charts {
		titles = append(titles, c.Title)
	}
	if !slices.Contains(titles, "fault-crash: answers over time") || !slices.Contains(titles, "fault-crash: failures over time") {
		t.Fatalf("charts %q: want the timelines", titles)
	}
	if svg := string(v.Charts[0].SVG); !strings.Contains(svg, `class="fault"`) || strings.Count(svg, `class="series"`) != 3 {
		t.Errorf("the answers timeline has no fault band or not one line per server:\n%.400s", svg)
	}
	want := map[string]FaultRow{
		"go-eventloop": {Impl: "go-eventloop", Step: "crash", Recovery: "100 ms (100 ms–200 ms)", FirstAnswer: "600 ms", Lost: "100", ErrorLines: "0", Refused: "500", Reconnects: "100", Seen: "resets, refused connects"},
		// 400 and 600 ms; the third trial was not back by the window's end.
		"threads": {Impl: "threads", Step: "crash", Recovery: "500 ms (400 ms–600 ms); not back in 1 of 3 trials", FirstAnswer: "600 ms", Lost: "100", ErrorLines: "0", Refused: "500", Reconnects: "100", Seen: "resets, refused connects"},
	}
	want["node"] = FaultRow{Impl: "node", Step: "crash", Recovery: "—; not back in 3 of 3 trials", FirstAnswer: "600 ms", Lost: "100", ErrorLines: "0", Refused: "500", Reconnects: "100", Seen: "resets, refused connects"}
	if len(v.Faults) != 3 {
		t.Fatalf("fault rows %+v", v.Faults)
	}
	for _, row := range v.Faults {
		if row != want[row.Impl] {
			t.Errorf("fault row\n  %+v\nwant\n  %+v", row, want[row.Impl])
		}
	}
	for _, r := range v.Rows {
		if slices.ContainsFunc(r.Flags, func(s string) bool { return strings.Contains(s, "errors") }) {
			t.Errorf("%s: a fault step's lost lines are its measurement, not a flag: %q", r.Impl, r.Flags)
		}
	}
	// A server never back has no figure, and its cell says why.
	crashCol := slices.IndexFunc(m.Matrix.Cols, func(c MatrixCol) bool { return c.Scenario == "fault-crash" })
	for _, row := range m.Matrix.Rows {
		c := row.Cells[crashCol]
		switch row.Impl {
		case "node":
			if c.Empty != "not back in 3 of 3 trials" {
				t.Errorf("node's crash cell %+v", c)
			}
		case "go-eventloop":
			if c.Value != "100 ms" || c.Range != "100–200 ms" || c.Rank != 1 {
				t.Errorf("go-eventloop's crash cell %+v", c)
			}
		}
	}
	// The verdict ranks by recovery, sooner first.
	vd := m.Verdicts[slices.IndexFunc(m.Verdicts, func(v Verdict) bool { return v.Scenario == "fault-crash" })]
	if !strings.HasPrefix(vd.Text, "go-eventloop leads on recovery after the fault of crash") {
		t.Errorf("verdict %q", vd.Text)
	}
	if !strings.Contains(strings.Join(vd.Warnings, " "), "node is not ranked: its rate was not back at 90% of its level before the fault by the window's end in any of its 3 trials") {
		t.Errorf("verdict warnings %q: want node's absence explained", vd.Warnings)
	}
	for _, r := range vd.Ratios {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors marked in the verdict of a fault step", r.Impl, r.Errors)
		}
	}
	// The scenario this machine could not run says why, once, and the
	// matrix gives it no column but says so under it.
	l := m.Scenarios[slices.IndexFunc(m.Scenarios, func(v ScenarioView) bool { return v.Name == "fault-lossy-link" })]
	if !strings.Contains(l.NotHere, "no netem") || len(l.Skipped) != 0 {
		t.Errorf("lossy-link: not here %q, skipped %q", l.NotHere, l.Skipped)
	}
	if slices.ContainsFunc(m.Matrix.Cols, func(c MatrixCol) bool { return c.Scenario == "fault-lossy-link" }) ||
		len(m.Matrix.NotHere) != 1 || !strings.HasPrefix(m.Matrix.NotHere[0], "fault-lossy-link (this kernel has no netem") {
		t.Errorf("lossy-link: a column, or not said under the matrix: %q", m.Matrix.NotHere)
	}
}
