//go:build docker

package runner

import (
	"context"
	"testing"
	"time"

	"github.com/linelab/linelab/lab/results"
)

// TestDockerDriverContainer runs the quick profile twice on the same two
// servers, once driven from this process and once from linelab/driver
// containers, and checks that the container's run is whole and that the
// two agree in ratio between the servers. Only ratios measured side by
// side in one run hold on this machine, so each run's ratio is taken
// within it, and they must agree within a factor of 1.6 (the servers'
// lines per CPU-second differ about fivefold).
func TestDockerDriverContainer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	impls := []string{"go-goroutine", "threads"}
	ratio := map[string]float64{}
	for _, drv := range []string{DriverLocal, DriverContainer} {
		opts := dockerOptions(t, t.TempDir())
		opts.Impls, opts.Scenarios, opts.Driver = impls, []string{"echo-sweep", "c10k-idle"}, drv
		_, dir, err := Run(ctx, opts)
		if err != nil {
			t.Fatalf("--driver %s: %v", drv, err)
		}
		f, err := results.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.Interrupted != "" || len(f.Failures) > 0 {
			t.Fatalf("--driver %s: interrupted %q, failures %+v", drv, f.Interrupted, f.Failures)
		}
		if drv == DriverContainer && (f.Environment.Driver != DriverContainer || f.Environment.Images["driver"].ID == "") {
			t.Errorf("results.json says driver %q, image %+v: want the container and its image recorded", f.Environment.Driver, f.Environment.Images["driver"])
		}
		per := map[string]float64{}
		for _, s := range f.Steps {
			for _, tr := range s.Trials {
				if want := map[string]string{DriverLocal: "", DriverContainer: DriverContainer}[drv]; tr.Driver != want {
					t.Errorf("--driver %s: %s %s/%s trial %d driven by %q", drv, s.Impl, s.Scenario, s.Step, tr.Trial, tr.Driver)
				}
				if tr.Lines <= 0 || tr.DriverCores <= 0 {
					t.Errorf("--driver %s: %s %s/%s trial %d: %d lines, driver %.2f cores", drv, s.Impl, s.Scenario, s.Step, tr.Trial, tr.Lines, tr.DriverCores)
				}
			}
			switch {
			case s.Scenario == "c10k-idle" && s.Summary.MemPerConn.Center <= 0:
				t.Errorf("--driver %s: %s idle: no memory per connection (the hold was not measured)", drv, s.Impl)
			case s.Scenario == "echo-sweep" && s.Step == "c100":
				per[s.Impl] = s.Summary.LinesPerCPU.Center
			}
		}
		if per["threads"] <= 0 || per["go-goroutine"] <= 0 {
			t.Fatalf("--driver %s: lines per CPU-second at c100 %v", drv, per)
		}
		ratio[drv] = per["go-goroutine"] / per["threads"]
		t.Logf("--driver %s: go-goroutine %.0f, threads %.0f lines per CPU-second at c100: ratio %.2f", drv, per["go-goroutine"], per["threads"], ratio[drv])
	}
	if q := ratio[DriverContainer] / ratio[DriverLocal]; q < 1/1.6 || q > 1.6 {
		t.Errorf("go-goroutine/threads at c100: %.2f driven locally, %.2f from the container; want them within a factor of 1.6", ratio[DriverLocal], ratio[DriverContainer])
	}
}
