package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/catalog"
	"github.com/linelab/linelab/lab/metrics"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/runtime"
	"github.com/linelab/linelab/lab/scenario"
	"github.com/linelab/linelab/lab/upstream"
)

// ServerPort is the port every server listens on inside its container.
const ServerPort = 7000

// ErrMissingImages means images must be built first.
var ErrMissingImages = errors.New("images are missing")

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

// Run carries out a run and returns its results and folder. Whatever
// happens after the folder exists, the trials gathered so far are kept and
// results.json is written; the containers are removed.
func Run(ctx context.Context, opts Options) (*results.File, string, error) {
	if opts.Resume != "" {
		return resume(ctx, opts)
	}
	plan, err := Resolve(ctx, opts)
	if err != nil {
		return nil, "", err
	}
	if opts.Budget == 0 {
		opts.Budget = DefaultBudget[opts.Profile]
	}
	runID := time.Now().UTC().Format("20060102-150405")
	rt, err := openRuntime(ctx, runID, plan.Engines.Server, opts.Progress)
	if err != nil {
		return nil, "", err
	}
	defer rt.Close()
	drt := rt
	if plan.Engines.Driver != nil {
		if drt, err = openRuntime(ctx, runID, *plan.Engines.Driver, opts.Progress); err != nil {
			return nil, "", err
		}
		defer drt.Close()
	}
	if plan.steered() {
		if err := plan.layoutOn(ctx, rt, drt, opts); err != nil {
			return nil, "", err
		}
	}
	if err := checkImages(ctx, rt, drt, plan); err != nil {
		return nil, "", err
	}
	seed := opts.Seed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000
	}
	r := newRunner(opts, plan, rt, runID, seed)
	r.drt = drt // the servers' engine unless apart
	meta, err := r.meta(ctx)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(opts.OutDir, runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	held, _, _, err := results.Acquire(dir, r.lock())
	if err != nil {
		return nil, "", err
	}
	if r.w, err = results.Create(dir, meta); err != nil {
		held.Release()
		return nil, "", err
	}
	return r.execute(ctx, dir, held)
}

// lock is this process's claim on its run folder.
func (r *runner) lock() results.Lock {
	self := runtime.Self()
	return results.Lock{RunID: r.runID, PID: self.PID, Owner: self.String(), Started: time.Now().UTC()}
}

