package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/results"
)

// startReference starts the calibration server, go-eventloop in echo
// mode, on the server core: the fastest server there is, so what limits it
// is most likely the driver. It stays for the whole run as the canary,
// paused between uses.
func (r *runner) startReference(ctx context.Context) error {
	var impl lab.Implementation
	for _, s := range r.plan.Catalog.Servers {
		if s.Name == "go-eventloop" {
			impl = s
		}
	}
	if impl.Name == "" {
		return fmt.Errorf("compose.yaml has no go-eventloop service to calibrate against")
	}
	ok, err := r.rt.ImageExists(ctx, impl.Image)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the calibration server's image %s is missing", impl.Image)
	}
	s, err := r.startServer(ctx, impl, lab.Echo)
	if err != nil {
		return fmt.Errorf("start the calibration server: %w", err)
	}
	s.impl.Name = "reference"
	r.ref = s
	return nil
}

// calibrate measures the driver's ceiling and its cost per line against
// the reference server, for a closed loop at 100 connections, a pipelined
// one, an open loop at 40,000 lines/s and a closed loop paced to the same
// rate on the same 50 connections (the open loop's reference,
// analysis.OpenOverClosed). The closed, paced and open loops run in
// alternating rounds and each figure is the median of its rounds: the
// machine drifts within seconds, and their ratio must compare the loops
// under the same drift.
func (r *runner) calibrate(ctx context.Context) error {
	defer r.ref.c.Pause(context.WithoutCancel(ctx))
	rounds, d := 2, 500*time.Millisecond
	if r.opts.Profile != lab.Quick {
		rounds, d = 3, time.Second
	}
	c := &results.Calibration{Against: "go-eventloop", OpenRate: 40000,
		DriverUS: map[string]float64{}, ServerUS: map[string]float64{}, DriverCoreBusy: map[string]float64{}}
	loops := map[string]struct {
		step lab.Step
		rate *float64
	}{
		lab.CalClosed:    {lab.Step{Loop: lab.Closed, Connections: 100, Depth: 1}, &c.Closed},
		lab.CalPipelined: {lab.Step{Loop: lab.Closed, Connections: 50, Depth: 16}, &c.Pipelined},
		lab.CalOpen:      {lab.Step{Loop: lab.Open, Connections: 50, Rate: int(c.OpenRate)}, &c.Open},
		lab.CalPaced:     {lab.Step{Loop: lab.Closed, Connections: 50, Depth: 1, Rate: int(c.OpenRate)}, &c.Paced},
	}
	order := []string{lab.CalPipelined}
	for range rounds {
		order = append(order, lab.CalClosed, lab.CalPaced, lab.CalOpen)
	}
	got := map[string][]calibration{}
	for _, name := range order {
		m, err := r.calibrateLoop(ctx, name, loops[name].step, d)
		if err != nil {
			return err
		}
		got[name] = append(got[name], m)
	}
	for name, ms := range got {
		med := func(f func(calibration) float64) float64 {
			var v []float64
			for _, m := range ms {
				v = append(v, f(m))
			}
			return analysis.Median(v)
		}
		c.DriverUS[name] = med(func(m calibration) float64 { return m.driverUS })
		c.ServerUS[name] = med(func(m calibration) float64 { return m.serverUS })
		if r.driverCores != nil {
			c.DriverCoreBusy[name] = med(func(m calibration) float64 { return m.busy })
		}
		*loops[name].rate = med(func(m calibration) float64 { return m.rate })
	}
	r.calib = c
	if ratio, _, ok := analysis.OpenOverClosed(c.DriverUS); ok && ratio > analysis.MaxOpenOverClosed {
		msg := fmt.Sprintf("the open loop cost the driver %.2f× a closed loop at the same rate per line in calibration, over %.1f: open-loop latencies may carry the driver's own delay (`make check-driver` checks the driver on a quiet machine)", ratio, analysis.MaxOpenOverClosed)
		r.say("lab: %s", msg)
		r.w.Update(func(f *results.File) { f.Warnings = append(f.Warnings, msg) })
	}
	r.say("lab: driver against %s: closed c100 %.0f lines/s (driver %.1f µs/line, server %.1f); pipelined %.0f lines/s (%.2f, %.2f); open at %.0f/s %.0f lines/s (%.1f, %.1f); closed paced to it %.0f lines/s (%.1f, %.1f)",
		c.Against, c.Closed, c.DriverUS[lab.CalClosed], c.ServerUS[lab.CalClosed], c.Pipelined, c.DriverUS[lab.CalPipelined], c.ServerUS[lab.CalPipelined],
		c.OpenRate, c.Open, c.DriverUS[lab.CalOpen], c.ServerUS[lab.CalOpen], c.Paced, c.DriverUS[lab.CalPaced], c.ServerUS[lab.CalPaced])
	return r.w.Update(func(f *results.File) { f.Calibration = c })
}

// calibration is one round of one calibration loop.
type calibration struct{ rate, driverUS, serverUS, busy float64 }

// calibrateLoop runs one round of a calibration loop against the
// reference server, through the driver that runs the steps: its ceiling
// is theirs.
func (r *runner) calibrateLoop(ctx context.Context, name string, step lab.Step, d time.Duration) (calibration, error) {
	step.Name, step.Payload = "calibrate-"+name, "calibrate"
	res, _, err := r.drive(ctx, driver.Config{
		Addr: r.ref.c.Addr(ServerPort), Warmup: 300 * time.Millisecond, Duration: d,
		Step: step, Answer: driver.Answers(lab.Echo),
	}, lab.Echo, nil)
	if err != nil {
		return calibration{}, err
	}
	if res.Lines == 0 {
		return calibration{}, fmt.Errorf("%s loop: no answers (%s)", name, res.FirstError)
	}
	r.ref.sampler.Now()
	win, err := r.ref.sampler.Window(res.From, res.To)
	if err != nil {
		return calibration{}, fmt.Errorf("%s loop: %w", name, err)
	}
	m := calibration{rate: res.Throughput(), driverUS: float64(res.DriverCPU.Microseconds()) / float64(res.Lines),
		serverUS: win.CPUSeconds * 1e6 / float64(res.Lines)}
	if r.driverCores != nil {
		m.busy = r.driverCores.Busy(res.From, res.To)
	}
	return m, nil
}
