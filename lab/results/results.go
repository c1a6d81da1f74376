// Package results stores a run and rebuilds everything from what is on disk.
//
// A run folder holds run.json (what was run, on what, written at the start),
// trials.jsonl (one line per measured trial, appended as the driver finishes
// it, so an interrupted run keeps every trial it gathered) and results.json
// (the whole run with summaries, rebuilt from the other two at the end, or
// later by `lab report`). results.json is versioned by its Schema field and
// documented in docs/RESULTS.md.
//
// Statistics are opinionated and say when they are weak: the centre of a
// step is the median of its trials, the interval their range, and warnings
// (driver-bound, errors, wide spread) travel with the number.
package results

import (
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab"
)

// Schema names this version of results.json. v4 added each closed-loop
// trial's fairness; a v3 file reads as one without it.
const Schema = "linelab.results/v4"

// readable are the versions Load accepts: this one, and those it only
// extended.
var readable = []string{Schema, "linelab.results/v3"}

// File is results.json.
type File struct {
	Schema      string      `json:"schema"`
	RunID       string      `json:"run_id"`
	Profile     lab.Profile `json:"profile"`
	Command     string      `json:"command"` // reruns this run
	Started     time.Time   `json:"started"`
	Finished    time.Time   `json:"finished,omitzero"`
	Interrupted string      `json:"interrupted,omitempty"` // why the run stopped early
	// Resumed: when `lab run --resume` took the run up again after it
	// stopped, once per time.
	Resumed         []time.Time          `json:"resumed,omitempty"`
	Seed            int64                `json:"seed"` // of the shuffled order of implementations
	Environment     Environment          `json:"environment"`
	Calibration     *Calibration         `json:"calibration,omitempty"`
	Canary          *Canary              `json:"canary,omitempty"` // rebuilt from the trials
	Scenarios       []lab.Scenario       `json:"scenarios"`
	Implementations []lab.Implementation `json:"implementations"`
	Sources         []Source             `json:"sources"` // the handler files, so a report needs no checkout
	Conformance     []Conformance        `json:"conformance"`
	Steps           []StepResult         `json:"steps"`
	Knees           []lab.Knee           `json:"knees,omitempty"`
	Skipped         []Skip               `json:"skipped,omitempty"` // steps the run chose not to run, and why
	Failures        []lab.Failure        `json:"failures,omitempty"`
	Warnings        []string             `json:"warnings,omitempty"`
	// Budget is the run's time budget (lab run --budget); extra headline
	// trials ran only while it allowed. 0: none.
	Budget lab.Duration `json:"budget,omitempty"`
	Time   Time         `json:"time"`
}

// Time is where a run's wall time went, in seconds.
type Time struct {
	// Setup: starting the upstream and the servers, the conformance
	// suite and the calibration, as the runner measured them.
	Setup float64 `json:"setup"`
	// Trials, Windows and Around are rebuilt from the trials: how many
	// ran, their warm-ups and windows, and what each part around them
	// cost in all (lab.Overhead).
	Trials  int          `json:"trials"`
	Extra   int          `json:"extra_trials"` // of Trials, run because a ranking was undecided
	Windows float64      `json:"windows"`
	Around  lab.Overhead `json:"around"`
}

// Source is one handler file named in compose.yaml, as it was at run time.
type Source struct {
	Impl string `json:"impl"`
	Path string `json:"path"`
	Text string `json:"text"`
}

// Environment fingerprints the machine and what ran on it.
type Environment struct {
	CPUModel      string           `json:"cpu_model"`
	Cores         int              `json:"cores"`
	Kernel        string           `json:"kernel"`
	DockerVersion string           `json:"docker_version"`
	CgroupVersion string           `json:"cgroup_version"`
	GoVersion     string           `json:"go_version"` // of the lab
	Images        map[string]Image `json:"images"`     // by implementation
	Pinning       Pinning          `json:"pinning"`
	// Driver is where the load came from: "local" (the lab process) or
	// "container" (the linelab/agent image, Images["agent"]; "driver" in
	// runs before the image was named for its every role); empty in
	// runs from before there was a choice, which were local.
	Driver string `json:"driver,omitempty"`
	// Engine is the servers' engine of a run the lab only steered (a
	// remote engine, or two); nil for this machine's. Then Cores and
	// Kernel are what that engine says of its machine (and CPUModel too,
	// "not told by the engine", when it is another machine).
	Engine *Engine `json:"engine,omitempty"`
	// DriverEngine is the driver's engine when it was not the servers':
	// the load crossed the network from its machine to ServerAddress.
	DriverEngine  *Engine       `json:"driver_engine,omitempty"`
	ServerAddress string        `json:"server_address,omitempty"`
	MemoryLimit   int64         `json:"memory_limit_bytes"` // of each server container
	Hardening     lab.Hardening `json:"hardening"`          // of every container
}

