package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/metrics"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
)

// startGate starts the container through which the lab reaches a remote
// engine's network and cgroups (engine.Dialer, engine.Sampler).
func (r *runner) startGate(ctx context.Context) error {
	c, err := r.rt.Start(ctx, engine.Spec{
		Image: AgentImage, Name: "gate", Network: r.nw, Cpuset: r.helperCPU(), Cmd: []string{"gate"}, Binds: engine.GateBinds,
	})
	if err != nil {
		return fmt.Errorf("the gate to the remote engine's network: %w", err)
	}
	r.keep(c)
	r.rt.SetGate(c)
	return nil
}

func (r *runner) startUpstream(ctx context.Context) error {
	up := r.plan.Catalog.Upstream
	c, err := r.rt.Start(ctx, engine.Spec{
		Image: up.Image, Name: up.Name, Network: r.nw, Aliases: []string{"upstream"},
		Cpuset: r.upstreamCPU(), Env: map[string]string{"PORT": "8080"},
	})
	if err != nil {
		return err
	}
	r.up = c
	r.keep(c)
	if r.upSampler, err = r.rt.Sampler(c); err != nil {
		return err
	}
	r.upControl = newUpstreamClient(c.Addr(8080), r.rt.Dialer())
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return r.upControl.waitHealthy(wctx, 100*time.Millisecond)
}

// server is one implementation's container in one phase.
type server struct {
	impl    lab.Implementation
	mode    lab.Mode
	c       *engine.Container
	sampler *metrics.Sampler
	broken  bool // its container failed a step: renew it before the next
}

