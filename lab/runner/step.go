package runner

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/metrics"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
	"github.com/linelab/linelab/lab/upstream"
)

const (
	// quietBusy: a step starts once the server core is under this busy
	// share, waiting at most quietWait.
	quietBusy   = 0.1
	driverQuiet = 0.5 // the upstream's idle work and the samplers stay below
	quietWait   = 2 * time.Second
	// quietWaitBehind is the wait of a run behind its budget: it still
	// gives the cores a look or several, and records how busy the server's
	// was, so a trial that started busy is known.
	quietWaitBehind = 300 * time.Millisecond
	// quietLook is how long one look at the cores lasts: five of the
	// kernel's 10 ms ticks, so a core under 10% busy had none.
	quietLook = 50 * time.Millisecond
)

// trial runs one trial of a step on one server: the canary first, then the
// server alone on its core (the others paused), and again once if the
// canary says the machine had moved and the run can afford it: a run behind
// its budget keeps the trial, whose canary flags it noisy in the report. ov holds
// what was spent on the trial before it began (a renewed container).
func (r *runner) trial(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, pt plan.Trial, ov lab.Overhead) {
	spec := sc.Profiles[r.opts.Profile]
	which := fmt.Sprintf("trial %d/%d", pt.Trial, plan.BaseTrials(sc, def.Name, r.opts.Profile))
	switch pt.Kind {
	case plan.Extra:
		which = fmt.Sprintf("extra trial %d (its rank is undecided)", pt.Trial)
	case plan.Side:
		which += " (decides nothing)"
	}
	r.say("[%*d/%d] %s · %s/%s · %s · about %s left", len(fmt.Sprint(r.prog.all)), r.prog.count, r.prog.all,
		s.impl.Name, sc.Name, def.Name, which, r.left().Round(time.Second))
	r.prog.counted += pt.Cost
	for attempt := 0; ; attempt++ {
		began := time.Now()
		canary, age := r.canaryFor(ctx, &ov, attempt > 0)
		t := r.runOn(ctx, s, sc, def, pt.Trial, &ov)
		if t == nil {
			return
		}
		t.Canary, t.CanaryAge, t.Order, t.Repeated, t.Kind = canary, age.Seconds(), pt.Order, attempt > 0, string(pt.Kind)
		window := spec.Warmup.D().Seconds() + t.Seconds
		ov.Other = max(0, time.Since(began).Seconds()-window-ov.Canary-ov.Pause-ov.Quiet-ov.Start)
		t.Overhead = &ov
		r.prog.spent += time.Since(began)
		med := analysis.Median(r.mem.canaries)
		key := sc.Name + "/" + def.Name
		if attempt == 0 && len(r.mem.canaries) >= 5 && analysis.Repeat(canary, med) && r.mem.repeats[key] < r.repeatBudget(sc) && !r.behind() && ctx.Err() == nil {
			r.mem.repeats[key]++
			r.say("lab: the canary read %.0f lines/s, %.0f%% off the run's median %.0f: running the trial again", canary, 100*(canary/med-1), med)
			// The trial set aside is what its repetition cost.
			ov = lab.Overhead{Repeat: time.Since(began).Seconds()}
			continue
		}
		r.remember(sc, def, t)
		if err := r.w.Add(*t); err != nil {
			r.say("lab: could not store a trial: %v", err)
		}
		return
	}
}

// remember keeps what later trials are pruned by: echo closed-loop rates,
// and each trial's ladder of open-loop rungs.
func (r *runner) remember(sc lab.Scenario, def lab.Step, t *lab.Trial) {
	// The floor is every ranking's reference, never a contender: its
	// place needs no deciding.
	if plan.Extras(sc, def.Name) && !r.isFloor(t.Impl) {
		if v, ok := analysis.TrialFigure(sc.Headline.Figure, *t); ok {
			key := sc.Name + "/" + def.Name
			if r.mem.figures[key] == nil {
				r.mem.figures[key] = map[string][]float64{}
			}
			r.mem.figures[key][t.Impl] = append(r.mem.figures[key][t.Impl], v)
		}
	}
	if def.Loop == lab.Closed && sc.Mode == lab.Echo {
		k := [2]string{t.Impl, sc.Name + "/" + def.Name}
		r.mem.closedRates[k] = append(r.mem.closedRates[k], t.Throughput)
	}
	if def.Loop == lab.Open {
		var failed int64
		for _, n := range t.Errors {
			failed += n
		}
		r.mem.addRung([2]string{t.Impl, sc.Name}, t.Trial, analysis.Rung{
			Step: def.Name, Rate: float64(def.Rate), Ran: true, P99US: float64(t.Latency.P99),
			Answers: t.Throughput, Errors: failed, Driver: t.DriverBound,
		})
	}
}

