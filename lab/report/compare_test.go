package report

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/results"
)

// compareRun is a run made from fixed numbers: four implementations through
// a closed sweep, an open ladder and an idle step, with trials whose
// machine speed drifts by speed[i] (the canary reads it; rates follow it,
// lines per CPU-second do not, as measured) and whose figures carry the
// noise noise[i]. slower[impl] makes an implementation's rates
// that much lower: a real regression.
func compareRun(id string, speed, noise []float64, slower map[string]float64) *results.File {
	ms := func(d time.Duration) lab.Duration { return lab.Duration(d) }
	prof := map[lab.Profile]lab.ProfileSpec{lab.Standard: {Duration: ms(2 * time.Second), Warmup: ms(time.Second), Trials: len(speed)}}
	scens := []lab.Scenario{
		{Name: "echo-sweep", Mode: "echo", Profiles: prof, Headline: &lab.Headline{Step: "c100", Figure: lab.FigLinesPerCPU, Why: "cost"}, Steps: []lab.Step{
			{Name: "c1", Loop: lab.Closed, Connections: 1}, {Name: "c10", Loop: lab.Closed, Connections: 10}, {Name: "c100", Loop: lab.Closed, Connections: 100}}},
		{Name: "echo-rate", Mode: "echo", LatencyBound: ms(10 * time.Millisecond), Profiles: prof, Steps: []lab.Step{
			{Name: "r5k", Loop: lab.Open, Connections: 10, Rate: 5000}, {Name: "r20k", Loop: lab.Open, Connections: 10, Rate: 20000}}},
		{Name: "c10k-idle", Mode: "echo", Profiles: prof, Steps: []lab.Step{{Name: "c10000", Loop: lab.Idle, Connections: 10000}}},
	}
	impls := []lab.Implementation{{Name: "floor", Role: lab.RoleFloor}, {Name: "go-eventloop"}, {Name: "node"}, {Name: "threads"}}
	capacity := map[string]float64{"floor": 60000, "go-eventloop": 50000, "node": 25000, "threads": 12000}
	f := &results.File{Schema: results.Schema, RunID: id, Profile: lab.Standard, Scenarios: scens, Implementations: impls,
		Environment: results.Environment{Images: map[string]results.Image{"threads": {ID: "sha256:aaa"}, "node": {ID: "sha256:bbb"}}}}
	var trials []lab.Trial
	for _, sc := range scens {
		for _, impl := range impls {
			for si, st := range sc.Steps {
				for i, sp := range speed {
					rate := capacity[impl.Name] * sp * (1 + noise[i]) * (1 - slower[impl.Name]) * float64(si+1) / 3
					lat := driver.NewHistogram()
					for v := int64(1); v <= 100; v++ {
						lat.RecordValue(v * int64(50*(1+noise[(i+si)%len(noise)])))
					}
					t := lab.Trial{Impl: impl.Name, Scenario: sc.Name, Step: st.Name, Trial: i + 1, Throughput: rate,
						Latency: results.PercentilesOf(lat), Canary: 100000 * sp, MemPerConnection: 2000 * (1 + noise[i]), LinesPerCPUSecond: rate / sp / 0.9}
					if st.Loop == lab.Open {
						t.Throughput = float64(st.Rate)
					}
					trials = append(trials, t)
				}
			}
		}
	}
	results.Summarize(f, trials)
	return f
}

