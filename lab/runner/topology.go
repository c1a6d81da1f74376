package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/results"
)

// Topology is where a run's parts are: the servers' engine, the driver's,
// and where the load comes from. It is decided once, from the options
// (Options.topology) or from the record of a run being resumed; the runner
// asks its methods and never the options again. Its three shapes:
//
//   - here: the servers on this machine's engine; the load from this
//     process or, with --driver container, from a driver container;
//   - remote: the servers on another machine's engine, the driver there in
//     a container; the lab reaches that network only through the gate;
//   - apart: the driver on an engine of its own, dialling the ports the
//     servers publish on ServerAddress.
type Topology struct {
	Server engine.Address  // the servers' and the upstream's engine
	Driver *engine.Address // the driver's engine when it is another; nil: the servers'
	// ServerAddress is where the driver's machine reaches the servers'
	// published ports (apart only).
	ServerAddress string
	// Load is where the load comes from: DriverLocal (this process) or
	// DriverContainer (a linelab/agent container per trial).
	Load string
}

// apart: the driver has an engine of its own.
func (t Topology) apart() bool { return t.Driver != nil }

// gated: the servers' engine may be another machine's, whose network the
// lab reaches only through the gate container, and whose /proc it cannot
// read.
func (t Topology) gated() bool { return t.Server.Remote() }

// steered: the lab only steers and collects; the load comes from a driver
// container, the cores are the engines' and this process pins nothing.
func (t Topology) steered() bool { return t.gated() || t.apart() }

// inContainer: the load comes from a driver container.
func (t Topology) inContainer() bool { return t.Load == DriverContainer }

// why says why the lab only steers.
func (t Topology) why() string {
	if t.apart() {
		return fmt.Sprintf("the driver runs on the engine %s and the servers on %s", t.Driver, t.Server)
	}
	return fmt.Sprintf("the engine %s may be another machine's, whose network this process cannot reach and must not load across", t.Server)
}

// String says where the load comes from and goes, for the progress
// output; "" on this machine, which needs no saying.
func (t Topology) String() string {
	switch {
	case t.apart():
		return fmt.Sprintf("the servers on %s, the driver on %s dialling them at %s: the load crosses the network between the two", t.Server, t.Driver, t.ServerAddress)
	case t.gated():
		return fmt.Sprintf("the engine %s may be another machine's: the driver runs there in a container, the lab only steers and collects", t.Server)
	}
	return ""
}

// network makes the run's network on the servers' engine: internal, or
// one whose servers may publish their port to the driver's machine
// (Docker publishes no port of a container on an internal network).
func (t Topology) network(ctx context.Context, rt *engine.Runtime) (*engine.Network, error) {
	if t.apart() {
		return rt.NewPublishingNetwork(ctx)
	}
	return rt.NewNetwork(ctx)
}

// agentOn are the engines the agent image must be on: the driver's, where
// it drives, and a remote servers' engine besides, where it is the gate and
// runs the conformance suite.
func (t Topology) agentOn(rt, drt *engine.Runtime) []*engine.Runtime {
	on := []*engine.Runtime{drt}
	if t.gated() && t.apart() {
		on = append(on, rt)
	}
	return on
}

// helperCores are the cores of the lab's helpers on the servers' engine
// (the gate, the conformance suite): the driver's, or apart the
// upstream's, the servers' machine's core that the servers do not have.
func (t Topology) helperCores(l Layout) []int {
	if t.apart() {
		return l.Upstream
	}
	return l.Driver
}