// isFloor reports whether impl is the floor server.
func (r *runner) isFloor(impl string) bool {
	return slices.ContainsFunc(r.plan.Impls, func(i lab.Implementation) bool { return i.Name == impl && i.Role == lab.RoleFloor })
}

// runOn runs the step on the server's container, or on a fresh one for an
// idle step, and returns the trial; nil when it yielded no measurement.
func (r *runner) runOn(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, trial int, ov *lab.Overhead) *lab.Trial {
	target := s
	began := time.Now()
	if def.Loop == lab.Idle {
		// Every idle trial gets a container that has served nothing yet:
		// runtimes keep memory they freed, which would hide what
		// connections cost.
		fresh, err := r.startServer(ctx, s.impl, sc.Mode)
		if err != nil {
			if ctx.Err() == nil {
				r.fail(s.impl.Name, sc.Name, def.Name, "could not start a fresh container for the idle step: "+err.Error())
			}
			return nil
		}
		ov.Start += time.Since(began).Seconds()
		defer func() {
			fresh.sampler.Stop()
			r.removeLater(fresh.c)
		}()
		target = fresh
	} else {
		if err := s.c.Unpause(ctx); err != nil {
			r.lost(ctx, s, sc, def, err)
			return nil
		}
		ov.Pause += time.Since(began).Seconds()
		defer func() {
			began := time.Now()
			s.c.Pause(context.WithoutCancel(ctx))
			ov.Pause += time.Since(began).Seconds()
		}()
	}
	quiet := time.Now()
	before := r.quiet(ctx)
	ov.Quiet += time.Since(quiet).Seconds()
	t := r.step(ctx, target, sc, def, trial)
	if t == nil {
		return nil
	}
	t.ServerCoreBefore = before
	if target == s {
		r.checkAlive(ctx, s, sc, def, t)
		return t
	}
	// A fresh idle container that gave out is this step's result (how
	// many connections it held, and at what cost), not the end of the
	// implementation: the phase's own container is untouched.
	if st, err := target.c.State(ctx); err != nil || !st.Running || t.Connected < def.Connections {
		what := fmt.Sprintf("held %d of %d connections (working set %s, %d threads); first failure: %s",
			t.Connected, def.Connections, units.Bytes(float64(t.MemWorkingSetMax)), t.ThreadsMax, t.FirstError)
		if err == nil && !st.Running {
			what = fmt.Sprintf("exited with code %d (out of memory: %v) after it %s", st.ExitCode, st.OOMKilled, what)
		}
		r.fail(s.impl.Name, sc.Name, def.Name, what)
	}
	return t
}

// quietWait is the longest a trial waits for quiet cores: shorter in a
// run behind its budget, where the wait would cost the run its end.
func (r *runner) quietWait() time.Duration {
	if r.behind() {
		return quietWaitBehind
	}
	return quietWait
}

// repeatBudget is how many trials of one step may be run again
// (analysis.RepeatBudget over every implementation's trials).
func (r *runner) repeatBudget(sc lab.Scenario) int {
	return analysis.RepeatBudget(sc.Profiles[r.opts.Profile].Trials * len(r.plan.Impls))
}

// quiet waits, up to quietWait, until the server core is calm and the
// driver core has settled from the pauses and the canary (dockerd and
// runc run there too), and returns the server core's busy share when the
// step starts. Each look reads /proc/stat over quietLook from now, so a
// calm machine starts the step after one look.
func (r *runner) quiet(ctx context.Context) float64 {
	if r.serverCores == nil {
		return -1
	}
	deadline := time.Now().Add(r.quietWait())
	for {
		var b, d float64
		if r.driverCores != nil {
			// Both at once: two looks side by side over the same span.
			done := make(chan float64, 1)
			go func() { done <- r.driverCores.Measure(ctx, quietLook) }()
			b, d = r.serverCores.Measure(ctx, quietLook), <-done
		} else {
			b = r.serverCores.Measure(ctx, quietLook)
		}
		if b >= 0 && b < quietBusy && d < driverQuiet || time.Now().After(deadline) || ctx.Err() != nil {
			return b
		}
	}
}

