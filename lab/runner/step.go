package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/metrics"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/runtime"
	"github.com/linelab/linelab/lab/upstream"
)

// driverBoundShare: a step whose throughput comes within 20% of the
// driver's calibrated ceiling, or whose driver used 90% of its core, may
// have measured the driver rather than the server.
const (
	driverBoundShare = 0.8
	driverBoundCores = 0.9
	stepOverhead     = 400 * time.Millisecond // set-up between steps, for the estimate
	maxSendLag       = time.Millisecond       // open loop: p99 of lines sent later than this
)

func (r *runner) step(ctx context.Context, s *server, sc lab.Scenario, st lab.Step, trial int) {
	def := st.For(r.opts.Profile)
	spec := sc.Profiles[r.opts.Profile]
	r.count++
	left := r.total - r.done
	r.say("[%*d/%d] %s · %s/%s · trial %d/%d · about %s left", len(fmt.Sprint(r.all)), r.count, r.all,
		s.impl.Name, sc.Name, def.Name, trial, spec.Trials, left.Round(time.Second))
	r.done += spec.Warmup.D() + spec.Duration.D() + stepOverhead

	if sc.Mode == "fetch" {
		if err := r.upc.set(ctx, behaviour(sc, def)); err != nil {
			r.fail(s.impl.Name, sc.Name, def.Name, "could not set the upstream: "+err.Error())
			return
		}
		r.upc.reset(ctx)
	}
	s.sampler.ResetPeak()
	base, err := s.sampler.Now()
	if err != nil {
		r.lost(ctx, s, sc, def, err)
		return
	}
	var held metrics.Window
	hold := func() {
		// The connections are open and idle: let the server settle, then
		// read what they cost.
		from := time.Now()
		sleepCtx(ctx, 500*time.Millisecond)
		s.sampler.Now()
		held = s.sampler.Window(from, time.Now())
	}
	res, err := driver.Run(ctx, driver.Config{
		Addr: s.c.Addr(ServerPort), Step: def, Warmup: spec.Warmup.D(), Duration: spec.Duration.D(),
		Answer: answerFunc(sc.Mode), Hold: hold,
	})
	if err != nil {
		r.fail(s.impl.Name, sc.Name, def.Name, err.Error())
		return
	}
	if ctx.Err() != nil {
		return // an interrupted trial is not a measurement
	}
	s.sampler.Now()
	win := s.sampler.Window(res.From, res.To)
	t := results.Trial{
		Impl: s.impl.Name, Scenario: sc.Name, Step: def.Name, Trial: trial,
		Started: res.From.UTC(), Seconds: res.Elapsed.Seconds(), Lines: res.Lines,
		Throughput: res.Throughput(), Offered: res.Offered,
		Latency: results.PercentilesOf(res.Latency), Errors: map[string]int64{}, FirstError: res.FirstError,
		CPUSeconds: win.CPUSeconds, ServerCores: win.CPUSeconds / res.Elapsed.Seconds(),
		MemBaseline: base.WorkingSet, MemWorkingSetMax: win.WorkingSetMax, MemPeak: win.Peak, ThreadsMax: win.ThreadsMax,
		DriverCores: res.DriverCPU.Seconds() / res.Elapsed.Seconds(),
		Histogram:   results.EncodeHistogram(res.Latency),
	}
	if win.CPUSeconds > 0 {
		t.LinesPerCPUSecond = float64(res.Lines) / win.CPUSeconds
	}
	if res.Uncorrected != nil {
		p := results.PercentilesOf(res.Uncorrected)
		t.Uncorrected = &p
		t.UncorrectedHistogram = results.EncodeHistogram(res.Uncorrected)
	}
	for c, n := range res.Errors {
		t.Errors[string(c)] = n
	}
	if def.Loop == lab.Idle {
		t.Connected = res.Connected
		t.MemWorkingSetMax = max(t.MemWorkingSetMax, held.WorkingSetMax)
		t.ThreadsMax = max(t.ThreadsMax, held.ThreadsMax)
		if res.Connected > 0 {
			t.MemPerConnection = float64(held.WorkingSetMax-base.WorkingSet) / float64(res.Connected)
			t.ThreadsPerConn = float64(held.ThreadsMax-base.Threads) / float64(res.Connected)
		}
	}
	if res.SendLag != nil {
		// An open loop's pacer spins, so its CPU says nothing; what says
		// the driver kept up is whether lines left on time.
		p := results.PercentilesOf(res.SendLag)
		t.SendLag = &p
		t.DriverBound = p.P99 > maxSendLag.Microseconds() || r.nearCeiling(def, t.Throughput)
	} else {
		t.DriverBound = t.DriverCores >= driverBoundCores || r.nearCeiling(def, t.Throughput)
	}
	if sc.Mode == "fetch" {
		if st, err := r.upc.stats(ctx); err == nil {
			t.UpstreamServed = st.Translated
			if st.Translated < res.Lines {
				r.fail(s.impl.Name, sc.Name, def.Name, fmt.Sprintf("answered %d fetch lines but the upstream translated only %d: answers did not all come from the upstream", res.Lines, st.Translated))
			}
		}
	}
	if err := r.w.Add(t); err != nil {
		r.say("lab: could not store a trial: %v", err)
	}
	r.checkAlive(ctx, s, sc, def, res)
}

