package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/catalog"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
)

// resume takes up the run in opts.Resume where it stopped: the plan (the
// implementations and scenarios as the run recorded them), the seed (so
// every round's order is the one the run had) and the images, which must
// be the very ones it measured. Trials already run or skipped are not run
// again; the run is marked resumed.
func resume(ctx context.Context, opts Options) (*results.File, string, error) {
	dir := opts.Resume
	// The lock first: nothing in the folder is rebuilt or appended while
	// another process may be writing it.
	meta, err := results.Meta(dir)
	if err != nil {
		return nil, "", fmt.Errorf("resume %s: %w", dir, err)
	}
	self := engine.Self()
	held, _, stale, err := results.Acquire(dir, results.Lock{RunID: meta.RunID, PID: self.PID, Owner: self.String(), Started: time.Now().UTC()})
	if err != nil {
		var going *results.HeldError
		if errors.As(err, &going) {
			return nil, "", fmt.Errorf("resume %s: run %s is still going (lab process %d): let it finish, or stop it, before resuming", dir, cmp.Or(going.Lock.RunID, meta.RunID), going.Lock.PID)
		}
		return nil, "", fmt.Errorf("resume %s: %w", dir, err)
	}
	// A resume that cannot go on leaves the folder's lock file as it found
	// it: there, unheld, if a dead process had left one (the run still did
	// not end); gone if there was none.
	executing := false
	defer func() {
		switch {
		case executing:
		case stale:
			held.Abandon()
		default:
			held.Release()
		}
	}()
	prev, err := results.Rebuild(dir)
	if err != nil {
		return nil, "", fmt.Errorf("resume %s: %w", dir, err)
	}
	if stale {
		// Killed before it could say why it stopped.
		prev.Interrupted = cmp.Or(prev.Interrupted, "its lab process died")
	}
	if prev.Interrupted == "" {
		return nil, "", fmt.Errorf("resume %s: run %s ended with every trial; there is nothing to resume", dir, prev.RunID)
	}
	now, err := sameEngine(prev)
	if err != nil {
		return nil, "", fmt.Errorf("resume %s: %w", dir, err)
	}
	cat, err := catalog.LoadReleases(ctx, opts.ComposeFile, nil)
	if err != nil {
		return nil, "", err
	}
	layout, err := prevLayout(prev.Environment.Pinning)
	if err != nil {
		return nil, "", fmt.Errorf("resume %s: %w", dir, err)
	}
	pl := &Plan{Catalog: cat, Impls: prev.Implementations, Scenarios: prev.Scenarios, Layout: layout, Topology: Topology{Server: now, Load: cmp.Or(prev.Environment.Driver, DriverLocal)}}
	rt, err := openRuntime(ctx, prev.RunID, now, opts.Progress)
	if err != nil {
		return nil, "", err
	}
	defer rt.Close()
	if err := sameImages(ctx, rt, prev); err != nil {
		return nil, "", fmt.Errorf("resume %s: %w", dir, err)
	}
	opts.Profile, opts.Budget = prev.Profile, cmp.Or(prev.Budget.D(), -1)
	r := newRunner(opts, pl, rt, prev.RunID, prev.Seed)
	// The budget counts the time the run took before it stopped.
	r.prog.began = r.prog.began.Add(-time.Duration((prev.Time.Setup + prev.Time.Windows + prev.Time.Around.Total()) * float64(time.Second)))
	if r.w, err = results.Open(dir); err != nil {
		return nil, "", fmt.Errorf("resume %s: %w", dir, err)
	}
	r.w.Update(func(f *results.File) {
		f.Interrupted = ""
		f.Resumed = append(f.Resumed, time.Now().UTC())
	})
	n := r.preload(prev)
	fmt.Fprintf(opts.Progress, "lab: resuming run %s (%s): %d trials are done, the rest run now\n", prev.RunID, prev.Interrupted, n)
	executing = true
	return r.execute(ctx, dir, held)
}

