package driver

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/metrics"
)

// TestOpenLoopCost runs BenchmarkOpenOverClosed and fails when the open
// loop costs the driver more than analysis.MaxOpenOverClosed times a closed
// loop at the same rate per line. It reads a benchmark's result, so it runs only when asked
// (LINELAB_DRIVER_COST=1, `make check-driver`), pinned as the benchmark
// says, and only on a quiet machine: when another process kept a core
// busy in the second before, it skips and says so.
func TestOpenLoopCost(t *testing.T) {
	if os.Getenv("LINELAB_DRIVER_COST") == "" {
		t.Skip("a check over a benchmark's result: LINELAB_DRIVER_COST=1 (make check-driver) runs it on a quiet machine")
	}
	cores, err := metrics.StartCores([]int{0, 1})
	if err != nil {
		t.Skipf("cannot read the cores' load: %v", err)
	}
	from := time.Now()
	time.Sleep(time.Second)
	busy := cores.Busy(from, time.Now())
	cores.Stop()
	if busy > 0.2 {
		t.Skipf("not a quiet machine: a core was %.0f%% busy in the second before; run it again when nothing else runs", 100*busy)
	}
	// The median of three runs: one stray second does not decide.
	var ratios []float64
	for range 3 {
		r := testing.Benchmark(BenchmarkOpenOverClosed)
		t.Logf("%d rounds: µs of driver CPU a line: open %.2f, closed paced to its rate %.2f, closed saturated %.2f: open ÷ paced %.2f (÷ saturated %.2f)",
			r.N, r.Extra["open-µs/line"], r.Extra["paced-µs/line"], r.Extra["closed-µs/line"], r.Extra["open/paced"], r.Extra["open/closed"])
		if r.N == 0 || r.Extra["open/paced"] <= 0 {
			t.Fatal("the benchmark gave no ratio")
		}
		ratios = append(ratios, r.Extra["open/paced"])
	}
	slices.Sort(ratios)
	ratio := ratios[1]
	if ratio > analysis.MaxOpenOverClosed {
		t.Errorf("the open loop costs the driver %.2f× a closed loop at its rate per line, over %.1f", ratio, analysis.MaxOpenOverClosed)
	}
}
