package results

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
)

func meta() File {
	d := lab.Duration(time.Second)
	return File{
		RunID: "r1", Profile: lab.Quick, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Implementations: []lab.Implementation{{Name: "a"}, {Name: "b"}},
		Scenarios: []lab.Scenario{{Name: "s", Mode: "echo", LatencyBound: lab.Duration(time.Millisecond),
			Profiles: map[lab.Profile]lab.ProfileSpec{lab.Quick: {Duration: d, Trials: 3}},
			Steps:    []lab.Step{{Name: "r1k", Loop: lab.Open, Connections: 1, Rate: 1000}, {Name: "r2k", Loop: lab.Open, Connections: 1, Rate: 2000}}}},
	}
}

func trial(impl, step string, n int, tput float64, p99 int64) lab.Trial {
	h := hdrhistogram.New(1, 100_000_000, 3)
	h.RecordValue(p99)
	return lab.Trial{Impl: impl, Scenario: "s", Step: step, Trial: n, Throughput: tput, Lines: int64(tput),
		Latency: lab.Percentiles{P99: p99, P50: p99}, Histogram: EncodeHistogram(h), Errors: map[lab.FailClass]int64{}}
}

// TestStreamAndRebuild writes a run as the runner does, with a torn last
// line as a killed run leaves, and rebuilds results.json from disk.
func TestStreamAndRebuild(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, meta())
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		for _, tr := range []lab.Trial{trial("a", "r1k", n, 1000, 500), trial("a", "r2k", n, 1990, 900), trial("b", "r1k", n, 1000, 800), trial("b", "r2k", n, 1500, 5000)} {
			if err := w.Add(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	f, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Steps) != 4 || f.Steps[0].Summary.Throughput.N != 3 {
		t.Fatalf("steps %d", len(f.Steps))
	}
	knees := map[string]float64{}
	for _, k := range f.Knees {
		knees[k.Impl] = k.Rate
	}
	if knees["a"] != 2000 || knees["b"] != 1000 {
		t.Errorf("knees %v; want a at 2000 (p99 within 1 ms), b at 1000", knees)
	}
	// Round trip: results.json loads back to the same thing.
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(f)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Error("results.json does not round-trip")
	}
	h, err := DecodeHistogram(back.Steps[0].Trials[0].Histogram)
	if err != nil || h.ValueAtQuantile(99) < 499 || h.ValueAtQuantile(99) > 501 {
		t.Errorf("histogram round trip: %v", err)
	}
	// A torn line at the end is dropped with a warning, the rest kept.
	tf, _ := os.OpenFile(filepath.Join(dir, TrialsFile), os.O_APPEND|os.O_WRONLY, 0)
	tf.WriteString(`{"impl":"a","scen`)
	tf.Close()
	again, err := Rebuild(dir)
	if err != nil || len(again.Steps) != 4 || len(again.Warnings) != 1 {
		t.Fatalf("rebuild after a torn line: %v, %d steps, warnings %v", err, len(again.Steps), again.Warnings)
	}
}

func TestStatOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []float64
		want lab.Stat
	}{
		{[]float64{3, 1, 2}, lab.Stat{Center: 2, Lo: 1, Hi: 3, N: 3}},
		{[]float64{4, 1, 3, 2}, lab.Stat{Center: 2.5, Lo: 1, Hi: 4, N: 4}},
		{nil, lab.Stat{}},
	} {
		if got := analysis.StatOf(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("StatOf(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzHistogramRoundTrip(f *testing.F) {
	f.Add(int64(1), int64(1000), uint8(10))
	f.Fuzz(func(t *testing.T, a, b int64, n uint8) {
		h := hdrhistogram.New(1, 100_000_000, 3)
		for _, v := range []int64{a, b} {
			if v >= 1 && v <= 100_000_000 {
				h.RecordValues(v, int64(n))
			}
		}
		back, err := DecodeHistogram(EncodeHistogram(h))
		if h.TotalCount() == 0 {
			return
		}
		if err != nil || !back.Equals(h) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// Knees are found per trial and given with their range; a climb the
// driver cut short is a lower bound; the canary's spread is summarised.
func TestKneesPerTrialAndCanary(t *testing.T) {
	f := meta()
	var ts []lab.Trial
	for n := 1; n <= 3; n++ {
		// a: sustains 1k; at 2k its p99 (2 ms) is over the 1 ms bound in
		// trials 1 and 2, and fine in trial 3.
		p99 := int64(2000)
		if n == 3 {
			p99 = 500
		}
		ts = append(ts, trial("a", "r1k", n, 1000, 500), trial("a", "r2k", n, 2000, p99))
		// b: sustains both, but the driver was bound at 2k.
		bt := trial("b", "r2k", n, 2000, 500)
		bt.DriverBound = true
		ts = append(ts, trial("b", "r1k", n, 1000, 500), bt)
	}
	for i := range ts {
		ts[i].Canary = 100
		if i == 0 {
			ts[i].Canary = 150
		}
	}
	Summarize(&f, ts)
	if len(f.Knees) != 2 {
		t.Fatalf("knees %+v", f.Knees)
	}
	a, b := f.Knees[0], f.Knees[1]
	if a.Rate != 1000 || a.Lo != 1000 || a.Hi != 2000 || a.AtLeast || !strings.Contains(a.Why, "over the bound at r2k") {
		t.Errorf("knee of a %+v, want 1k (1k–2k), decided by p99 at r2k", a)
	}
	if b.Rate != 1000 || !b.AtLeast || !strings.Contains(b.Why, "driver-bound at r2k") {
		t.Errorf("knee of b %+v, want at least 1k, cut by the driver", b)
	}
	if c := f.Canary; c == nil || c.Median != 100 || c.Hi != 150 || c.Drifted != 1 || c.N != 12 {
		t.Errorf("canary %+v", f.Canary)
	}
	if c := f.Steps[0].Summary.Canary; c.Hi != 1.5 || c.Center != 1 {
		t.Errorf("canary ratio %+v, want 1 (1–1.5)", c)
	}
}

// FuzzRebuildTornAndReordered rebuilds a run from its trials.jsonl with the
// lines in another order and the file cut anywhere, as a killed run or a
// hand-edited file leaves it. The reader must not fail or panic; a
// reordered file must give the same figures; a cut one keeps every whole
// line before the cut and says it dropped the torn one.
func FuzzRebuildTornAndReordered(f *testing.F) {
	var lines [][]byte
	for n := 1; n <= 3; n++ {
		for _, tr := range []lab.Trial{trial("a", "r1k", n, 1000, 500), trial("a", "r2k", n, 1990, 900), trial("b", "r1k", n, 1000, 800), trial("b", "r2k", n, 1500, 5000+int64(n))} {
			b, err := json.Marshal(tr)
			if err != nil {
				f.Fatal(err)
			}
			lines = append(lines, b)
		}
	}
	rebuild := func(t *testing.T, body []byte) *File {
		dir := t.TempDir()
		w, err := Create(dir, meta())
		if err != nil {
			t.Fatal(err)
		}
		w.f.Close()
		if err := os.WriteFile(filepath.Join(dir, TrialsFile), body, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := Rebuild(dir)
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		return out
	}
	join := func(ls [][]byte) []byte {
		var b []byte
		for _, l := range ls {
			b = append(append(b, l...), '\n')
		}
		return b
	}
	f.Add(uint64(0), uint16(0))
	f.Add(uint64(7), uint16(400))
	f.Add(uint64(12345), uint16(65535))
	f.Fuzz(func(t *testing.T, perm uint64, cut uint16) {
		whole := rebuild(t, join(lines))
		// A permutation of the lines from perm (Fisher–Yates on its bits).
		ls := slices.Clone(lines)
		for i := len(ls) - 1; i > 0; i-- {
			j := int(perm % uint64(i+1))
			perm /= uint64(i + 1)
			ls[i], ls[j] = ls[j], ls[i]
		}
		body := join(ls)
		if got := rebuild(t, body); !reflect.DeepEqual(figures(got), figures(whole)) {
			t.Errorf("reordered lines give other figures:\n%v\nwant\n%v", figures(got), figures(whole))
		}
		at := int(cut) % (len(body) + 1)
		torn := rebuild(t, body[:at])
		complete := strings.Count(string(body[:at]), "\n")
		rest := body[strings.LastIndexByte(string(body[:at]), '\n')+1 : at]
		if json.Valid(rest) { // cut right at a line's end: the line is whole
			complete++
		}
		n := 0
		for _, s := range torn.Steps {
			n += len(s.Trials)
		}
		if n != complete {
			t.Errorf("cut at %d: %d trials kept, want the %d whole lines", at, n, complete)
		}
		if len(rest) > 0 && !json.Valid(rest) && !strings.Contains(strings.Join(torn.Warnings, "\n"), "unreadable trial dropped") {
			t.Errorf("cut at %d inside a line: no warning", at)
		}
	})
}

// figures is what a reader of the run sees: every step's summary and
// every knee, without the order trials came in.
func figures(f *File) []any {
	var out []any
	for _, s := range f.Steps {
		out = append(out, s.Impl+"/"+s.Step, s.Summary)
	}
	for _, k := range f.Knees {
		k.Trials = slices.Clone(k.Trials)
		out = append(out, k)
	}
	return out
}

// FuzzDecodeHistogram: a histogram read back from trials.jsonl or a
// driver's output may be any bytes; DecodeHistogram returns one or an
// error, and one it returns encodes again.
func FuzzDecodeHistogram(f *testing.F) {
	h := hdrhistogram.New(1, 100_000_000, 3)
	h.RecordValue(1234)
	f.Add(EncodeHistogram(h))
	f.Add([]byte("HISTFAAAAB"))
	f.Add([]byte{})
	f.Add([]byte("not a histogram at all"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeHistogram(b)
		if err != nil {
			return
		}
		if EncodeHistogram(d) == nil {
			t.Errorf("DecodeHistogram(%q) gave a histogram that does not encode", b)
		}
	})
}
