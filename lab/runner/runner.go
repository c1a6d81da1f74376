package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/metrics"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
)

// ServerPort is the port every server listens on inside its container.
const ServerPort = 7000

// ErrMissingImages means images must be built first.
var ErrMissingImages = errors.New("images are missing")

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
	rt, err := openRuntime(ctx, runID, plan.Topology.Server, opts.Progress)
	if err != nil {
		return nil, "", err
	}
	defer rt.Close()
	drt := rt
	if d := plan.Topology.Driver; d != nil {
		if drt, err = openRuntime(ctx, runID, *d, opts.Progress); err != nil {
			return nil, "", err
		}
		defer drt.Close()
	}
	if plan.Topology.steered() {
		if plan.Layout, err = plan.Topology.layout(ctx, rt, drt, opts); err != nil {
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
	r.driverRT = drt // the servers' engine unless apart
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
	self := engine.Self()
	return results.Lock{RunID: r.runID, PID: self.PID, Owner: self.String(), Started: time.Now().UTC()}
}

// openRuntime connects to the engine for run runID and removes what runs
// whose lab process is gone left behind; a run that is still going is a
// reason not to start.
func openRuntime(ctx context.Context, runID string, addr engine.Address, progress io.Writer) (*engine.Runtime, error) {
	rt, err := engine.NewOn(ctx, runID, addr, engine.Self()) // labels everything with this run's id
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

func newRunner(opts Options, p *Plan, rt *engine.Runtime, runID string, seed int64) *runner {
	r := &runner{opts: opts, plan: p, rt: rt, driverRT: rt, runID: runID, dead: map[string]string{}, judged: map[judgedKey]bool{}, failed: map[[3]string]bool{},
		finished: map[plan.Key]bool{}, seed: seed, prog: progress{began: time.Now(), spare: map[string]time.Duration{}},
		mem: newMemory(), farAddr: map[string]string{}}
	r.sched = plan.Make(plan.Input{Profile: opts.Profile, Impls: p.Impls, Scenarios: p.Scenarios, Seed: seed,
		ServerCores: len(p.Layout.Server), Steered: p.Topology.steered()})
	r.prog.extraSteps = stepsWithExtras(r.sched)
	r.pinned = "not pinned: the lab only steers"
	if !p.Topology.steered() {
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

type runner struct {
	opts     Options
	plan     *Plan
	rt       *engine.Runtime // the servers' engine
	driverRT *engine.Runtime // the driver's engine: rt, or another
	runID    string
	pinned   string
	w        *results.Writer

	nw          *engine.Network
	up          *engine.Container
	upSampler   *metrics.Sampler // the upstream's CPU
	upControl   *upstreamClient
	client      string         // the phase's upstream-client discipline (fetch mode)
	ref         *server        // the calibration server, also the canary; paused between uses
	driverCores *metrics.Cores // the driver's core (the lab and the upstream)
	serverCores *metrics.Cores // the servers' cores
	calib       *results.Calibration
	mu          sync.Mutex          // guards live and farAddr: a phase starts its servers at once
	live        []*engine.Container // to remove at the end
	dead        map[string]string   // implementation → why it is out
	judged      map[judgedKey]bool  // passed every case, hostile clients included
	// removing counts the containers being removed in the background.
	removing sync.WaitGroup
	failed   map[[3]string]bool // impl, scenario, step: the server failed it
	// sched is the run's trials in order (plan.Make).
	sched *plan.Plan
	// finished: trials a resumed run found done (run, skipped) and does
	// not run again.
	finished map[plan.Key]bool
	seed     int64
	// netemChecked, netemWhy: whether this machine can make a lossy link
	// was tried, and why it cannot ("" it can).
	netemChecked bool
	netemWhy     string

	mem     memory            // what the trials so far said
	farAddr map[string]string // a server's address on the run's network → where the driver's machine reaches it
	prog    progress          // the run's time against its plan and budget
}

// progress is the run's time against its plan and its budget: what the
// progress line, the estimate and the extra trials' grants read.
type progress struct {
	began time.Time // when the run started (a resumed run: earlier, by what it took)
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
	topo := r.plan.Topology
	if r.nw, err = topo.network(ctx, r.rt); err != nil {
		return err
	}
	// A remote servers' engine: the lab reaches the run's network through
	// the gate container, and cannot read that machine's /proc/stat, so
	// steps do not wait for the server cores to be quiet. A run the lab
	// only steers judges driver-bound by the driver container's own CPU.
	if topo.gated() {
		if err := r.startGate(ctx); err != nil {
			return err
		}
	} else if r.serverCores, err = metrics.StartCores(cpuList(r.serverCPU())); err != nil {
		r.say("lab: cannot read the server core's load (%v); steps start without waiting for it to be quiet", err)
	}
	if !topo.steered() {
		if r.driverCores, err = metrics.StartCores(r.plan.Layout.Driver); err != nil {
			r.say("lab: cannot read the driver core's load (%v); driver-bound falls back to the lab's own CPU", err)
		}
	}
	if s := topo.String(); s != "" {
		r.say("lab: %s", s)
	}
	defer func() {
		for _, c := range []*metrics.Cores{r.driverCores, r.serverCores} {
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
		r.prog.phasesLeft = len(plan.Phases) - i - 1
		if err := r.phase(ctx, ph); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (r *runner) phase(ctx context.Context, ph plan.Phase) error {
	scens := plan.PhaseScenarios(r.plan.Scenarios, ph)
	if len(scens) == 0 {
		return nil
	}
	mode := ph.Mode
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
	r.prog.lastSetup = time.Since(setup)
	r.addSetup(r.prog.lastSetup)
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
