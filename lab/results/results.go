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

// Schema names this version of results.json.
const Schema = "linelab.results/v1"

// File is results.json.
type File struct {
	Schema          string               `json:"schema"`
	RunID           string               `json:"run_id"`
	Profile         lab.Profile          `json:"profile"`
	Command         string               `json:"command"` // reruns this run
	Started         time.Time            `json:"started"`
	Finished        time.Time            `json:"finished,omitzero"`
	Interrupted     string               `json:"interrupted,omitempty"` // why the run stopped early
	Environment     Environment          `json:"environment"`
	Calibration     *Calibration         `json:"calibration,omitempty"`
	Scenarios       []lab.Scenario       `json:"scenarios"`
	Implementations []lab.Implementation `json:"implementations"`
	Sources         []Source             `json:"sources"` // the handler files, so a report needs no checkout
	Conformance     []Conformance        `json:"conformance"`
	Steps           []Step               `json:"steps"`
	Knees           []Knee               `json:"knees,omitempty"`
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

// Calibration is the driver's own ceiling, measured against the fastest Go
// server at the start of the run.
type Calibration struct {
	Against   string  `json:"against"`
	Closed    float64 `json:"closed_lines_per_s"`    // 50 connections, one line in flight
	Pipelined float64 `json:"pipelined_lines_per_s"` // 50 connections, 16 in flight
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
	Seconds     float64          `json:"seconds"` // measured window
	Lines       int64            `json:"lines"`   // correct answers (connections, for churn)
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

	DriverCores float64 `json:"driver_cores"`
	DriverBound bool    `json:"driver_bound"`

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
	Throughput  Stat     `json:"throughput"`
	P50         Stat     `json:"p50_us"`
	P99         Stat     `json:"p99_us"`
	LinesPerCPU Stat     `json:"lines_per_cpu_second"`
	ServerCores Stat     `json:"server_cores"`
	Memory      Stat     `json:"mem_working_set_bytes"`
	MemPerConn  Stat     `json:"mem_per_connection,omitzero"`
	Threads     Stat     `json:"threads"`
	Errors      int64    `json:"errors"` // over all trials
	DriverBound bool     `json:"driver_bound"`
	Ideal       float64  `json:"ideal,omitempty"` // fetch closed loop: connections ÷ upstream latency
	Warnings    []string `json:"warnings,omitempty"`
}

// Knee is the highest open-loop rate an implementation sustained.
type Knee struct {
	Impl     string  `json:"impl"`
	Scenario string  `json:"scenario"`
	Rate     float64 `json:"rate"` // 0: not even the lowest rate
	BoundUS  int64   `json:"bound_us"`
	Step     string  `json:"step,omitempty"`
}

// Failure is something that went wrong with an implementation mid-run.
type Failure struct {
	Impl     string    `json:"impl"`
	Scenario string    `json:"scenario,omitempty"`
	Step     string    `json:"step,omitempty"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
}
