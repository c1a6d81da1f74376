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
// loop costs the driver more than analysis.MaxOpenOverClosed times the closed
// loop per line. It reads a benchmark's result, so it runs only when asked
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
		t.Logf("%d rounds: closed %.2f µs of driver CPU a line, open %.2f: open ÷ closed %.2f", r.N, r.Extra["closed-µs/line"], r.Extra["open-µs/line"], r.Extra["open/closed"])
		if r.N == 0 || r.Extra["open/closed"] <= 0 {
			t.Fatal("the benchmark gave no ratio")
		}
		ratios = append(ratios, r.Extra["open/closed"])
	}
	slices.Sort(ratios)
	ratio := ratios[1]
	if ratio > analysis.MaxOpenOverClosed {
		t.Errorf("the open loop costs the driver %.2f× the closed loop per line, over %.1f", ratio, analysis.MaxOpenOverClosed)
	}
}
