//go:build docker

package runner

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
)

func dockerOptions(t *testing.T, out string) Options {
	opts := DefaultOptions()
	opts.Profile = lab.Quick
	opts.ComposeFile = filepath.Join("..", "..", "compose.yaml")
	opts.ScenarioDir = filepath.Join("..", "..", "scenarios")
	opts.RepoDir = filepath.Join("..", "..")
	opts.OutDir = out
	opts.Progress = testWriter{t}
	opts.Command = "go test -tags docker ./lab/runner"
	return opts
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestDockerQuickRun runs the quick profile end to end on two
// implementations, checks results.json, and checks that nothing is left.
// LINELAB_E2E_OUT keeps the run folder (make test passes it on to the
// browser test); without it the folder is temporary.
func TestDockerQuickRun(t *testing.T) {
	out := os.Getenv("LINELAB_E2E_OUT")
	if out == "" {
		out = t.TempDir()
	}
	opts := dockerOptions(t, out)
	opts.Impls = []string{"go-goroutine", "node"}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	_, dir, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := results.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Interrupted != "" || len(f.Failures) > 0 {
		t.Errorf("interrupted %q, failures %+v", f.Interrupted, f.Failures)
	}
	if f.Calibration == nil || f.Calibration.Closed <= 0 {
		t.Errorf("no calibration: %+v", f.Calibration)
	}
	resolved, err := Resolve(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Every trial of every step either ran or was skipped as not worth
	// running (an open loop's rungs past a knee), and says so.
	type key struct{ impl, scen, step string }
	count := map[key]int{}
	for _, s := range f.Steps {
		count[key{s.Impl, s.Scenario, s.Step}] += len(s.Trials)
	}
	notHere := map[string]bool{}
	for _, sk := range f.Skipped {
		count[key{sk.Impl, sk.Scenario, sk.Step}]++
		if sk.Why == "" {
			t.Errorf("skipped %+v without a reason", sk)
		}
		if sk.Impl == "" {
			// A scenario this machine cannot run (a lossy link without
			// netem) is skipped whole, once, saying why.
			notHere[sk.Scenario] = true
			t.Logf("not run here: %s: %s", sk.Scenario, sk.Why)
		}
	}
	for _, sc := range resolved.Scenarios {
		for _, st := range sc.Steps {
			for _, impl := range opts.Impls {
				if notHere[sc.Name] {
					if count[key{impl, sc.Name, st.Name}] != 0 {
						t.Errorf("%s %s/%s: ran though the scenario was not run here", impl, sc.Name, st.Name)
					}
					continue
				}
				if n, want := count[key{impl, sc.Name, st.Name}], plan.BaseTrials(sc, st.Name, opts.Profile); n != want {
					t.Errorf("%s %s/%s: %d trials run or skipped, want the plan's %d", impl, sc.Name, st.Name, n, want)
				}
			}
		}
	}
	// Every trial says what it cost around its window, and the run adds
	// them up.
	var trials int
	for _, s := range f.Steps {
		for _, tr := range s.Trials {
			trials++
			if tr.Overhead == nil || tr.Overhead.Total() <= 0 || tr.Kind == "" {
				t.Errorf("%s %s/%s trial %d: overhead %+v, kind %q", s.Impl, s.Scenario, s.Step, tr.Trial, tr.Overhead, tr.Kind)
			}
		}
	}
	if f.Time.Trials != trials || f.Time.Windows <= 0 || f.Time.Setup <= 0 || f.Time.Around.Total() <= 0 {
		t.Errorf("time %+v for %d trials", f.Time, trials)
	}
	if f.Canary == nil || f.Canary.N == 0 || f.Seed == 0 {
		t.Errorf("canary %+v, seed %d: want a canary reading per trial and the seed recorded", f.Canary, f.Seed)
	}
	for _, s := range f.Steps {
		if s.Summary.Throughput.Center <= 0 {
			t.Errorf("%s %s/%s: throughput %v", s.Impl, s.Scenario, s.Step, s.Summary.Throughput.Center)
		}
		if s.Summary.ServerCores.Center <= 0 || s.Summary.Memory.Center <= 0 {
			t.Errorf("%s %s/%s: no server metrics (cores %v, memory %v)", s.Impl, s.Scenario, s.Step, s.Summary.ServerCores.Center, s.Summary.Memory.Center)
		}
		if s.Def.Fault.Timed() {
			checkFault(t, s)
		}
		for _, tr := range s.Trials {
			// Only an open loop past a server's knee may leave lines
			// unanswered, and a fault step fail lines on purpose;
			// nothing else may fail.
			for class, n := range tr.Errors {
				if n > 0 && !(s.Def.Loop == lab.Open && class == "unanswered") && !s.Def.Fault.Timed() {
					t.Errorf("%s %s/%s trial %d: %d %s errors (%s)", s.Impl, s.Scenario, s.Step, tr.Trial, n, class, tr.FirstError)
				}
			}
			// The scheduler's counters at the window's edges: every trial
			// has tasks and switches; a closed loop says how evenly its
			// connections were answered. (A crash's window may close on a
			// container still starting; an idle trickle may use less than
			// the cgroup's 10 ms tick of CPU.)
			if sc := tr.Sched; !s.Def.Fault.Timed() && (sc == nil || sc.Tasks == 0 || sc.Voluntary+sc.Involuntary == 0 || s.Def.Loop != lab.Idle && sc.User+sc.System <= 0) {
				t.Errorf("%s %s/%s trial %d: scheduler counters %+v", s.Impl, s.Scenario, s.Step, tr.Trial, tr.Sched)
			}
			if fr := tr.Fairness; s.Def.Loop == lab.Closed && s.Def.Connections > 1 && (fr == nil || fr.Jain <= 0 || fr.Jain > 1+1e-9) {
				t.Errorf("%s %s/%s trial %d: fairness %+v", s.Impl, s.Scenario, s.Step, tr.Trial, tr.Fairness)
			}
			if tr.DriverCoreBusy < 0 || tr.DriverCoreBusy > 1 {
				t.Errorf("%s %s/%s trial %d: driver core busy %v", s.Impl, s.Scenario, s.Step, tr.Trial, tr.DriverCoreBusy)
			}
			// The histogram holds the lines of the window; the count
			// holds the answers that arrived in it. They differ only at
			// the window's edges.
			h, err := results.DecodeHistogram(tr.Histogram)
			if err != nil || h.TotalCount() == 0 {
				t.Errorf("%s %s/%s trial %d: histogram %v", s.Impl, s.Scenario, s.Step, tr.Trial, err)
				continue
			}
			edge := tr.Late + tr.InFlight + int64(s.Def.Connections*max(s.Def.Depth, 1)) + tr.Lines/10
			if d := h.TotalCount() - tr.Lines; d > edge || -d > edge {
				t.Errorf("%s %s/%s trial %d: %d latencies for %d answers (late %d, in flight %d)", s.Impl, s.Scenario, s.Step, tr.Trial, h.TotalCount(), tr.Lines, tr.Late, tr.InFlight)
			}
		}
	}
	if c := f.Calibration; c != nil && (c.DriverUS["closed"] <= 0 || c.DriverUS["open"] <= 0 || c.ServerUS["closed"] <= 0) {
		t.Errorf("calibration without the driver's cost: %+v", c)
	}
	for _, c := range f.Conformance {
		if !c.Passed {
			t.Errorf("conformance of %s (%s) failed", c.Impl, c.Target)
		}
	}
	// results.json rebuilds the same from the streamed trials.
	again, err := results.Rebuild(dir)
	if err != nil || len(again.Steps) != len(f.Steps) {
		t.Errorf("rebuild: %v, %d steps", err, len(again.Steps))
	}
	assertNothingLeft(t)
}

// checkFault checks a fault step of the quick run: every trial has its
// timeline with the fault done, the rate came back, and the clients saw
// what the fault makes them see (a crash: lost lines, reconnects; an
// upstream flap: error lines, and no connection dropped).
func checkFault(t *testing.T, s results.StepResult) {
	t.Helper()
	name := s.Impl + " " + s.Scenario + "/" + s.Step
	if s.Summary.Recovery.N == 0 {
		t.Errorf("%s: no trial came back (not recovered in %d): %+v", name, s.Summary.NotRecovered, s.Summary.Recovery)
	}
	for _, tr := range s.Trials {
		tl := tr.Timeline
		if tl == nil || len(tl.Faults) != 1 || tl.Faults[0].Error != "" || tl.FirstAnswerMS < 0 {
			t.Errorf("%s trial %d: timeline %+v", name, tr.Trial, tl)
			continue
		}
		switch s.Def.Fault.Kind {
		case lab.FaultCrash:
			if lost := analysis.LostLines(tr.Errors); lost == 0 || tr.Reconnects < int64(s.Def.Connections) {
				t.Errorf("%s trial %d: %d lines lost, %d reconnects: a crash loses what was in flight and every connection", name, tr.Trial, lost, tr.Reconnects)
			}
		case lab.FaultUpstreamFlap:
			if tr.Errors["error-line"] == 0 || tr.Reconnects != 0 || analysis.LostLines(tr.Errors) != 0 {
				t.Errorf("%s trial %d: errors %v, %d reconnects: an upstream outage owes error lines and keeps client connections open", name, tr.Trial, tr.Errors, tr.Reconnects)
			}
		}
	}
}

// TestDockerInterruptedRun stops a run mid-way: the trials gathered so far
// must be in results.json, marked interrupted, and nothing may be left.
func TestDockerInterruptedRun(t *testing.T) {
	opts := dockerOptions(t, t.TempDir())
	// Two servers: the quick profile runs echo-sweep's three steps once
	// each, so one server would finish before a fourth trial.
	opts.Impls = []string{"go-eventloop", "go-goroutine"}
	opts.Scenarios = []string{"echo-sweep"}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// Interrupt as the fourth trial starts: three trials are stored by then.
	opts.Progress = interrupter{testWriter{t}, func() { cancel(errors.New("test interrupt")) }}
	_, dir, err := Run(ctx, opts)
	if err == nil {
		t.Fatal("an interrupted run returned no error")
	}
	f, lerr := results.Load(dir)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if !strings.Contains(f.Interrupted, "test interrupt") {
		t.Errorf("interrupted = %q", f.Interrupted)
	}
	kept := 0
	for _, s := range f.Steps {
		kept += len(s.Trials)
	}
	if kept != 3 {
		t.Errorf("%d trials kept; want the 3 finished before the interrupt", kept)
	}
	planned := 0 // echo-sweep's trials for both servers
	for _, st := range f.Scenarios[0].Steps {
		planned += len(opts.Impls) * plan.BaseTrials(f.Scenarios[0], st.Name, f.Profile)
	}
	assertNothingLeft(t)

	// Resumed, the run does the rest and keeps the first 3 as they were.
	opts.Progress = testWriter{t}
	opts.Resume = dir
	opts.Scenarios = []string{"echo-latency"} // ignored: the run's own plan holds
	again, _, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Interrupted != "" || len(again.Resumed) != 1 {
		t.Errorf("resumed run: interrupted %q, resumed %v", again.Interrupted, again.Resumed)
	}
	first := map[string]lab.Trial{}
	for _, s := range f.Steps {
		for _, tr := range s.Trials {
			first[s.Impl+"/"+s.Step+"/"+strconv.Itoa(tr.Trial)] = tr
		}
	}
	all := 0
	for _, s := range again.Steps {
		if s.Scenario != "echo-sweep" {
			t.Errorf("the resumed run ran %s, not in its plan", s.Scenario)
		}
		for _, tr := range s.Trials {
			all++
			if was, ok := first[s.Impl+"/"+s.Step+"/"+strconv.Itoa(tr.Trial)]; ok && was.Throughput != tr.Throughput {
				t.Errorf("%s trial %d changed on resume: %v, was %v", s.Step, tr.Trial, tr.Throughput, was.Throughput)
			}
		}
	}
	if all != planned {
		t.Errorf("%d trials after the resume; want all %d", all, planned)
	}
	if _, _, err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "nothing to resume") {
		t.Errorf("resuming a finished run: %v", err)
	}
	assertNothingLeft(t)
}

// TestDockerStepFailure kills a server's container in the middle of one
// step: that step is recorded as failed (its other trials skipped, with the
// reason), and the server, on a fresh container, still has every other
// step and scenario.
func TestDockerStepFailure(t *testing.T) {
	opts := dockerOptions(t, t.TempDir())
	opts.Impls = []string{"go-goroutine"}
	opts.Scenarios = []string{"echo-sweep", "echo-latency"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	killed := make(chan error, 1)
	opts.Progress = onLine{testWriter{t}, "go-goroutine · echo-sweep/c100 · trial 1/", func() {
		go func() { killed <- killDuringStep(ctx, "go-goroutine") }()
	}}
	_, dir, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	f, err := results.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Failures) != 1 {
		t.Fatalf("failures %+v; want the one step", f.Failures)
	}
	if x := f.Failures[0]; x.Impl != "go-goroutine" || x.Scenario != "echo-sweep" || x.Step != "c100" || x.LeftOut {
		t.Errorf("failure %+v; want go-goroutine echo-sweep/c100, not left out", x)
	}
	trials := map[string]int{}
	for _, s := range f.Steps {
		trials[s.Scenario+"/"+s.Step] += len(s.Trials)
	}
	skipped := 0
	for _, sk := range f.Skipped {
		if sk.Scenario == "echo-sweep" && sk.Step == "c100" && strings.Contains(sk.Why, "failed") {
			skipped++
		}
	}
	want := map[string]int{}
	for _, sc := range f.Scenarios {
		for _, st := range sc.Steps {
			want[sc.Name+"/"+st.Name] = plan.BaseTrials(sc, st.Name, f.Profile)
		}
	}
	// The killed trial is kept when the kill fell in its window (it lands
	// as soon as the container is unpaused, often before); the ones after
	// it are skipped.
	if trials["echo-sweep/c100"] > 1 || skipped != want["echo-sweep/c100"]-1 {
		t.Errorf("echo-sweep/c100: %d trials, %d skipped as failed; want at most 1 and %d", trials["echo-sweep/c100"], skipped, want["echo-sweep/c100"]-1)
	}
	for _, k := range []string{"echo-sweep/c10", "echo-sweep/c1000", "echo-latency/c1"} {
		if trials[k] != want[k] {
			t.Errorf("%s: %d trials after the failure, want %d (%v)", k, trials[k], want[k], trials)
		}
	}
	assertNothingLeft(t)
}

// TestDockerLeftovers: what a lab process that is gone left behind is
// removed (and said) by the next run; a run whose lab process still runs
// stops the next one from starting, naming it.
func TestDockerLeftovers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host := engine.Self().Host
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	alive := exec.Command("sleep", "300")
	if err := alive.Start(); err != nil {
		t.Fatal(err)
	}
	defer alive.Process.Kill()
	live, err := engine.OwnerOf(alive.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	leave := func(runID string, o engine.Owner) {
		rt, err := engine.NewAs(ctx, runID, o)
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		if _, err := rt.NewNetwork(ctx); err != nil {
			t.Fatal(err)
		}
	}
	leave("test-dead-run", engine.Owner{Host: host, PID: ended.Process.Pid, Start: 1})
	leave("test-live-run", live)

	opts := dockerOptions(t, t.TempDir())
	opts.Impls = []string{"go-goroutine"}
	opts.Scenarios = []string{"echo-latency"}
	var said strings.Builder
	opts.Progress = io.MultiWriter(testWriter{t}, &said)
	_, _, err = Run(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "run test-live-run is still going (lab process "+strconv.Itoa(live.PID)) {
		t.Fatalf("with another run going: err = %v; want a refusal naming it", err)
	}
	if !strings.Contains(said.String(), "removed 0 containers and 1 network of run test-dead-run") {
		t.Errorf("the dead run's network was not removed, or not said:\n%s", said.String())
	}
	alive.Process.Kill()
	alive.Wait()
	said.Reset()
	_, dir, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(said.String(), "removed 0 containers and 1 network of run test-live-run") {
		t.Errorf("the run whose lab ended was not swept:\n%s", said.String())
	}
	if _, ok, _ := results.ReadLock(dir); ok {
		t.Errorf("the run ended and left its lock in %s", dir)
	}
	assertNothingLeft(t)
}

// killDuringStep waits until impl's container is running (only the server
// under test is unpaused, during its step) and kills it.
func killDuringStep(ctx context.Context, impl string) error {
	rt, err := engine.New(ctx, "")
	if err != nil {
		return err
	}
	defer rt.Close()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n, err := rt.KillRunning(ctx, impl); err != nil || n > 0 {
			return err
		}
	}
	return errors.New("the server's container never ran within 20 s of its step's progress line")
}

// onLine calls do once, when a progress line containing line is written.
type onLine struct {
	testWriter
	line string
	do   func()
}

func (w onLine) Write(b []byte) (int, error) {
	if strings.Contains(string(b), w.line) {
		w.do()
	}
	return w.testWriter.Write(b)
}

// interrupter cancels the run when the progress reaches step 4.
type interrupter struct {
	testWriter
	cancel func()
}

func (w interrupter) Write(b []byte) (int, error) {
	// "[4/9]" or "[ 4/12]": the counter is padded to the total's width.
	if strings.HasPrefix(strings.TrimLeft(strings.TrimPrefix(string(b), "["), " "), "4/") {
		w.cancel()
	}
	return w.testWriter.Write(b)
}

func assertNothingLeft(t *testing.T) {
	t.Helper()
	rt, err := engine.New(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if c, n, err := rt.Leftovers(context.Background(), ""); err != nil || c+n > 0 {
		t.Errorf("left behind %d containers and %d networks (%v)", c, n, err)
	}
}