// step drives one step against a running server and measures it.
func (r *runner) step(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, trial int) *lab.Trial {
	spec := sc.Profiles[r.opts.Profile]
	roundNS, ok := r.prepare(ctx, s, sc, &def, trial)
	if !ok {
		return nil
	}
	s.sampler.ResetPeak()
	base, err := s.sampler.Now()
	if err != nil {
		r.lost(ctx, s, sc, def, err)
		return nil
	}
	var held metrics.Window
	var heldErr error
	heldSpan := func(from, to time.Time) {
		// The connections were open and idle, and the server settled: read
		// what they cost.
		s.sampler.Now()
		held, heldErr = s.sampler.Window(from, to)
	}
	// The scheduler's counters at the window's edges (the driver calls
	// Mark there); a driver in a container has no such hook, and its
	// trials go without them.
	var edges [2]metrics.Tasks
	var edgeErr [2]error
	cfg := driver.Config{
		Addr: s.c.Addr(ServerPort), Step: def, Warmup: spec.Warmup.D(), Duration: spec.Duration.D(),
		Answer: driver.Answers(sc.Mode), Variant: driver.Variants(sc.Mode),
		Mark: func(i int) { edges[i], edgeErr[i] = s.sampler.Tasks("") },
	}
	undo, ok := r.inject(ctx, s, sc, def, &cfg)
	if !ok {
		return nil
	}
	res, by, err := r.drive(ctx, cfg, sc.Mode, heldSpan)
	if undo != nil {
		undo()
	}
	if err != nil {
		r.fail(s.impl.Name, sc.Name, def.Name, err.Error())
		return nil
	}
	if ctx.Err() != nil {
		return nil // an interrupted trial is not a measurement
	}
	s.sampler.Now()
	win, err := s.sampler.Window(res.From, res.To)
	if err == nil && def.Loop == lab.Idle {
		err = heldErr
	}
	if err != nil {
		r.fail(s.impl.Name, sc.Name, def.Name, fmt.Sprintf("trial %d not kept: %v", trial, err))
		return nil
	}
	t := newTrial(s.impl.Name, sc, def, trial, res, base, win)
	t.Driver = by
	if edgeErr[0] == nil && edgeErr[1] == nil && !edges[0].T.IsZero() && !edges[1].T.IsZero() {
		t.Sched = metrics.Sched(edges[0], edges[1])
	}
	if r.driverCores != nil {
		t.DriverCoreBusy = r.driverCores.Busy(res.From, res.To)
	}
	if res.Hog != nil {
		t.Hog = hogTrial(res.Hog, def.Hog, roundNS, win.CPUSeconds, t)
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
	r.judge(ctx, s, sc, def, t, res)
	return t
}

// prepare readies what a trial needs besides the server: the upstream's
// behaviour in fetch mode, and a hog step's heavy line sized for the
// server (its CPU per round, in ns, is returned).
func (r *runner) prepare(ctx context.Context, s *server, sc lab.Scenario, def *lab.Step, trial int) (float64, bool) {
	if sc.Mode == lab.Fetch {
		if err := r.upControl.set(ctx, behaviour(sc, *def)); err != nil {
			r.fail(s.impl.Name, sc.Name, def.Name, "could not set the upstream: "+err.Error())
			return 0, false
		}
		r.upControl.reset(ctx)
	}
	if def.Hog == nil {
		return 0, true
	}
	hog, ns, err := r.sizeHog(ctx, s, *def)
	if err != nil {
		r.fail(s.impl.Name, sc.Name, def.Name, fmt.Sprintf("trial %d not run: %v", trial, err))
		return 0, false
	}
	def.Hog = hog
	return ns, true
}

// newTrial is what the driver and the server's samples measured in a
// trial's window.
func newTrial(impl string, sc lab.Scenario, def lab.Step, trial int, res *driver.Result, base metrics.Sample, win metrics.Window) *lab.Trial {
	t := &lab.Trial{
		Impl: impl, Scenario: sc.Name, Step: def.Name, Trial: trial,
		Started: res.From.UTC(), Seconds: res.Elapsed.Seconds(), Lines: res.Lines, Late: res.Late, InFlight: res.InFlight,
		Throughput: res.Throughput(), Offered: res.Offered,
		Latency: results.PercentilesOf(res.Latency), Errors: map[lab.FailClass]int64{}, FirstError: res.FirstError,
		CPUSeconds: win.CPUSeconds, ServerCores: win.CPUSeconds / res.Elapsed.Seconds(),
		MemBaseline: base.WorkingSet, MemWorkingSetMax: win.WorkingSetMax, MemPeak: win.Peak, ThreadsMax: win.ThreadsMax,
		DriverCores: res.DriverCPU.Seconds() / res.Elapsed.Seconds(), DriverCoreBusy: -1,
		Histogram:  results.EncodeHistogram(res.Latency),
		Reconnects: res.Reconnects, Timeline: res.Timeline, Fairness: analysis.Fairness(res.PerConn),
	}
	if win.CPUSeconds > 0 {
		t.LinesPerCPUSecond = float64(res.Lines) / win.CPUSeconds
	}
	if res.Uncorrected != nil {
		p := results.PercentilesOf(res.Uncorrected)
		t.Uncorrected = &p
		t.UncorrectedHistogram = results.EncodeHistogram(res.Uncorrected)
	}
	if res.SendLag != nil {
		p := results.PercentilesOf(res.SendLag)
		t.SendLag = &p
	}
	for c, n := range res.Errors {
		t.Errors[c] += n
	}
	return t
}

// judge flags the trial driver- or upstream-bound (analysis.Judge), and in
// fetch mode checks that every answer came from the upstream.
func (r *runner) judge(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, t *lab.Trial, res *driver.Result) {
	load := analysis.Load{
		Loop: def.Loop, Fetch: sc.Mode == lab.Fetch,
		Throughput: t.Throughput, Ceiling: r.ceiling(def), CoreBusy: t.DriverCoreBusy, DriverCores: t.DriverCores,
		ServerCores: t.ServerCores,
	}
	if t.SendLag != nil {
		load.SendLagP99 = float64(t.SendLag.P99)
	}
	if sc.Mode == lab.Fetch {
		load.Ideal = analysis.StepIdeal(sc, def)
		r.upSampler.Now()
		// Without two samples of the upstream the trial is judged as if it
		// were idle: its own figures stand, only upstream-bound cannot be said.
		if up, err := r.upSampler.Window(res.From, res.To); err == nil {
			t.UpstreamCores = up.CPUSeconds / res.Elapsed.Seconds()
		}
		load.Upstream = t.UpstreamCores
		if st, err := r.upControl.stats(ctx); err == nil {
			t.UpstreamServed = st.Translated
			if st.Translated < res.Lines {
				r.fail(s.impl.Name, sc.Name, def.Name, fmt.Sprintf("answered %d fetch lines but the upstream translated only %d: answers did not all come from the upstream", res.Lines, st.Translated))
			}
		}
	}
	b := analysis.Judge(load)
	t.DriverBound, t.UpstreamBound, t.BoundBy = b.Driver, b.Upstream, b.Why
}

// ceiling is the driver's calibrated capacity for this kind of load; 0
// when none applies (an open loop is judged by its send lag and its core,
// churn and idle steps count connections, not lines).
func (r *runner) ceiling(def lab.Step) float64 {
	if r.calib == nil || def.Loop != lab.Closed {
		return 0
	}
	if def.Depth > 1 {
		return r.calib.Pipelined
	}
	return r.calib.Closed
}

// checkAlive records a server that crashed or stopped answering in this
// step, and reports whether it is still there. A failure is the step's
// result: the rest of the step's trials are skipped, and a fresh container
// serves the next step.
func (r *runner) checkAlive(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, t *lab.Trial) bool {
	st, err := s.c.State(ctx)
	if err != nil || !st.Running {
		r.lost(ctx, s, sc, def, err)
		return false
	}
	if t.Lines > 0 || t.Late > 0 {
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := r.rt.WaitProtocol(pctx, s.c.Addr(ServerPort)); err != nil && ctx.Err() == nil {
		r.stepFailed(s, sc, def, fmt.Sprintf("stopped answering (%s)", t.FirstError))
		return false
	}
	return true
}

// lost records a server whose container went away or could not be
// reached during a step, with how it ended.
func (r *runner) lost(ctx context.Context, s *server, sc lab.Scenario, def lab.Step, cause error) {
	if ctx.Err() != nil {
		return // the run was stopped, not the server
	}
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
	r.stepFailed(s, sc, def, fmt.Sprintf("%s; last output: %s", why, tail(logs, 300)))
}

// stepFailed records the step as failed for the server and marks its
// container for renewal (runner.renew) before its next step.
func (r *runner) stepFailed(s *server, sc lab.Scenario, def lab.Step, why string) {
	r.fail(s.impl.Name, sc.Name, def.Name, why+"; its other steps run on a fresh container")
	r.failed[[3]string{s.impl.Name, sc.Name, def.Name}] = true
	s.broken = true
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

// estimate fills the progress counters from the plan: its trials less
// those a resumed run has.
func (r *runner) estimate() {
	base := r.sched.Base()
	r.prog.all, r.prog.total = len(base), plan.Cost(base)
	if b := r.opts.Budget; b > 0 && r.prog.total > b && len(r.prog.extraSteps) > 0 {
		r.say("lab: the plan's trials come to about %s by its estimate (before the ladders are pruned), over the budget of %s: extra trials will run only if the run turns out faster, and steps that decide nothing may keep one trial", r.prog.total.Round(time.Minute), b)
	}
}

// left is the estimated time to the end of the plan's trials: the plan's
// cost of those not yet run, scaled by how the trials run so far compare
// with what the plan counted for them.
func (r *runner) left() time.Duration {
	return max(r.scaled(r.prog.total-r.prog.done), 0)
}

// addSetup counts time spent outside the trials (servers, conformance,
// calibration) in the run's record.
func (r *runner) addSetup(d time.Duration) {
	r.w.Update(func(f *results.File) { f.Time.Setup += d.Seconds() })
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
