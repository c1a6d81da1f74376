package runner

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/results"
)

// images are the implementations whose images the run starts: the
// upstream, the servers and, with DriverContainer, the agent that drives.
func (p *Plan) images() []lab.Implementation {
	need := append([]lab.Implementation{p.Catalog.Upstream}, p.Impls...)
	if p.Topology.inContainer() {
		need = append(need, lab.Implementation{Name: "agent", Image: AgentImage})
	}
	return need
}

func checkImages(ctx context.Context, rt, drt *engine.Runtime, p *Plan) error {
	var missing, builds []string
	for _, impl := range p.images() {
		ons := []*engine.Runtime{rt}
		if impl.Image == AgentImage {
			ons = p.Topology.agentOn(rt, drt)
		}
		for _, on := range ons {
			ok, err := on.ImageExists(ctx, impl.Image)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
			if !slices.Contains(missing, impl.Image) {
				missing = append(missing, impl.Image)
			}
			build := "make images"
			// Built on the engine that runs it, as the docker command
			// reaches it.
			switch a := on.Address(); {
			case a.Context != "":
				build = "DOCKER_CONTEXT=" + a.Context + " " + build
			case a.Host != "":
				build = "DOCKER_HOST=" + a.Host + " " + build
			}
			if impl.Release != "" {
				build += " RELEASE=" + impl.Release
			}
			if !slices.Contains(builds, build) {
				builds = append(builds, build)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s; build them with: %s", ErrMissingImages, strings.Join(missing, ", "), strings.Join(builds, "; "))
	}
	return nil
}

// affinity is the cores this process could run on when it started, in
// order: a run pins the process to the driver's cores, and a second run in
// the same process (tests) must still split the whole machine.
func affinity() []int { return startAffinity }

var startAffinity = readAffinity()

// readAffinity is the cores this process may run on now, in order; every
// core when it cannot be read.
func readAffinity() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return cpuList("0-" + strconv.Itoa(runtime.NumCPU()-1))
	}
	var out []int
	for c := 0; len(out) < set.Count(); c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// pinSelf moves every thread of this process onto the driver's cores, so
// the driver and the servers do not share one; new threads inherit it.
func pinSelf(l Layout) string {
	if l.Shared {
		return "unpinned (one core)"
	}
	var set unix.CPUSet
	for _, c := range l.Driver {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return "unpinned (" + err.Error() + ")"
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return "unpinned (" + err.Error() + ")"
		}
	}
	// GOMAXPROCS follows the driver's cores, and stays above one although
	// the process may have one core: the open loop's pacer spins on one P,
	// and a second P sleeping in the network poller wakes the readers as
	// soon as answers arrive.
	runtime.GOMAXPROCS(max(len(l.Driver), 2))
	return CPUSet(l.Driver)
}

// upstreamCPU is the upstream's cpuset: a core of its own when the layout
// left one (so that the translator never takes the driver's time), else the
// driver's.
func (r *runner) upstreamCPU() string { return CPUSet(r.plan.Layout.Upstream) }

func (r *runner) driverCPU() string { return CPUSet(r.plan.Layout.Driver) }

func (r *runner) serverCPU() string { return CPUSet(r.plan.Layout.Server) }

// helperCPU is the cpuset of the lab's helpers on the servers' engine (the
// gate, the conformance suite): the driver's cores, or on two machines the
// upstream's, the servers' machine's core that the servers do not have.
func (r *runner) helperCPU() string { return CPUSet(r.plan.Topology.helperCores(r.plan.Layout)) }

func (r *runner) meta(ctx context.Context) (results.File, error) {
	f := results.File{
		RunID: r.runID, Profile: r.opts.Profile, Command: r.opts.Command, Started: time.Now().UTC(), Seed: r.seed,
		Budget:    lab.Duration(max(r.opts.Budget, 0)),
		Scenarios: r.plan.Scenarios, Implementations: r.plan.Impls,
	}
	// Sources are read through the repository as a root: no path, nor a
	// link on the way, reaches outside it.
	repo, err := os.OpenRoot(r.opts.RepoDir)
	if err != nil {
		return f, fmt.Errorf("the repository (for the servers' sources): %w", err)
	}
	defer repo.Close()
	for _, impl := range r.plan.Impls {
		for _, path := range impl.Source {
			b, err := repo.ReadFile(path)
			if err != nil {
				return f, fmt.Errorf("source of %s: %w", impl.Name, err)
			}
			f.Sources = append(f.Sources, results.Source{Impl: impl.Name, Path: path, Text: string(b)})
		}
	}
	env := &f.Environment
	if err := r.plan.Topology.machines(ctx, r.rt, r.driverRT, env); err != nil {
		return f, err
	}
	env.GoVersion = runtime.Version()
	if env.DockerVersion, env.CgroupVersion, err = r.rt.Engine(ctx); err != nil {
		return f, err
	}
	env.Pinning = results.Pinning{Server: r.serverCPU(), Driver: r.pinned, Upstream: r.upstreamCPU()}
	env.Driver = r.plan.Topology.Load
	if r.plan.Topology.inContainer() {
		env.Pinning.Driver = r.driverCPU()
	}
	env.MemoryLimit = r.opts.MemoryLimit
	env.Hardening = lab.Hardened
	env.Images = map[string]results.Image{}
	for _, impl := range r.plan.images() {
		info, err := r.rtOf(impl).Image(ctx, impl.Image)
		if err != nil {
			return f, err
		}
		img := results.Image{Ref: impl.Image, ID: info.ID, Size: info.Size, Runtimes: map[string]string{}}
		for k, v := range info.Labels {
			if name, ok := strings.CutPrefix(k, "runtime."); ok {
				img.Runtimes[name] = v
			}
		}
		env.Images[impl.Name] = img
	}
	// "Twisted" becomes "Twisted 24.11.0", from the image that runs.
	f.Implementations = slices.Clone(f.Implementations)
	for i, impl := range f.Implementations {
		if v := lab.UpstreamVersion(env.Images[impl.Name].Runtimes[impl.Version]); v != "" {
			f.Implementations[i].Runtime += " " + v
		}
	}
	return f, nil
}

// rtOf is the engine an image runs on: the driver's on the driver's.
func (r *runner) rtOf(impl lab.Implementation) *engine.Runtime {
	if impl.Image == AgentImage {
		return r.driverRT
	}
	return r.rt
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// maxCPU bounds the cores a cpuset may name: Linux's own limit, so a
// cpuset read back from a damaged run.json cannot ask for millions.
const maxCPU = 8192

// cpuList reads a cpuset such as "1", "1,3" or "2-5"; parts it cannot read,
// or cores past maxCPU, are left out.
func cpuList(set string) []int {
	var out []int
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a >= maxCPU {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for c := a; c <= min(b, maxCPU-1); c++ {
			out = append(out, c)
		}
	}
	return out
}

// timeSummary says where a run's time went.
func timeSummary(t results.Time) string {
	sec := func(v float64) string { return (time.Duration(v * float64(time.Second))).Round(time.Second).String() }
	a := t.Around
	per := 0.0
	if t.Trials > 0 {
		per = a.Total() / float64(t.Trials)
	}
	return fmt.Sprintf("%d trials (%d extra) with %s of warm-ups and windows; around them %s (%.2f s a trial: canary %s, pause %s, quiet wait %s, fresh containers %s, trials run again %s, other %s); servers, conformance and calibration %s",
		t.Trials, t.Extra, sec(t.Windows), sec(a.Total()), per, sec(a.Canary), sec(a.Pause), sec(a.Quiet), sec(a.Start), sec(a.Repeat), sec(a.Other), sec(t.Setup))
}
