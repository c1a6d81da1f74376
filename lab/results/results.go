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
	"github.com/linelab/linelab/lab/analysis"
)

// Schema names this version of results.json.
const Schema = "linelab.results/v3"

// File is results.json.
type File struct {
	Schema          string               `json:"schema"`
	RunID           string               `json:"run_id"`
	Profile         lab.Profile          `json:"profile"`
	Command         string               `json:"command"` // reruns this run
	Started         time.Time            `json:"started"`
	Finished        time.Time            `json:"finished,omitzero"`
	Interrupted     string               `json:"interrupted,omitempty"` // why the run stopped early
	Seed            int64                `json:"seed"`                  // of the shuffled order of implementations
	Environment     Environment          `json:"environment"`
	Calibration     *Calibration         `json:"calibration,omitempty"`
	Canary          *Canary              `json:"canary,omitempty"` // rebuilt from the trials
	Scenarios       []lab.Scenario       `json:"scenarios"`
	Implementations []lab.Implementation `json:"implementations"`
	Sources         []Source             `json:"sources"` // the handler files, so a report needs no checkout
	Conformance     []Conformance        `json:"conformance"`
	Steps           []Step               `json:"steps"`
	Knees           []Knee               `json:"knees,omitempty"`
	Skipped         []Skip               `json:"skipped,omitempty"` // steps the run chose not to run, and why
	Failures        []Failure            `json:"failures,omitempty"`
	Warnings        []string             `json:"warnings,omitempty"`
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
	MemoryLimit   int64            `json:"memory_limit_bytes"` // of each server container
	Hardening     lab.Hardening    `json:"hardening"`          // of every container
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
	// CPU per answered line, in µs, of the driver process and of the
	// server, for each loop: their ratio is the driver's headroom.
	DriverUS map[string]float64 `json:"driver_us_per_line"` // closed, pipelined, open
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
	Impl     string `json:"impl"`
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

// Step is one implementation × scenario × step, with its trials.
type Step struct {
	Impl     string   `json:"impl"`
	Scenario string   `json:"scenario"`
	Step     string   `json:"step"`
	Def      lab.Step `json:"def"` // as it ran in the profile
	Trials   []Trial  `json:"trials"`
	Summary  Summary  `json:"summary"`
}

// Trial is one measured run of a step. Latencies are in microseconds.
type Trial struct {
	Impl     string `json:"impl"`
	Scenario string `json:"scenario"`
	Step     string `json:"step"`
	Trial    int    `json:"trial"` // 1-based

	Started     time.Time        `json:"started"`
	Seconds     float64          `json:"seconds"`                    // measured window
	Lines       int64            `json:"lines"`                      // correct answers that arrived in the window (connections, for churn)
	Late        int64            `json:"late,omitempty"`             // answers to lines of the window that came after it
	InFlight    int64            `json:"in_flight_at_end,omitempty"` // lines still unanswered when the window closed
	Throughput  float64          `json:"throughput"`
	Offered     float64          `json:"offered,omitempty"` // open loop
	Latency     Percentiles      `json:"latency_us"`
	Uncorrected *Percentiles     `json:"uncorrected_latency_us,omitempty"`
	SendLag     *Percentiles     `json:"send_lag_us,omitempty"` // open loop: how late the driver sent each line
	Errors      map[string]int64 `json:"errors,omitempty"`
	FirstError  string           `json:"first_error,omitempty"`

	CPUSeconds        float64 `json:"cpu_seconds"`           // the server's, from its cgroup
	ServerCores       float64 `json:"server_cores"`          // CPU seconds per second
	LinesPerCPUSecond float64 `json:"lines_per_cpu_second"`  // efficiency
	MemBaseline       int64   `json:"mem_baseline_bytes"`    // working set before the step
	MemWorkingSetMax  int64   `json:"mem_working_set_bytes"` // during the step
	MemPeak           int64   `json:"mem_peak_bytes"`        // cgroup high-water mark
	ThreadsMax        int     `json:"threads"`
	Connected         int     `json:"connected,omitempty"`          // idle: connections held
	MemPerConnection  float64 `json:"mem_per_connection,omitempty"` // idle: bytes
	ThreadsPerConn    float64 `json:"threads_per_connection,omitempty"`
	UpstreamServed    int64   `json:"upstream_served,omitempty"` // fetch: translations the upstream gave

	DriverCores      float64  `json:"driver_cores"`             // the lab process's CPU in the window
	DriverCoreBusy   float64  `json:"driver_core_busy"`         // the driver core's busy share (process, upstream, softirq); -1 unknown
	ServerCoreBefore float64  `json:"server_core_busy_before"`  // the server core's busy share just before the step
	UpstreamCores    float64  `json:"upstream_cores,omitempty"` // fetch: the upstream container's CPU in the window
	DriverBound      bool     `json:"driver_bound"`
	UpstreamBound    bool     `json:"upstream_bound,omitempty"`
	BoundBy          []string `json:"bound_by,omitempty"` // what made it driver- or upstream-bound, in words
	Canary           float64  `json:"canary"`             // lines/s of the canary just before this trial
	Repeated         bool     `json:"repeated,omitempty"` // run again because the canary moved
	Order            int      `json:"order"`              // position among the implementations in this step's round

	Histogram            []byte `json:"histogram"` // HdrHistogram V2 compressed, base64 in JSON
	UncorrectedHistogram []byte `json:"uncorrected_histogram,omitempty"`
}

// Percentiles of a latency histogram, in microseconds.
type Percentiles struct {
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	P9999 int64   `json:"p99_99"`
	Max   int64   `json:"max"`
	Mean  float64 `json:"mean"`
	Count int64   `json:"count"`
}

// Stat is a centre with an interval over trials.
type Stat struct {
	Center float64 `json:"center"` // median
	Lo     float64 `json:"lo"`     // smallest trial
	Hi     float64 `json:"hi"`     // largest trial
	N      int     `json:"n"`
}

// Summary is a step's trials in a few opinionated numbers.
type Summary struct {
	Throughput    Stat               `json:"throughput"`
	P50           Stat               `json:"p50_us"`
	P99           Stat               `json:"p99_us"`
	LinesPerCPU   Stat               `json:"lines_per_cpu_second"`
	ServerCores   Stat               `json:"server_cores"`
	Memory        Stat               `json:"mem_working_set_bytes"`
	MemPerConn    Stat               `json:"mem_per_connection,omitzero"`
	Threads       Stat               `json:"threads"`
	Errors        int64              `json:"errors"`                   // over all trials
	Headroom      Stat               `json:"driver_headroom,omitzero"` // server CPU per line ÷ driver CPU per line
	Canary        Stat               `json:"canary_ratio,omitzero"`    // each trial's canary ÷ the run's median
	DriverBound   bool               `json:"driver_bound"`
	UpstreamBound bool               `json:"upstream_bound,omitempty"`
	Ideal         float64            `json:"ideal,omitempty"` // fetch closed loop: connections ÷ upstream latency
	Warnings      []analysis.Warning `json:"warnings,omitempty"`
}

// Knee is the highest open-loop rate an implementation sustained: found
// in each trial as the last rate before the first that failed, and given
// as the median of the trials with their range.
type Knee struct {
	Impl     string  `json:"impl"`
	Scenario string  `json:"scenario"`
	Rate     float64 `json:"rate"` // median over trials; 0: not even the lowest rate
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
	N        int     `json:"n"`
	// AtLeast: in the median trial nothing failed before the driver could
	// no longer keep its schedule (or the ladder ended): the knee is
	// higher than Rate, and this machine cannot say where.
	AtLeast bool      `json:"at_least,omitempty"`
	Trials  []float64 `json:"trials"` // each trial's knee
	BoundUS int64     `json:"bound_us"`
	Step    string    `json:"step,omitempty"`
	Why     string    `json:"why,omitempty"` // what ended the median trial's climb
}

// Failure is something that went wrong with an implementation mid-run.
type Failure struct {
	Impl     string    `json:"impl"`
	Scenario string    `json:"scenario,omitempty"`
	Step     string    `json:"step,omitempty"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
	// LeftOut: the server took no further part in the run (issue: a
	// failure should cost only its step).
	LeftOut bool `json:"left_out,omitempty"`
}
