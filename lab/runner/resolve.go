package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/catalog"
	"github.com/linelab/linelab/lab/scenario"
)

// Plan is what a run will do, once options are resolved.
type Plan struct {
	Catalog   *catalog.Catalog
	Impls     []lab.Implementation
	Scenarios []lab.Scenario
	Layout    Layout // which cores do what
	// Topology: where the servers, the driver and the load are. A run
	// that the lab only steers plans its layout on the engines' cores
	// once they answer (Topology.layout).
	Topology Topology
}

// Resolve loads the catalogue and scenarios and selects what opts name.
func Resolve(ctx context.Context, opts Options) (*Plan, error) {
	err := opts.Validate()
	if err != nil {
		return nil, err
	}
	topo, err := opts.topology()
	if err != nil {
		return nil, err
	}
	var layout Layout
	if !topo.steered() {
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
	p := &Plan{Catalog: cat, Layout: layout, Topology: topo}
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