// layout plans the layout on the engines' cores: a remote machine's are 0
// to n-1 as its engine counts them (the lab cannot read its affinity),
// this machine's its own affinity.
func (t Topology) layout(ctx context.Context, rt, drt *engine.Runtime, opts Options) (Layout, error) {
	cores := func(rt *engine.Runtime) ([]int, error) {
		if !rt.Remote() {
			return affinity(), nil
		}
		m, err := rt.Machine(ctx)
		if err != nil {
			return nil, err
		}
		var cores []int
		for c := range m.Cores {
			cores = append(cores, c)
		}
		return cores, nil
	}
	sc, err := cores(rt)
	if err != nil {
		return Layout{}, err
	}
	if !t.apart() {
		l, err := PlanLayout(sc, opts.ServerCores, opts.DriverCores)
		if err != nil {
			return l, fmt.Errorf("%w (the engine %s has %d cores)", err, rt.Address(), len(sc))
		}
		return l, nil
	}
	dc, err := cores(drt)
	if err != nil {
		return Layout{}, err
	}
	return PlanApart(sc, dc, opts.ServerCores, opts.DriverCores)
}

// topology resolves ServerEngine, DriverEngine, ServerAddress and Driver
// into the run's topology: a driver apart or a remote servers' engine
// loads from a container, this machine's from this process unless told.
func (o Options) topology() (Topology, error) {
	e := Topology{Load: cmp.Or(o.Driver, DriverLocal)}
	var err error
	if e.Server, err = engine.Locate(o.ServerEngine); err != nil {
		return e, err
	}
	if o.DriverEngine != "" {
		d, err := engine.Locate(o.DriverEngine)
		if err != nil {
			return e, err
		}
		if d.Host != e.Server.Host {
			e.Driver = &d
		}
	}
	switch {
	case e.Driver != nil && o.ServerAddress == "":
		return e, fmt.Errorf("--driver-engine %s is not the servers' engine (%s): give --server-address, the servers' machine's address as the driver's machine reaches it", o.DriverEngine, e.Server)
	case e.Driver == nil && o.ServerAddress != "":
		return e, errors.New("--server-address is for a driver on another engine (--driver-engine); with one engine the driver dials the servers on the run's network")
	case o.ServerAddress != "":
		a, err := netip.ParseAddr(o.ServerAddress)
		if err != nil {
			return e, fmt.Errorf("--server-address %q: want an IP address of the servers' machine", o.ServerAddress)
		}
		// The servers publish their port on this address: an unspecified
		// one would publish it on every interface of that machine.
		if a.IsUnspecified() || a.IsMulticast() {
			return e, fmt.Errorf("--server-address %s: want one address of the servers' machine that the driver's machine reaches, not %s (it would publish the servers' port on every interface)", o.ServerAddress, a)
		}
	}
	e.ServerAddress = o.ServerAddress
	if e.steered() {
		e.Load = DriverContainer
	}
	return e, nil
}

// machines records in env the machines the run measures on: this one's
// CPU and kernel, or, where the lab only steers, the servers' engine's
// (a remote engine does not tell its CPU model) and the driver's apart.
func (t Topology) machines(ctx context.Context, rt, drt *engine.Runtime, env *results.Environment) error {
	env.CPUModel = cpuModel()
	env.Cores = runtime.NumCPU()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env.Kernel = strings.TrimSpace(string(b))
	}
	if t.steered() {
		eng, err := fingerprint(ctx, rt)
		if err != nil {
			return err
		}
		env.Engine = eng
		if t.gated() {
			env.CPUModel, env.Cores = "not told by the engine", eng.Cores
		}
		env.Kernel = eng.Kernel
	}
	if t.apart() {
		var err error
		if env.DriverEngine, err = fingerprint(ctx, drt); err != nil {
			return err
		}
		env.ServerAddress = t.ServerAddress
	}
	return nil
}

// fingerprint is what an engine says of itself and its machine.
func fingerprint(ctx context.Context, rt *engine.Runtime) (*results.Engine, error) {
	m, err := rt.Machine(ctx)
	if err != nil {
		return nil, err
	}
	return &results.Engine{Host: rt.Address().String(), Machine: m.Name, OS: m.OS, Kernel: m.Kernel, Cores: m.Cores, Memory: m.Memory}, nil
}