// Engine is a remote Docker engine and the machine it says it runs on.
type Engine struct {
	Host    string `json:"host"` // its address, e.g. ssh://root@build-box, or a context
	Machine string `json:"machine"`
	OS      string `json:"os"`
	Kernel  string `json:"kernel"`
	Cores   int    `json:"cores"`
	Memory  int64  `json:"memory_bytes"`
}

// Image is one image the run used.
type Image struct {
	Ref      string            `json:"ref"`
	ID       string            `json:"id"`
	Size     int64             `json:"size_bytes"`
	Runtimes map[string]string `json:"runtimes,omitempty"` // runtime.* labels: python, gevent, twisted, node, go
}

// Pinning says which cores did what.
type Pinning struct {
	Server   string `json:"server"`   // cpuset of every server container
	Driver   string `json:"driver"`   // cores of the lab process
	Upstream string `json:"upstream"` // cpuset of the upstream container
}

// Calibration is the driver's own ceiling and cost, measured against the
// fastest Go server at the start of the run.
type Calibration struct {
	Against   string  `json:"against"`
	Closed    float64 `json:"closed_lines_per_s"`    // 100 connections, one line in flight
	Pipelined float64 `json:"pipelined_lines_per_s"` // 50 connections, 16 in flight
	OpenRate  float64 `json:"open_rate"`             // the open loop's offered rate, 50 connections
	Open      float64 `json:"open_lines_per_s"`      // what it answered
	// Paced: a closed loop on the open loop's 50 connections held to its
	// rate, the reference of the open loop's cost per line.
	Paced float64 `json:"paced_lines_per_s,omitempty"`
	// CPU per answered line, in µs, of the driver process and of the
	// server, for each loop: their ratio is the driver's headroom.
	DriverUS map[string]float64 `json:"driver_us_per_line"` // closed, pipelined, paced, open
	ServerUS map[string]float64 `json:"server_us_per_line"`
	// DriverCoreBusy is the driver core's busiest share in each loop.
	DriverCoreBusy map[string]float64 `json:"driver_core_busy"`
}

// Canary is the run's fixed reference: a short closed loop against the
// calibration server, measured before every trial. Its spread is how much
// the machine drifted.
type Canary struct {
	Against string  `json:"against"`
	Step    string  `json:"step"`
	Median  float64 `json:"median_lines_per_s"`
	Lo      float64 `json:"lo"`
	Hi      float64 `json:"hi"`
	N       int     `json:"n"`
	Drifted int     `json:"drifted_trials"` // trials whose canary was more than 10% from the median
}

// Skip is a step the run did not run for an implementation.
type Skip struct {
	Impl     string `json:"impl"` // "" with no step: the whole scenario, for every server (the machine cannot run it)
	Scenario string `json:"scenario"`
	Step     string `json:"step"`
	Trial    int    `json:"trial"`
	Why      string `json:"why"`
}

// Conformance is one implementation's conformance step.
type Conformance struct {
	Impl    string               `json:"impl"`
	Target  string               `json:"target"` // echo, fetch/healthy, fetch/failing
	Passed  bool                 `json:"passed"`
	Results []conformance.Result `json:"cases"`
}

// StepResult is one implementation × scenario × step as it ran: its
// definition in the profile, its trials and their summary.
type StepResult struct {
	Impl     string      `json:"impl"`
	Scenario string      `json:"scenario"`
	Step     string      `json:"step"`
	Def      lab.Step    `json:"def"` // as it ran in the profile
	Trials   []lab.Trial `json:"trials"`
	Summary  lab.Summary `json:"summary"`
}