// startAll starts the phase's servers, a few at once (a container's start
// is mostly waiting on dockerd and the runtime's boot), and pauses each as
// it is up; a server that does not start is out of the run.
func (r *runner) startAll(ctx context.Context, ph plan.Phase) ([]*server, error) {
	var impls []lab.Implementation
	for _, impl := range r.plan.Impls {
		if _, out := r.dead[impl.Name]; out || impl.Role == lab.RoleFloor && ph.Mode != lab.Echo {
			continue // the floor only echoes
		}
		impls = append(impls, impl)
	}
	started := make([]*server, len(impls))
	errs := make([]error, len(impls))
	slots := make(chan struct{}, startsAtOnce)
	var wg sync.WaitGroup
	for i, impl := range impls {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			s, err := r.startServer(ctx, impl, ph.Mode)
			if err == nil {
				if err = s.c.Pause(ctx); err != nil {
					s.sampler.Stop()
					r.remove(s.c)
					s = nil
				}
			}
			started[i], errs[i] = s, err
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		for _, s := range started {
			if s != nil {
				s.sampler.Stop()
				r.remove(s.c)
			}
		}
		return nil, ctx.Err()
	}
	var out []*server
	for i, s := range started {
		if errs[i] != nil {
			r.markDead(impls[i].Name, "", "", fmt.Sprintf("did not start in %s mode: %v", ph.Mode, errs[i]))
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// startsAtOnce bounds the servers a phase starts at once.
const startsAtOnce = 4

// renew replaces the container of a server that failed a step with a fresh
// one, paused like the others; a server that cannot start again leaves
// the run. It reports whether the server can go on.
func (r *runner) renew(ctx context.Context, s *server) bool {
	s.sampler.Stop()
	r.remove(s.c)
	fresh, err := r.startServer(ctx, s.impl, s.mode)
	if err == nil {
		if err = fresh.c.Pause(ctx); err != nil {
			fresh.sampler.Stop()
			r.remove(fresh.c)
		}
	}
	if err != nil {
		*s = server{impl: s.impl, mode: s.mode} // nothing left to remove
		if ctx.Err() == nil {
			r.markDead(s.impl.Name, "", "", fmt.Sprintf("did not start again after a failed step: %v", err))
		}
		return false
	}
	r.say("lab: %s: a fresh container for its next step", s.impl.Name)
	*s = *fresh
	return true
}

func (r *runner) startServer(ctx context.Context, impl lab.Implementation, mode lab.Mode) (*server, error) {
	env := map[string]string{}
	for k, v := range impl.Env {
		env[k] = v
	}
	env["MODE"] = string(mode)
	env["PORT"] = strconv.Itoa(ServerPort)
	// The upstream's address, not its name: no fetch waits on Docker's
	// DNS (PROTOCOL.md).
	env["UPSTREAM_URL"] = "http://" + r.up.Addr(8080)
	env["UPSTREAM_CLIENT"] = cmp.Or(r.client, lab.Pooled)
	c, err := r.rt.Start(ctx, engine.Spec{
		Image: impl.Image, Name: impl.Name, Env: env, Network: r.nw,
		Cpuset: r.serverCPU(), Memory: r.opts.MemoryLimit, Publish: r.plan.Topology.ServerAddress,
	})
	if err != nil {
		return nil, err
	}
	r.keep(c)
	if r.plan.Topology.apart() {
		// The driver on the other machine dials the published port.
		far, err := c.Published(ctx, ServerPort)
		if err != nil {
			r.remove(c)
			return nil, err
		}
		r.mu.Lock()
		r.farAddr[c.Addr(ServerPort)] = far
		r.mu.Unlock()
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := r.rt.WaitProtocol(wctx, c.Addr(ServerPort)); err != nil {
		logs, _ := c.Logs(context.WithoutCancel(ctx))
		r.remove(c)
		return nil, fmt.Errorf("%w; its output: %s", err, tail(logs, 400))
	}
	s := &server{impl: impl, mode: mode, c: c}
	if s.sampler, err = r.rt.Sampler(c); err != nil {
		r.remove(c)
		return nil, err
	}
	return s, nil
}

// memory is the server's working set as last sampled, for the
// conformance case that floods it.
func (s *server) memory() (int64, error) {
	smp, ok := s.sampler.Latest()
	if !ok {
		return 0, errors.New("no sample of the server's memory yet")
	}
	return smp.WorkingSet, nil
}

// keep adds a container to those to remove at the end.
func (r *runner) keep(c *engine.Container) {
	r.mu.Lock()
	r.live = append(r.live, c)
	r.mu.Unlock()
}

// removeLater removes a container that served its trial while the run
// goes on: stopping it and freeing its connections take longer than
// starting the next, and nothing measured reads it any more. A phase
// waits for every removal before its servers go.
func (r *runner) removeLater(c *engine.Container) {
	r.removing.Add(1)
	go func() {
		defer r.removing.Done()
		r.remove(c)
	}()
}

func (r *runner) remove(c *engine.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Terminate(ctx); err != nil {
		r.say("lab: %v", err)
	}
	r.mu.Lock()
	r.live = slices.DeleteFunc(r.live, func(x *engine.Container) bool { return x == c })
	r.mu.Unlock()
}

func (r *runner) cleanup() {
	if r.upSampler != nil {
		r.upSampler.Stop()
	}
	if r.ref != nil {
		r.ref.sampler.Stop()
	}
	r.mu.Lock()
	live := slices.Clone(r.live)
	r.mu.Unlock()
	for _, c := range live {
		r.remove(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.nw != nil {
		if err := r.nw.Remove(ctx); err != nil {
			r.say("lab: %v", err)
		}
	}
	for _, rt := range slices.Compact([]*engine.Runtime{r.rt, r.driverRT}) {
		if n, m, err := rt.Leftovers(ctx, r.runID); err != nil || n+m > 0 {
			msg := fmt.Sprintf("left behind %d containers and %d networks on %s (%v); `lab clean` removes them", n, m, rt.Address(), err)
			r.say("lab: %s", msg)
			r.w.Update(func(f *results.File) { f.Warnings = append(f.Warnings, msg) })
		}
	}
}
