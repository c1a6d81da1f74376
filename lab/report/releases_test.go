package report

import (
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/results"
)

// releaseRun is a standard run of two servers on two releases and a Go
// server once: threads clearly faster on trixie, node the same within its
// trials' spread.
func releaseRun() *results.File {
	prof := map[lab.Profile]lab.ProfileSpec{lab.Standard: {Duration: lab.Duration(5 * time.Second), Trials: 3}}
	sc := lab.Scenario{Name: "echo-sweep", Mode: "echo", Profiles: prof,
		Headline: &lab.Headline{Step: "c100", Figure: lab.FigThroughput},
		Steps:    []lab.Step{{Name: "c100", Loop: lab.Closed, Connections: 100, Depth: 1}}}
	impls := []lab.Implementation{{Name: "go-goroutine"}}
	for _, s := range []string{"node", "threads"} {
		for _, rel := range []string{"trixie", "bookworm"} { // not in Debian's order: the view sorts
			impls = append(impls, lab.Implementation{Name: s + "@" + rel, Release: rel})
		}
	}
	f := &results.File{Schema: results.Schema, Profile: lab.Standard, Scenarios: []lab.Scenario{sc}, Implementations: impls}
	rate := map[string][3]float64{
		"go-goroutine":     {50000, 51000, 52000},
		"threads@bookworm": {10000, 10500, 11000},
		"threads@trixie":   {14000, 14500, 15000},
		"node@bookworm":    {30000, 31000, 33000},
		"node@trixie":      {31000, 32000, 34000},
	}
	var trials []lab.Trial
	for _, impl := range impls {
		for i, tp := range rate[impl.Name] {
			h := driver.NewHistogram()
			h.RecordValue(100)
			trials = append(trials, lab.Trial{Impl: impl.Name, Scenario: sc.Name, Step: "c100", Trial: i + 1, Seconds: 5,
				Lines: int64(tp * 5), Throughput: tp, Latency: results.PercentilesOf(h), Histogram: results.EncodeHistogram(h)})
		}
	}
	results.Summarize(f, trials)
	return f
}

func TestReleaseOverRelease(t *testing.T) {
	f := releaseRun()
	v := buildReleases(f)
	if strings.Join(v.Releases, ",") != "bookworm,trixie" || strings.Join(v.Same, ",") != "go-goroutine" {
		t.Fatalf("releases %v, same on every release %v", v.Releases, v.Same)
	}
	want := map[string]string{"threads": "better", "node": "within the noise"}
	if len(v.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(v.Rows), len(want), v.Rows)
	}
	for _, r := range v.Rows {
		if len(r.Cells) != 2 || r.Cells[0].Change != "" {
			t.Fatalf("%s: cells %+v; want two, the first without a change", r.Service, r.Cells)
		}
		if got := r.Cells[1].Verdict; got != want[r.Service] {
			t.Errorf("%s bookworm → trixie: %q (%s), want %q", r.Service, got, r.Cells[1].Change, want[r.Service])
		}
	}
	if got := baselineOf(f); got != "threads@trixie" {
		t.Errorf("baseline %q, want threads on the default release", got)
	}
	if v := buildReleases(fixture()); len(v.Rows) != 0 {
		t.Errorf("a run on one release has a release view: %+v", v)
	}
	page, err := Render(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `id="releases-table"`) {
		t.Error("the page has no release-over-release table")
	}
}