// layoutOn plans the layout on the engines' cores: a remote machine's are
// 0 to n-1 as its engine counts them (the lab cannot read its affinity),
// this machine's its own affinity.
func (p *Plan) layoutOn(ctx context.Context, rt, drt *runtime.Runtime, opts Options) error {
	cores := func(rt *runtime.Runtime) ([]int, error) {
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

// openRuntime connects to the engine for run runID and removes what runs
// whose lab process is gone left behind; a run that is still going is a
// reason not to start.
func openRuntime(ctx context.Context, runID string, addr runtime.Address, progress io.Writer) (*runtime.Runtime, error) {
	rt, err := runtime.NewOn(ctx, runID, addr, runtime.Self()) // labels everything with this run's id
	if err != nil {
		return nil, err
	}
	left, err := rt.Sweep(ctx, false)
	// What was removed is said first, whatever order Docker listed the
	// runs in: a live run refusing this one must not hide that a dead
	// one's leftovers are gone.
	for _, x := range left {
		if !x.Alive {
			fmt.Fprintf(progress, "lab: %s\n", x)
		}
	}
	for _, x := range left {
		if x.Alive {
			rt.Close()
			return nil, fmt.Errorf("%s; two runs at once would measure each other: wait for it to end, or stop it and run `lab clean --all`", x)
		}
	}
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("sweep leftovers of earlier runs: %w", err)
	}
	return rt, nil
}

func newRunner(opts Options, p *Plan, rt *runtime.Runtime, runID string, seed int64) *runner {
	r := &runner{opts: opts, plan: p, rt: rt, drt: rt, runID: runID, dead: map[string]string{}, judged: map[[2]string]bool{}, failed: map[[3]string]bool{},
		finished: map[plan.Key]bool{}, seed: seed, began: time.Now(),
		closedRates: map[[2]string][]float64{}, far: map[string]string{}, repeats: map[string]int{}, rungs: map[[2]string][][]analysis.Rung{},
		figures: map[string]map[string][]float64{}, spare: map[string]time.Duration{}}
	r.sched = plan.Make(plan.Input{Profile: opts.Profile, Impls: p.Impls, Scenarios: p.Scenarios, Seed: seed,
		ServerCores: len(p.Layout.Server), Steered: p.steered()})
	r.extraSteps = stepsWithExtras(r.sched)
	r.pinned = "not pinned: the lab only steers"
	if !p.steered() {
		r.pinned = pinSelf(p.Layout)
	}
	return r
}

// execute runs the plan into the run folder dir, whose writer is open and
// whose lock this process holds: whatever happens, the trials gathered are
// kept, results.json is written and the containers are removed; the lock
// goes with a run that ended.
func (r *runner) execute(ctx context.Context, dir string, held *results.Held) (*results.File, string, error) {
	runErr := r.run(ctx)
	r.cleanup()
	if ctx.Err() != nil {
		r.w.Update(func(f *results.File) { f.Interrupted = "interrupted: " + context.Cause(ctx).Error() })
	} else if runErr != nil {
		r.w.Update(func(f *results.File) { f.Interrupted = runErr.Error() })
	}
	r.w.Update(func(f *results.File) { f.Finished = time.Now().UTC() })
	file, err := r.w.Close()
	if err != nil {
		held.Abandon()
		return nil, dir, fmt.Errorf("write results: %w", err)
	}
	r.say("lab: %s", timeSummary(file.Time))
	if err := held.Release(); err != nil {
		return file, dir, fmt.Errorf("unlock the run folder: %w", err)
	}
	return file, dir, runErr
}

// images are the implementations whose images the run starts: the
// upstream, the servers and, with DriverContainer, the driver.
func (p *Plan) images() []lab.Implementation {
	need := append([]lab.Implementation{p.Catalog.Upstream}, p.Impls...)
	if p.Driver == DriverContainer {
		need = append(need, lab.Implementation{Name: "driver", Image: DriverImage})
	}
	return need
}

func checkImages(ctx context.Context, rt, drt *runtime.Runtime, p *Plan) error {
	var missing, builds []string
	for _, impl := range p.images() {
		on := rt
		if impl.Image == DriverImage {
			on = drt
		}
		ok, err := on.ImageExists(ctx, impl.Image)
		if err != nil {
			return err
		}
		if !ok && !slices.Contains(missing, impl.Image) {
			missing = append(missing, impl.Image)
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
		return cpuList("0-" + strconv.Itoa(goruntime.NumCPU()-1))
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
	goruntime.GOMAXPROCS(max(len(l.Driver), 2))
	return CPUSet(l.Driver)
}

type runner struct {
	opts   Options
	plan   *Plan
	rt     *runtime.Runtime // the servers' engine
	drt    *runtime.Runtime // the driver's engine: rt, or another
	runID  string
	pinned string
	w      *results.Writer

	nw     *runtime.Network
	up     *runtime.Container
	upm    *metrics.Sampler // the upstream's CPU
	upc    *upstreamClient
	client string         // the phase's upstream-client discipline (fetch mode)
	ref    *server        // the calibration server, also the canary; paused between uses
	dcores *metrics.Cores // the driver's core (the lab and the upstream)
	score  *metrics.Cores // the servers' cores
	calib  *results.Calibration
	mu     sync.Mutex           // guards live and far: a phase starts its servers at once
	live   []*runtime.Container // to remove at the end
	dead   map[string]string    // implementation → why it is out
	judged map[[2]string]bool   // impl, mode: passed every case, hostile clients included
	// removing counts the containers being removed in the background.
	removing sync.WaitGroup
	failed   map[[3]string]bool // impl, scenario, step: the server failed it
	// sched is the run's trials in order (plan.Make); began is when it
	// started, for the budget.
	sched *plan.Plan
	began time.Time
	// finished: trials a resumed run found done (run, skipped) and does
	// not run again.
	finished map[plan.Key]bool
	seed     int64
	// netemChecked, netemWhy: whether this machine can make a lossy link
	// was tried, and why it cannot ("" it can).
	netemChecked bool
	netemWhy     string

	canaries   []float64 // every canary so far, for the running median
	lastCanary struct {
		v  float64
		at time.Time
	}
	repeats     map[string]int                  // per scenario/step: trials run again because the canary moved
	closedRates map[[2]string][]float64         // impl, scenario/step → echo closed-loop trial rates
	far         map[string]string               // a server's address on the run's network → where the driver's machine reaches it
	rungs       map[[2]string][][]analysis.Rung // impl, scenario → each trial's ladder so far
	// figures: a headline step's figure in each trial so far, by
	// implementation (scenario/step → impl → values), for extra trials.
	figures map[string]map[string][]float64
	// spare: how long a headline step's extra trials may take, granted
	// when its first extra comes up (extraWanted).
	spare      map[string]time.Duration
	extraSteps []string // stepsWithExtras of the plan
	// lastSetup: how long the last phase took to start and judge its
	// servers; phasesLeft: phases still to come.
	lastSetup  time.Duration
	phasesLeft int

	done, total time.Duration // for the progress line: the plan's cost of the trials passed, and of all
	count, all  int
	// spent and counted: how long the trials run so far took, and what
	// the plan counted for them; the estimate scales by their ratio.
	spent, counted time.Duration
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
func (r *runner) helperCPU() string {
	if r.plan.Engines.Driver != nil {
		return r.upstreamCPU()
	}
	return r.driverCPU()
}

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
	env.CPUModel = cpuModel()
	env.Cores = goruntime.NumCPU()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env.Kernel = strings.TrimSpace(string(b))
	}
	if r.plan.steered() {
		// The servers' machine is the engine's, which says what it is.
		eng, err := fingerprint(ctx, r.rt)
		if err != nil {
			return f, err
		}
		env.Engine = eng
		if r.plan.gated() {
			env.CPUModel, env.Cores = "not told by the engine", eng.Cores
		}
		env.Kernel = eng.Kernel
	}
	if r.plan.Engines.Driver != nil {
		if env.DriverEngine, err = fingerprint(ctx, r.drt); err != nil {
			return f, err
		}
		env.ServerAddress = r.plan.Engines.ServerAddress
	}
	env.GoVersion = goruntime.Version()
	if env.DockerVersion, env.CgroupVersion, err = r.rt.Engine(ctx); err != nil {
		return f, err
	}
	env.Pinning = results.Pinning{Server: r.serverCPU(), Driver: r.pinned, Upstream: r.upstreamCPU()}
	env.Driver = r.plan.Driver
	if r.plan.Driver == DriverContainer {
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

// fingerprint is what an engine says of itself and its machine.
func fingerprint(ctx context.Context, rt *runtime.Runtime) (*results.Engine, error) {
	m, err := rt.Machine(ctx)
	if err != nil {
		return nil, err
	}
	return &results.Engine{Host: rt.Address().String(), Machine: m.Name, OS: m.OS, Kernel: m.Kernel, Cores: m.Cores, Memory: m.Memory}, nil
}

// rtOf is the engine an image runs on: the driver's on the driver's.
func (r *runner) rtOf(impl lab.Implementation) *runtime.Runtime {
	if impl.Image == DriverImage {
		return r.drt
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

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.opts.Progress, format+"\n", args...)
}

func (r *runner) fail(impl, scen, step, msg string) {
	r.record(lab.Failure{Impl: impl, Scenario: scen, Step: step, Message: msg})
}

func (r *runner) record(x lab.Failure) {
	r.say("lab: %s: %s", x.Impl, x.Message)
	x.At = time.Now().UTC()
	r.w.Update(func(f *results.File) { f.Failures = append(f.Failures, x) })
}

func (r *runner) run(ctx context.Context) error {
	var err error
	newNetwork := r.rt.NewNetwork
	if r.plan.Engines.Driver != nil {
		newNetwork = r.rt.NewPublishingNetwork // the servers publish their port to the driver's machine
	}
	if r.nw, err = newNetwork(ctx); err != nil {
		return err
	}
	// A remote servers' engine: the lab reaches the run's network through
	// the gate container, and cannot read that machine's /proc/stat, so
	// steps do not wait for the server cores to be quiet. A run the lab
	// only steers judges driver-bound by the driver container's own CPU.
	if r.plan.gated() {
		if err := r.startGate(ctx); err != nil {
			return err
		}
	} else if r.score, err = metrics.StartCores(cpuList(r.serverCPU())); err != nil {
		r.say("lab: cannot read the server core's load (%v); steps start without waiting for it to be quiet", err)
	}
	if !r.plan.steered() {
		if r.dcores, err = metrics.StartCores(r.plan.Layout.Driver); err != nil {
			r.say("lab: cannot read the driver core's load (%v); driver-bound falls back to the lab's own CPU", err)
		}
	}
	switch {
	case r.plan.Engines.Driver != nil:
		r.say("lab: the servers on %s, the driver on %s dialling them at %s: the load crosses the network between the two", r.rt.Address(), r.drt.Address(), r.plan.Engines.ServerAddress)
	case r.plan.gated():
		r.say("lab: the engine %s may be another machine's: the driver runs there in a container, the lab only steers and collects", r.rt.Address())
	}
	defer func() {
		for _, c := range []*metrics.Cores{r.dcores, r.score} {
			if c != nil {
				c.Stop()
			}
		}
	}()
	setup := time.Now()
	if err := r.startUpstream(ctx); err != nil {
		return err
	}
	r.estimate()
	if err := r.startReference(ctx); err != nil {
		r.say("lab: %v", err)
		r.w.Update(func(f *results.File) {
			f.Warnings = append(f.Warnings, err.Error()+"; no calibration and no canary: no step can be flagged driver-bound by rate, and drift goes unseen")
		})
	} else if err := r.calibrate(ctx); err != nil {
		r.say("lab: calibration failed: %v", err)
		r.w.Update(func(f *results.File) {
			f.Warnings = append(f.Warnings, "calibration failed: "+err.Error()+"; no step can be flagged driver-bound by rate")
		})
	}
	r.addSetup(time.Since(setup))
	// The servers restart between phases with the discipline in
	// UPSTREAM_CLIENT.
	for i, ph := range plan.Phases {
		if ctx.Err() != nil {
			break
		}
		r.phasesLeft = len(plan.Phases) - i - 1
		if err := r.phase(ctx, ph); err != nil {
			return err
		}
	}
	return ctx.Err()
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

// startGate starts the container through which the lab reaches a remote
// engine's network and cgroups (runtime.Dialer, runtime.Sampler).
func (r *runner) startGate(ctx context.Context) error {
	c, err := r.rt.Start(ctx, runtime.Spec{
		Image: DriverImage, Name: "gate", Network: r.nw, Cpuset: r.helperCPU(), Cmd: []string{"idle"}, Binds: runtime.GateBinds,
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
	c, err := r.rt.Start(ctx, runtime.Spec{
		Image: up.Image, Name: up.Name, Network: r.nw, Aliases: []string{"upstream"},
		Cpuset: r.upstreamCPU(), Env: map[string]string{"PORT": "8080"},
	})
	if err != nil {
		return err
	}
	r.up = c
	r.keep(c)
	if r.upm, err = r.rt.Sampler(c); err != nil {
		return err
	}
	r.upc = newUpstreamClient(c.Addr(8080), r.rt.Dialer())
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return r.upc.waitHealthy(wctx, 100*time.Millisecond)
}

// server is one implementation's container in one phase.
type server struct {
	impl    lab.Implementation
	mode    string
	c       *runtime.Container
	sampler *metrics.Sampler
	broken  bool // its container failed a step: renew it before the next
}

func (r *runner) phase(ctx context.Context, ph plan.Phase) error {
	scens := plan.PhaseScenarios(r.plan.Scenarios, ph)
	if len(scens) == 0 {
		return nil
	}
	mode := string(ph.Mode)
	r.client = ph.Client
	setup := time.Now()
	r.say("lab: %s phase: starting the servers on cpuset %s", ph, r.serverCPU())
	servers := map[string]*server{}
	defer func() {
		r.removing.Wait()
		for _, s := range servers {
			if s.sampler != nil {
				s.sampler.Stop()
			}
			if s.c != nil {
				r.remove(s.c)
			}
		}
	}()
	started, err := r.startAll(ctx, ph)
	if err != nil {
		return err
	}
	for _, s := range started {
		servers[s.impl.Name] = s
	}
	for _, s := range started {
		// Each is judged alone on the server core, then paused: only the
		// server under test runs during a step.
		if err := s.c.Unpause(ctx); err != nil {
			r.markDead(s.impl.Name, "", "", err.Error())
			continue
		}
		r.conform(ctx, s, mode) // one that fails is marked out of the load
		if err := s.c.Pause(ctx); err != nil {
			r.markDead(s.impl.Name, "", "", err.Error())
		}
	}
	notHere := map[string]bool{}
	for _, sc := range scens {
		why := r.unplanned(sc)
		if why == "" {
			why = r.lossyUnavailable(ctx, sc, started)
		}
		if why != "" {
			r.skipScenario(sc, why)
			notHere[sc.Name] = true
		}
	}
	r.lastSetup = time.Since(setup)
	r.addSetup(r.lastSetup)
	for _, t := range r.sched.Trials {
		if t.Phase != ph || notHere[t.Scenario] {
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		r.next(ctx, servers[t.Impl], t)
	}
	return nil
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
			s, err := r.startServer(ctx, impl, string(ph.Mode))
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

// next runs one trial of the plan, unless the run already has it (a
// resumed run), its server is out or failed the step, its rung is pruned,
// or it is an extra trial that the ranking or the budget does not call for.
func (r *runner) next(ctx context.Context, s *server, t plan.Trial) {
	sc, st := r.stepOf(t)
	if t.Kind == plan.Extra {
		if s == nil || r.finished[t.Key] || !r.extraWanted(t, sc) {
			return
		}
	} else {
		r.count++
		r.done += t.Cost
	}
	if s == nil {
		return // it did not start in this phase, and is out
	}
	if _, out := r.dead[s.impl.Name]; out || r.finished[t.Key] {
		return
	}
	if r.failed[[3]string{s.impl.Name, sc.Name, st.Name}] {
		r.skip(s, sc, st, t.Trial, "the server failed this step in an earlier trial")
		return
	}
	if r.pruned(s, sc, st, t.Trial) {
		return
	}
	if t.Kind == plan.Side && t.Trial > 1 && r.behind() {
		r.skip(s, sc, st, t.Trial, "the run's budget: a step that decides nothing keeps one trial while the run is behind its budget")
		return
	}
	var ov lab.Overhead
	if s.broken {
		began := time.Now()
		if !r.renew(ctx, s) {
			return
		}
		ov.Start = time.Since(began).Seconds()
	}
	r.trial(ctx, s, sc, st, t, ov)
}

// stepOf is the scenario and the step (as it runs in the profile) of a
// planned trial.
func (r *runner) stepOf(t plan.Trial) (lab.Scenario, lab.Step) {
	for _, sc := range r.plan.Scenarios {
		if sc.Name != t.Scenario {
			continue
		}
		for _, st := range sc.Steps {
			if st.Name == t.Step {
				return sc, st.For(r.opts.Profile)
			}
		}
	}
	panic("plan: a trial of a step the run does not have: " + t.Scenario + "/" + t.Step)
}

// unplanned says why the plan does not run a scenario ("" it does).
func (r *runner) unplanned(sc lab.Scenario) string {
	why, ok := r.sched.Skipped(sc.Name)
	switch {
	case !ok:
		return ""
	case why == plan.NeedsCores:
		have := len(r.plan.Layout.Server)
		return fmt.Sprintf("it needs %d server cores and this run gives the servers %d (%s); run it on a machine with at least %d cores with lab run --server-cores %d",
			sc.ServerCores, have, results.Cores(r.serverCPU()), sc.ServerCores+1, sc.ServerCores)
	case why == plan.SteeredFault:
		return "its faults act on the containers from inside the driver's window, and the driver of a remote engine runs in a container; run it on the engine's own machine with one engine"
	}
	return string(why)
}

// pruned decides whether an open-loop rung is worth running (see
// analysis.Prune), and records it as skipped when it is not.
func (r *runner) pruned(s *server, sc lab.Scenario, st lab.Step, trial int) bool {
	if st.Loop != lab.Open {
		return false
	}
	def := st.For(r.opts.Profile)
	key := [2]string{s.impl.Name, sc.Name}
	var earlier [][]analysis.Rung
	for _, ladder := range r.rungs[key] {
		// Only the rungs below this rate: other trials of this very rate
		// must not decide whether it runs.
		var below []analysis.Rung
		for _, g := range ladder {
			if g.Rate < float64(def.Rate) {
				below = append(below, g)
			}
		}
		if len(below) > 0 {
			earlier = append(earlier, below)
		}
	}
	skip, why := analysis.Prune(float64(def.Rate), earlier, float64(sc.LatencyBound.D().Microseconds()), r.bestClosed(s.impl.Name))
	if !skip {
		return false
	}
	r.addRung(key, trial, analysis.Rung{Step: def.Name, Rate: float64(def.Rate)})
	r.skip(s, sc, st, trial, why)
	return true
}

// skip records a trial that is not run, and why.
func (r *runner) skip(s *server, sc lab.Scenario, st lab.Step, trial int, why string) {
	def := st.For(r.opts.Profile)
	r.w.Update(func(f *results.File) {
		f.Skipped = append(f.Skipped, results.Skip{Impl: s.impl.Name, Scenario: sc.Name, Step: def.Name, Trial: trial, Why: why})
	})
}

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

// bestClosed is the highest median rate of the implementation's echo
// closed-loop steps so far in this run (0: none yet).
func (r *runner) bestClosed(impl string) float64 {
	best := 0.0
	for k, v := range r.closedRates {
		if k[0] == impl {
			best = max(best, analysis.Median(v))
		}
	}
	return best
}

func (r *runner) addRung(key [2]string, trial int, g analysis.Rung) {
	for len(r.rungs[key]) < trial {
		r.rungs[key] = append(r.rungs[key], nil)
	}
	r.rungs[key][trial-1] = append(r.rungs[key][trial-1], g)
}

func (r *runner) startServer(ctx context.Context, impl lab.Implementation, mode string) (*server, error) {
	env := map[string]string{}
	for k, v := range impl.Env {
		env[k] = v
	}
	env["MODE"] = mode
	env["PORT"] = strconv.Itoa(ServerPort)
	// The upstream's address, not its name: no fetch waits on Docker's
	// DNS (PROTOCOL.md).
	env["UPSTREAM_URL"] = "http://" + r.up.Addr(8080)
	env["UPSTREAM_CLIENT"] = cmp.Or(r.client, lab.Pooled)
	c, err := r.rt.Start(ctx, runtime.Spec{
		Image: impl.Image, Name: impl.Name, Env: env, Network: r.nw,
		Cpuset: r.serverCPU(), Memory: r.opts.MemoryLimit, Publish: r.plan.Engines.ServerAddress,
	})
	if err != nil {
		return nil, err
	}
	r.keep(c)
	if r.plan.Engines.Driver != nil {
		// The driver on the other machine dials the published port.
		far, err := c.Published(ctx, ServerPort)
		if err != nil {
			r.remove(c)
			return nil, err
		}
		r.mu.Lock()
		r.far[c.Addr(ServerPort)] = far
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
func (r *runner) keep(c *runtime.Container) {
	r.mu.Lock()
	r.live = append(r.live, c)
	r.mu.Unlock()
}

// removeLater removes a container that served its trial while the run
// goes on: stopping it and freeing its connections take longer than
// starting the next, and nothing measured reads it any more. A phase
// waits for every removal before its servers go.
func (r *runner) removeLater(c *runtime.Container) {
	r.removing.Add(1)
	go func() {
		defer r.removing.Done()
		r.remove(c)
	}()
}

func (r *runner) remove(c *runtime.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Terminate(ctx); err != nil {
		r.say("lab: %v", err)
	}
	r.mu.Lock()
	r.live = slices.DeleteFunc(r.live, func(x *runtime.Container) bool { return x == c })
	r.mu.Unlock()
}

func (r *runner) cleanup() {
	if r.upm != nil {
		r.upm.Stop()
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
	for _, rt := range slices.Compact([]*runtime.Runtime{r.rt, r.drt}) {
		if n, m, err := rt.Leftovers(ctx, r.runID); err != nil || n+m > 0 {
			msg := fmt.Sprintf("left behind %d containers and %d networks on %s (%v); `lab clean` removes them", n, m, rt.Address(), err)
			r.say("lab: %s", msg)
			r.w.Update(func(f *results.File) { f.Warnings = append(f.Warnings, msg) })
		}
	}
}

func (r *runner) markDead(impl, scen, step, why string) {
	r.dead[impl] = why
	r.record(lab.Failure{Impl: impl, Scenario: scen, Step: step, Message: why + "; skipped for the rest of the run", LeftOut: true})
}

// conform runs the conformance step; a server that fails is out.
func (r *runner) conform(ctx context.Context, s *server, mode string) bool {
	targets := []conformance.Target{{Addr: s.c.Addr(ServerPort), Mode: mode, Upstream: conformance.NotFetch}}
	if mode == "fetch" {
		targets = []conformance.Target{
			{Addr: s.c.Addr(ServerPort), Mode: mode, Upstream: conformance.Healthy},
			{Addr: s.c.Addr(ServerPort), Mode: mode, Upstream: conformance.Failing},
		}
	}
	ok := true
	// A later phase of the same mode changes only the upstream client:
	// the hostile clients tried the server's reading and writing already.
	again := r.judged[[2]string{s.impl.Name, mode}]
	if r.opts.Profile == lab.Quick {
		// A smoke test judges each server once a mode, by the contract:
		// make test's conformance of every image tries the rest.
		if again {
			return true
		}
		again = true
	}
	for _, t := range targets {
		t.Memory, t.ContractOnly = s.memory, again
		b := upstream.Behaviour{Latency: time.Millisecond, Jitter: time.Millisecond}
		if t.Upstream == conformance.Failing {
			b = upstream.Behaviour{ErrorRate: 1}
		}
		if err := r.upc.set(ctx, b); err != nil {
			r.markDead(s.impl.Name, "", "", "could not set the upstream for conformance: "+err.Error())
			return false
		}
		res, err := r.check(ctx, t)
		if err != nil {
			r.markDead(s.impl.Name, "", "", fmt.Sprintf("could not run the conformance suite (%s): %v", t.Name(), err))
			return false
		}
		failed := conformance.FailedCases(res)
		name := t.Name()
		if r.client != "" {
			name += " (" + r.client + " upstream client)"
		}
		r.w.Update(func(f *results.File) {
			// A resumed run judges again: the newer verdict stands.
			f.Conformance = slices.DeleteFunc(f.Conformance, func(c results.Conformance) bool { return c.Impl == s.impl.Name && c.Target == name })
			f.Conformance = append(f.Conformance, results.Conformance{Impl: s.impl.Name, Target: name, Passed: len(failed) == 0, Results: res})
		})
		if len(failed) > 0 && ctx.Err() == nil {
			r.markDead(s.impl.Name, "", "", fmt.Sprintf("failed conformance (%s): %s", t.Name(), strings.Join(failed, ", ")))
			ok = false
			break
		}
		r.say("lab: %s passes conformance (%s, %d cases)", s.impl.Name, t.Name(), len(res)-skipped(res))
	}
	if ok {
		r.judged[[2]string{s.impl.Name, mode}] = true
	}
	return ok
}

// check runs the conformance suite against t: from this process, or on a
// remote engine from a driver container on the run's network (`driver
// conform`), so that its timings and resets are the network's own.
func (r *runner) check(ctx context.Context, t conformance.Target) ([]conformance.Result, error) {
	if !r.plan.gated() {
		return conformance.Check(ctx, t), nil
	}
	job, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	out, code, err := r.rt.RunToEnd(ctx, runtime.Spec{
		Image: DriverImage, Name: "conformance", Network: r.nw, Cpuset: r.helperCPU(), Cmd: []string{"conform", string(job)},
	})
	if err != nil {
		return nil, err
	}
	var res []conformance.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("the conformance container (exit %d) wrote no verdicts (%v): %s", code, err, tail(string(out), 400))
	}
	return res, nil
}

func skipped(rs []conformance.Result) int {
	n := 0
	for _, r := range rs {
		if r.Skipped {
			n++
		}
	}
	return n
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	if s == "" {
		return "(nothing)"
	}
	return s
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