// Two runs of the same code, the second on a machine a third slower, and
// one server 20% slower in it: only that server's rates are flagged.
func TestCompareFindsTheRegression(t *testing.T) {
	t.Parallel()
	a := compareRun("A", []float64{1.0, 1.1, 0.9, 1.05, 0.95}, []float64{0.02, -0.01, 0, 0.01, -0.02}, nil)
	b := compareRun("B", []float64{0.6, 0.75, 0.7, 0.65, 0.8}, []float64{-0.015, 0.015, 0.005, -0.005, 0.01}, map[string]float64{"threads": 0.2})
	if err := Comparable(a, b, CompareOptions{}); err != nil {
		t.Fatal(err)
	}
	m := BuildCompare(a, b, 0)
	var flagged []string
	for _, d := range m.Deltas {
		if d.Verdict == analysis.Better || d.Verdict == analysis.Worse {
			flagged = append(flagged, d.Impl+" "+d.Scenario+"/"+d.Step+" "+d.Verdict.String()+" "+d.Change)
		}
		if d.Verdict == analysis.TooFew {
			t.Errorf("%s %s/%s: too few trials with 5 and 5", d.Impl, d.Scenario, d.Step)
		}
	}
	want := []string{"threads echo-sweep/c1 worse -21.2%", "threads echo-sweep/c10 worse -21.2%", "threads echo-sweep/c100 worse -21.2%",
		"threads echo-sweep/c100 (headline) worse -19.6%"}
	if strings.Join(flagged, "\n") != strings.Join(want, "\n") {
		t.Errorf("flagged:\n%s\nwant:\n%s", strings.Join(flagged, "\n"), strings.Join(want, "\n"))
	}
	if w := m.Worse(); len(w) != 4 || !strings.HasPrefix(w[0], "threads echo-sweep/c1 ") {
		t.Errorf("worse: %q, want the 4 threads figures", w)
	}
	if m.Changed != 4 || len(m.Deltas) != 4*6+4+4 {
		t.Errorf("changed %d of %d, want 4 of %d (24 steps, 4 headlines, 4 knees)", m.Changed, len(m.Deltas), 4*6+4+4)
	}
	var text bytes.Buffer
	if err := m.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"4 of 32 figures changed beyond the noise", "0.20× → 0.16× floor", "~ ("} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	if err := WriteCompare(filepath.Join(t.TempDir(), "c.html"), m); err != nil {
		t.Fatal(err)
	}
}

// Three trials a side can never pass the rank test at 5%: compare says
// so, and how many it would need, instead of calling changes.
func TestCompareTooFewTrials(t *testing.T) {
	t.Parallel()
	a := compareRun("A", []float64{1, 1.1, 0.9}, []float64{0.01, 0, -0.01}, nil)
	b := compareRun("B", []float64{1, 1.1, 0.9}, []float64{0.01, 0, -0.01}, map[string]float64{"node": 0.5})
	m := BuildCompare(a, b, 0)
	if m.Changed != 0 || m.Untestable != len(m.Deltas) {
		t.Errorf("changed %d, untestable %d of %d: want none called, all untestable", m.Changed, m.Untestable, len(m.Deltas))
	}
	if s := strings.Join(m.Summary(), "\n"); !strings.Contains(s, "fewer than the 4 trials a run the rank test needs") {
		t.Errorf("summary does not say what it would need:\n%s", s)
	}
}

func TestComparable(t *testing.T) {
	t.Parallel()
	speed, noise := []float64{1, 1, 1, 1}, []float64{0, 0, 0, 0}
	a, b := compareRun("A", speed, noise, nil), compareRun("B", speed, noise, nil)
	b.Profile = lab.Quick
	b.Environment.Images["node"] = results.Image{ID: "sha256:ccc"}
	err := Comparable(a, b, CompareOptions{})
	var nc *NotComparableError
	if !errors.As(err, &nc) || len(nc.Reasons) != 2 || !strings.Contains(err.Error(), "images of node differ") ||
		!strings.Contains(nc.Hint(), "--any-profile --any-images") {
		t.Fatalf("err %v", err)
	}
	if err := Comparable(a, b, CompareOptions{AnyProfile: true, AnyImages: true}); err != nil {
		t.Errorf("asked to compare anyway: %v", err)
	}
}

// A latency headline is compared trial by trial on its percentile.
func TestPercentileHeadline(t *testing.T) {
	t.Parallel()
	st := &results.StepResult{Trials: []lab.Trial{{Latency: lab.Percentiles{P50: 10, P99: 90, Count: 1}}, {Latency: lab.Percentiles{P50: 20, P99: 80, Count: 1}}}}
	for fig, want := range map[lab.Figure][]float64{lab.FigP50: {10, 20}, lab.FigP99: {90, 80}} {
		h, ok := headlineFigure(lab.Scenario{Headline: &lab.Headline{Step: "a", Figure: fig}})
		if got := h.sample(nil, st); !ok || h.name != string(fig)+" at a" || h.higher || fmt.Sprint(got) != fmt.Sprint(analysis.Sample(want)) {
			t.Errorf("%s: %q higher %v sample %v, want %v", fig, h.name, h.higher, got, want)
		}
	}
}
