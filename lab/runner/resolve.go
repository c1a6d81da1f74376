package runner

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/catalog"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/scenario"
)

// Plan is what a run will do, once options are resolved.
type Plan struct {
	Catalog   *catalog.Catalog
	Impls     []lab.Implementation
	Scenarios []lab.Scenario
	Layout    Layout // which cores do what
	Driver    string // DriverLocal or DriverContainer
	// Engines: the servers' engine and, apart, the driver's. A run that
	// the lab only steers (steered) plans its layout on the engines'
	// cores once they answer (layoutOn).
	Engines Engines
}

// gated: the servers' engine is another machine's, whose network the lab
// reaches only through the gate container.
func (p *Plan) gated() bool { return p.Engines.Server.Remote() }

// steered: the lab only steers and collects (Engines.steered).
func (p *Plan) steered() bool { return p.Engines.steered() }

// Resolve loads the catalogue and scenarios and selects what opts name.
func Resolve(ctx context.Context, opts Options) (*Plan, error) {
	err := opts.Validate()
	if err != nil {
		return nil, err
	}
	engines, err := opts.engines()
	if err != nil {
		return nil, err
	}
	var layout Layout
	if !engines.steered() {
		if layout, err = PlanLayout(affinity(), opts.ServerCores, opts.DriverCores); err != nil {
			return nil, err
		}
	}
	cat, err := catalog.LoadReleases(ctx, opts.ComposeFile, opts.Releases)
	if err != nil {
		return nil, err
	}
	scens, err := scenario.LoadDir(opts.ScenarioDir)
	if err != nil {
		return nil, err
	}
	p := &Plan{Catalog: cat, Layout: layout, Driver: cmp.Or(opts.Driver, DriverLocal), Engines: engines}
	if p.steered() {
		p.Driver = DriverContainer
	}
	if p.Impls, err = pickImpls(cat.Servers, opts.Impls); err != nil {
		return nil, err
	}
	if p.Scenarios, err = pick(scens, opts.Scenarios, func(s lab.Scenario) string { return s.Name }, "scenario"); err != nil {
		return nil, err
	}
	return p, nil
}

// pickImpls is pick for implementations: a service's name picks it on
// every release of the run ("gevent" picks gevent@bookworm and
// gevent@trixie), a full name one entry.
func pickImpls(all []lab.Implementation, names []string) ([]lab.Implementation, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []lab.Implementation
	for _, n := range names {
		var found bool
		for _, impl := range all {
			if impl.Name != n && impl.Service() != n {
				continue
			}
			found = true
			if !slices.ContainsFunc(out, func(o lab.Implementation) bool { return o.Name == impl.Name }) {
				out = append(out, impl)
			}
		}
		if !found {
			var known []string
			for _, impl := range all {
				known = append(known, impl.Name)
			}
			return nil, fmt.Errorf("unknown implementation %q; known: %s", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

func pick[T any](all []T, names []string, name func(T) string, what string) ([]T, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []T
	var known []string
	for _, x := range all {
		known = append(known, name(x))
	}
	for _, n := range names {
		i := slices.Index(known, n)
		if i < 0 {
			return nil, fmt.Errorf("unknown %s %q; known: %s", what, n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// layoutOn plans the layout on the engines' cores: a remote machine's are
// 0 to n-1 as its engine counts them (the lab cannot read its affinity),
// this machine's its own affinity.
func (p *Plan) layoutOn(ctx context.Context, rt, drt *engine.Runtime, opts Options) error {
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
		return err
	}
	if p.Engines.Driver == nil {
		if p.Layout, err = PlanLayout(sc, opts.ServerCores, opts.DriverCores); err != nil {
			return fmt.Errorf("%w (the engine %s has %d cores)", err, rt.Address(), len(sc))
		}
		return nil
	}
	dc, err := cores(drt)
	if err != nil {
		return err
	}
	p.Layout, err = PlanApart(sc, dc, opts.ServerCores, opts.DriverCores)
	return err
}
