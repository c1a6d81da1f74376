package runner

import (
	"context"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/driver"
)

// canaryStep is the fixed reference measured before every trial.
var canaryStep = lab.Step{Name: "canary", Loop: lab.Closed, Connections: 50, Depth: 1, Payload: "canary"}

// canaryAge is how long a steady canary reading stands for the trials
// after it: the machine drifts over seconds to minutes, so a reading a few
// trials old still says how fast it was, and a canary before every trial
// costs about as much as a short trial.
const canaryAge = 15 * time.Second

// canaryFor is the canary reading a trial is judged by, and how old it is:
// the last one while it is younger than canaryAge and was steady (within
// analysis.CanaryTolerance of the run's median), else a new one (always
// for a trial run again because the canary moved).
func (r *runner) canaryFor(ctx context.Context, ov *lab.Overhead, fresh bool) (float64, time.Duration) {
	if last := r.mem.lastCanary; !fresh && last.v > 0 && time.Since(last.at) < canaryAge && len(r.mem.canaries) >= 5 &&
		!analysis.Drifted(last.v, analysis.Median(r.mem.canaries)) {
		return last.v, time.Since(last.at)
	}
	v := r.canary(ctx, ov)
	r.mem.lastCanary.v, r.mem.lastCanary.at = v, time.Now()
	return v, 0
}

// canary measures the reference server briefly; 0 when there is none.
func (r *runner) canary(ctx context.Context, ov *lab.Overhead) float64 {
	if r.ref == nil || ctx.Err() != nil {
		return 0
	}
	began := time.Now()
	defer func() { ov.Canary += time.Since(began).Seconds() }()
	if err := r.ref.c.Unpause(ctx); err != nil {
		return 0
	}
	defer r.ref.c.Pause(context.WithoutCancel(ctx))
	// In this process whatever drives the steps: the canary measures the
	// machine, and a container start per trial would cost more than the
	// canary itself. A run the lab only steers has no load from this
	// process: there it is a driver container too.
	cfg := driver.Config{
		Addr: r.ref.c.Addr(ServerPort), Step: canaryStep, Warmup: 100 * time.Millisecond, Duration: 250 * time.Millisecond,
		Answer: driver.Answers(lab.Echo), Grace: time.Second,
	}
	var res *driver.Result
	var err error
	if r.plan.Topology.steered() {
		res, _, err = r.drive(ctx, cfg, lab.Echo, nil)
	} else {
		res, err = driver.Run(ctx, cfg)
	}
	if err != nil || len(res.Errors) > 0 || ctx.Err() != nil {
		return 0
	}
	v := res.Throughput()
	r.mem.canaries = append(r.mem.canaries, v)
	return v
}
