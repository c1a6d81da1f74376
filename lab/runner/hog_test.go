package runner

import (
	"testing"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
)

func TestHogSizing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		lines  int64
		failed int
		cpu    float64
		wantNS float64
		rounds int // for 20 ms
		err    bool
	}{
		{lines: 15, cpu: 0.3, wantNS: 1000, rounds: 20_000},         // Python: 1 µs a round
		{lines: 50, cpu: 0.3, wantNS: 300, rounds: 66_667},          // Go
		{lines: 2, cpu: 0.3, err: true},                             // too few answers to size by
		{lines: 15, failed: 1, cpu: 0.3, err: true},                 // the probe failed
		{lines: 15, cpu: 0, err: true},                              // no CPU: the sampler missed it
		{lines: 100_000, cpu: 0.001, wantNS: 5e-4, rounds: 1000000}, // absurdly fast: N at the protocol's limit
	} {
		ns, err := roundCost(c.lines, c.failed, c.cpu)
		if (err != nil) != c.err {
			t.Errorf("%+v: error %v", c, err)
			continue
		}
		if c.err {
			continue
		}
		if d := ns/c.wantNS - 1; d > 1e-9 || d < -1e-9 {
			t.Errorf("%+v: %g ns a round, want %g", c, ns, c.wantNS)
		}
		if n := hogRounds(20*time.Millisecond, ns); n != c.rounds {
			t.Errorf("%+v: %d rounds for 20 ms, want %d", c, n, c.rounds)
		}
	}
	if n := hogRounds(20*time.Millisecond, 1e12); n != 1 {
		t.Errorf("a round slower than the line: %d rounds, want 1", n)
	}
	if lineproto.MaxWork != 1_000_000 {
		t.Fatalf("the protocol's limit moved: %d", lineproto.MaxWork)
	}
}

func TestHogTrial(t *testing.T) {
	t.Parallel()
	res := &driver.Result{Lines: 20, Latency: driver.NewHistogram(), Errors: map[driver.Class]int64{driver.ErrWrong: 1}, FirstError: "wrong"}
	res.Latency.RecordValue(20_000)
	tr := &lab.Trial{Errors: map[lab.FailClass]int64{"wrong": 2}}
	h := hogTrial(res, &lab.Hog{CPU: lab.Duration(20 * time.Millisecond), Rounds: 20_000}, 1000, 0.8, tr)
	if h.LineMS != 20 || h.CPUShare != 0.5 || h.Errors != 1 || tr.Errors["wrong"] != 3 || tr.FirstError == "" || h.Latency.P50 < 19_900 {
		t.Errorf("hog %+v, trial errors %v %q", h, tr.Errors, tr.FirstError)
	}
}
