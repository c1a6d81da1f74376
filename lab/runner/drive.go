package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/engine"
)

// drive runs one step's load against cfg.Addr, in this process or, with
// DriverContainer, in a linelab/agent container on the driver's cores and
// the run's network (or, on a driver's engine of its own, its host's
// network, dialling the server's published port), and says which did it.
// held, when cfg.Hold is set, is told the span in which an idle step's
// connections were held. A step with
// a fault (Actions, Target) always runs here: its actions are timed inside
// the driver's window and act on containers only the lab can reach.
func (r *runner) drive(ctx context.Context, cfg driver.Config, mode lab.Mode, held func(from, to time.Time)) (*driver.Result, string, error) {
	if !r.plan.Topology.inContainer() || len(cfg.Actions) > 0 || cfg.Target != nil {
		if cfg.Hold == nil && held != nil {
			cfg.Hold = func() {
				from := time.Now()
				sleepCtx(ctx, driver.HoldFor)
				held(from, time.Now())
			}
		}
		res, err := driver.Run(ctx, cfg)
		return res, "", err
	}
	addr := cfg.Addr
	apart := r.plan.Topology.apart()
	if apart {
		r.mu.Lock()
		addr = r.farAddr[cfg.Addr]
		r.mu.Unlock()
		if addr == "" {
			return nil, "", fmt.Errorf("%s is published nowhere the driver's machine can reach", cfg.Addr)
		}
	}
	job, err := json.Marshal(driver.Job{
		Addr: addr, Mode: mode, Step: cfg.Step, Warmup: cfg.Warmup, Duration: cfg.Duration,
		Grace: cfg.Grace, Timeline: cfg.Timeline, DialTimeout: cfg.DialTimeout,
	})
	if err != nil {
		return nil, "", err
	}
	spec := engine.Spec{Image: AgentImage, Name: "driver", Network: r.nw, Cpuset: r.driverCPU(), Cmd: []string{"drive", string(job)}}
	if apart {
		// On the other machine's engine, on its host's network, dialling
		// the server's published port across the network.
		spec.Network, spec.HostNetwork = nil, true
	}
	out, code, err := r.driverRT.RunToEnd(ctx, spec)
	if err != nil {
		return nil, "", fmt.Errorf("driver container: %w", err)
	}
	w, err := driver.ReadEvents(bytes.NewReader(out))
	if err != nil {
		return nil, "", fmt.Errorf("driver container (exit %d): %w", code, err)
	}
	res, err := w.Result()
	if err != nil {
		return nil, "", fmt.Errorf("driver container: %w", err)
	}
	if held != nil && !w.HeldFrom.IsZero() {
		held(w.HeldFrom, w.HeldTo)
	}
	return res, DriverContainer, nil
}