// sameEngine is the engine the docker command names now, which must be
// the run's: a resumed run goes on where it began.
func sameEngine(prev *results.File) (engine.Address, error) {
	if prev.Environment.DriverEngine != nil {
		return engine.Address{}, fmt.Errorf("run %s had its driver on another engine (%s); a run on two engines cannot be resumed: start a new one", prev.RunID, prev.Environment.DriverEngine.Host)
	}
	now, err := engine.Locate("")
	if err != nil {
		return engine.Address{}, err
	}
	was := "this machine's engine"
	if prev.Environment.Engine != nil {
		was = prev.Environment.Engine.Host
	}
	if (prev.Environment.Engine != nil) != now.Remote() || prev.Environment.Engine != nil && was != now.String() {
		return engine.Address{}, fmt.Errorf("run %s ran on %s and the docker command names %s now; point DOCKER_HOST or the Docker context at the run's engine", prev.RunID, was, now)
	}
	return now, nil
}

// sameImages checks that every image the run measured is still the one
// its tag names: a resumed run must not mix two builds in one comparison.
func sameImages(ctx context.Context, rt *engine.Runtime, prev *results.File) error {
	var changed []string
	for _, name := range slices.Sorted(maps.Keys(prev.Environment.Images)) {
		img := prev.Environment.Images[name]
		info, err := rt.Image(ctx, img.Ref)
		switch {
		case err != nil:
			changed = append(changed, fmt.Sprintf("%s (%s) is gone", name, img.Ref))
		case info.ID != img.ID:
			changed = append(changed, fmt.Sprintf("%s (%s) was %.19s, is now %.19s", name, img.Ref, img.ID, info.ID))
		}
	}
	if len(changed) > 0 {
		return fmt.Errorf("images changed since the run: %s; a resumed run must measure the images it began with: rebuild them from the run's commit, or start a new run", strings.Join(changed, "; "))
	}
	return nil
}

// preload marks the run's finished trials, its failed steps and its
// left-out implementations, and replays what pruning depends on; it
// returns how many trials were done.
func (r *runner) preload(prev *results.File) int {
	n := 0
	for _, s := range prev.Steps {
		i := slices.IndexFunc(r.plan.Scenarios, func(sc lab.Scenario) bool { return sc.Name == s.Scenario })
		for _, t := range s.Trials {
			r.finished[plan.Key{Impl: s.Impl, Scenario: s.Scenario, Step: s.Step, Trial: t.Trial}] = true
			n++
			if i >= 0 {
				r.remember(r.plan.Scenarios[i], s.Def, &t)
			}
		}
	}
	for _, sk := range prev.Skipped {
		r.finished[plan.Key{Impl: sk.Impl, Scenario: sk.Scenario, Step: sk.Step, Trial: sk.Trial}] = true
		n++
	}
	for _, x := range prev.Failures {
		switch {
		case x.LeftOut:
			r.dead[x.Impl] = x.Message
		case x.Step != "":
			r.failed[[3]string{x.Impl, x.Scenario, x.Step}] = true
		}
	}
	return n
}

// prevLayout is the cores of the run being resumed: the same servers' and
// upstream's cpusets, and the driver's (or, where it ran unpinned, the
// default split of the servers' count), so its remaining trials compare with
// its first.
func prevLayout(p results.Pinning) (Layout, error) {
	server, upstream := cpuList(p.Server), cpuList(p.Upstream)
	if len(server) == 0 {
		return Layout{}, fmt.Errorf("its results.json records no server cores (pinning %+v)", p)
	}
	if driver := cpuList(p.Driver); len(driver) > 0 && !strings.HasPrefix(p.Driver, "unpinned") {
		return Layout{Driver: driver, Server: server, Upstream: upstream}, nil
	}
	l, err := PlanLayout(affinity(), len(server), 0)
	if err != nil {
		return Layout{}, err
	}
	return Layout{Driver: l.Driver, Server: server, Upstream: upstream, Shared: l.Shared}, nil
}