// nearCeiling compares throughput with the calibrated capacity of the
// driver for this kind of load.
func (r *runner) nearCeiling(def lab.Step, tput float64) bool {
	if r.calib == nil {
		return false
	}
	ceiling := r.calib.Closed
	switch {
	case def.Loop == lab.Closed && def.Depth > 1, def.Loop == lab.Open:
		ceiling = r.calib.Pipelined
	case def.Loop == lab.Churn || def.Loop == lab.Idle:
		return false // connections, not lines: the calibration does not apply
	}
	return ceiling > 0 && tput >= driverBoundShare*ceiling
}

// checkAlive records a server that crashed or stopped answering, and takes
// it out of the rest of the run.
func (r *runner) checkAlive(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, res *driver.Result) {
	st, err := s.c.State(ctx)
	if err != nil || !st.Running {
		r.lost(ctx, s, sc, def, err)
		return
	}
	if res.Lines > 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := runtime.WaitProtocol(pctx, s.c.Addr(ServerPort)); err != nil && ctx.Err() == nil {
		r.markDead(s.impl.Name, sc.Name, def.Name, fmt.Sprintf("stopped answering (%s)", res.FirstError))
	}
}

func (r *runner) lost(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, cause error) {
	why := "is gone"
	if st, err := s.c.State(context.WithoutCancel(ctx)); err == nil {
		why = fmt.Sprintf("exited with code %d", st.ExitCode)
		if st.OOMKilled {
			why += fmt.Sprintf(", killed for memory over its %d MiB limit", r.opts.MemoryLimit>>20)
		}
		if st.Error != "" {
			why += ": " + st.Error
		}
	} else if cause != nil {
		why += " (" + cause.Error() + ")"
	}
	logs, _ := s.c.Logs(context.WithoutCancel(ctx))
	r.markDead(s.impl.Name, sc.Name, def.Name, fmt.Sprintf("%s; last output: %s", why, tail(logs, 300)))
}

func behaviour(sc lab.Scenario, def lab.Step) upstream.Behaviour {
	u := sc.Upstream
	if def.Upstream != nil {
		u = def.Upstream
	}
	if u == nil {
		return upstream.Behaviour{}
	}
	return upstream.Behaviour{
		Latency: u.Latency.D(), Jitter: u.Jitter.D(), ErrorRate: u.ErrorRate,
		SlowRate: u.SlowRate, SlowLatency: u.SlowLatency.D(),
	}
}

// calibrate measures the driver's ceiling against a Go event-loop server
// on the server core: the fastest server there is, so what limits it is
// most likely the driver.
func (r *runner) calibrate(ctx context.Context) error {
	var impl lab.Implementation
	for _, s := range r.plan.Catalog.Servers {
		if s.Name == "go-eventloop" {
			impl = s
		}
	}
	if impl.Name == "" {
		return fmt.Errorf("compose.yaml has no go-eventloop service to calibrate against")
	}
	s, err := r.startServer(ctx, impl, "echo")
	if err != nil {
		return err
	}
	defer func() { s.sampler.Stop(); r.remove(s.c) }()
	d := time.Second
	if r.opts.Profile == lab.Standard {
		d = 3 * time.Second
	}
	c := &results.Calibration{Against: impl.Name}
	for _, k := range []struct {
		depth int
		dst   *float64
	}{{1, &c.Closed}, {16, &c.Pipelined}} {
		res, err := driver.Run(ctx, driver.Config{
			Addr: s.c.Addr(ServerPort), Warmup: 300 * time.Millisecond, Duration: d,
			Step:   lab.Step{Name: "calibrate", Loop: lab.Closed, Connections: 50, Depth: k.depth, Payload: "calibrate"},
			Answer: answerFunc("echo"),
		})
		if err != nil {
			return err
		}
		*k.dst = res.Throughput()
	}
	r.calib = c
	r.say("lab: driver ceiling against %s: %.0f lines/s closed, %.0f lines/s pipelined", impl.Name, c.Closed, c.Pipelined)
	return r.w.Update(func(f *results.File) { f.Calibration = c })
}

// estimate fills the progress counters.
func (p *Plan) estimate(r *runner) {
	for _, sc := range p.Scenarios {
		spec := sc.Profiles[r.opts.Profile]
		per := spec.Warmup.D() + spec.Duration.D() + stepOverhead
		n := spec.Trials * len(p.Impls) * len(sc.Steps)
		r.all += n
		r.total += time.Duration(n) * per
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
