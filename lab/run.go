package lab

import "time"

// What a run measured: a Trial per run of a step, summarised over trials
// with a Stat per figure, its Warnings, and the knees and failures of the
// run. The results package stores them (results.json), the analysis
// package decides what they may say.

// Trial is one measured run of a step. Latencies are in microseconds.
type Trial struct {
	Impl     string `json:"impl"`
	Scenario string `json:"scenario"`
	Step     string `json:"step"`
	Trial    int    `json:"trial"` // 1-based

	Started     time.Time           `json:"started"`
	Seconds     float64             `json:"seconds"`                    // measured window
	Lines       int64               `json:"lines"`                      // correct answers that arrived in the window (connections, for churn)
	Late        int64               `json:"late,omitempty"`             // answers to lines of the window that came after it
	InFlight    int64               `json:"in_flight_at_end,omitempty"` // lines still unanswered when the window closed
	Throughput  float64             `json:"throughput"`
	Offered     float64             `json:"offered,omitempty"` // open loop
	Latency     Percentiles         `json:"latency_us"`
	Uncorrected *Percentiles        `json:"uncorrected_latency_us,omitempty"`
	SendLag     *Percentiles        `json:"send_lag_us,omitempty"` // open loop: how late the driver sent each line
	Errors      map[FailClass]int64 `json:"errors,omitempty"`
	FirstError  string              `json:"first_error,omitempty"`

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

	// Driver is "container" when a linelab/agent container made the
	// load (its CPU is DriverCores), empty when the lab process did.
	Driver           string   `json:"driver,omitempty"`
	DriverCores      float64  `json:"driver_cores"`             // the lab process's CPU in the window
	DriverCoreBusy   float64  `json:"driver_core_busy"`         // the driver core's busy share (process, upstream, softirq); -1 unknown
	ServerCoreBefore float64  `json:"server_core_busy_before"`  // the server core's busy share just before the step
	UpstreamCores    float64  `json:"upstream_cores,omitempty"` // fetch: the upstream container's CPU in the window
	DriverBound      bool     `json:"driver_bound"`
	UpstreamBound    bool     `json:"upstream_bound,omitempty"`
	BoundBy          []string `json:"bound_by,omitempty"` // what made it driver- or upstream-bound, in words
	Canary           float64  `json:"canary"`             // lines/s of the canary just before this trial
	// CanaryAge: seconds between the canary's reading and this trial,
	// when a steady reading of a trial before stood for it (0: its own).
	CanaryAge float64 `json:"canary_age_s,omitempty"`
	Repeated  bool    `json:"repeated,omitempty"` // run again because the canary moved
	Order     int     `json:"order"`              // position among the implementations in this step's round
	// Kind is what the plan ran the trial for: "deciding" (a step the
	// headline is read from), "side" (a step that decides nothing) or
	// "extra" (a headline trial run because the ranking was undecided).
	Kind string `json:"kind,omitempty"`
	// Overhead is what the trial cost around its warm-up and window.
	Overhead *Overhead `json:"overhead,omitempty"`

	Histogram            []byte `json:"histogram"` // HdrHistogram V2 compressed, base64 in JSON
	UncorrectedHistogram []byte `json:"uncorrected_histogram,omitempty"`

	// Reconnects: connections the closed loop had to open again because
	// the server closed or reset one (the contract keeps them open).
	Reconnects int64 `json:"reconnects,omitempty"`
	// Fairness: how evenly a closed loop's connections were answered.
	Fairness *Fairness `json:"fairness,omitempty"`
	// Sched: what the scheduler did for the server in the window.
	Sched    *Sched    `json:"sched,omitempty"`
	Timeline *Timeline `json:"timeline,omitempty"` // fault steps
	// Hog: the heavy connection of a hog step (its lines are not in Lines).
	Hog *HogTrial `json:"hog,omitempty"`
}

// HogTrial is what the heavy connection of a hog step got.
type HogTrial struct {
	Rounds int `json:"rounds"` // N of each heavy line
	// RoundNS is the server's CPU per SHA-256 round, measured when the
	// line was sized; LineMS = Rounds × RoundNS, what a heavy line cost it.
	RoundNS float64 `json:"round_ns"`
	LineMS  float64 `json:"line_ms"`
	Lines   int64   `json:"lines"` // heavy answers in the window
	// CPUShare is the share of the server's CPU in the window that the
	// heavy lines took (Lines × LineMS over its CPU time): near 1, the hog
	// had the server to itself; near 0, it was starved.
	CPUShare float64     `json:"cpu_share"`
	Latency  Percentiles `json:"latency_us"`
	Errors   int64       `json:"errors,omitempty"`
}

// Overhead is the time a trial took besides its warm-up and window, by
// part, in seconds: what makes a run longer than its windows.
type Overhead struct {
	Canary float64 `json:"canary"`           // the canary's measurement, with its unpause and pause
	Pause  float64 `json:"pause"`            // unpausing the server under test and pausing it again
	Quiet  float64 `json:"quiet"`            // waiting for the cores to calm before the step
	Start  float64 `json:"start"`            // a fresh container (an idle step's, or one renewed)
	Repeat float64 `json:"repeat,omitempty"` // a first attempt set aside because the canary had moved
	Other  float64 `json:"other"`            // setting the upstream, samples, judging and storing the trial
}

// Total is the sum of the parts.
func (o Overhead) Total() float64 { return o.Canary + o.Pause + o.Quiet + o.Start + o.Repeat + o.Other }

// Add adds b's parts to o's.
func (o *Overhead) Add(b Overhead) {
	o.Canary += b.Canary
	o.Pause += b.Pause
	o.Quiet += b.Quiet
	o.Start += b.Start
	o.Repeat += b.Repeat
	o.Other += b.Other
}

// Timeline is a fault step's window in buckets: correct answers and
// failures by class, as they happened, and when the fault was done.
type Timeline struct {
	BucketMS int                   `json:"bucket_ms"`
	Answers  []int64               `json:"answers"`          // correct answers that arrived in each bucket
	Errors   map[FailClass][]int64 `json:"errors,omitempty"` // failures by class, in the bucket they were seen
	Faults   []Mark                `json:"faults,omitempty"`
	// FirstAnswerMS is from the fault's start to the first correct answer
	// to a line sent after the fault was over (for a crash: after the
	// container was started again); -1 when none came in the window.
	FirstAnswerMS float64 `json:"first_answer_ms"`
}

// Mark is one fault action as it was done, in ms from the window's opening.
type Mark struct {
	What   string  `json:"what"`
	FromMS float64 `json:"from_ms"`
	ToMS   float64 `json:"to_ms"`
	Error  string  `json:"error,omitempty"` // the action failed: the fault did not happen as planned
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
	Throughput    Stat      `json:"throughput"`
	P50           Stat      `json:"p50_us"`
	P99           Stat      `json:"p99_us"`
	LinesPerCPU   Stat      `json:"lines_per_cpu_second"`
	ServerCores   Stat      `json:"server_cores"`
	Memory        Stat      `json:"mem_working_set_bytes"`
	MemPerConn    Stat      `json:"mem_per_connection,omitzero"`
	Threads       Stat      `json:"threads"`
	Jain          Stat      `json:"jain,omitzero"`                 // closed loop: Jain's index over the connections' answers
	Slowest       Stat      `json:"slowest_share,omitzero"`        // closed loop: the least-served connection over the mean
	Voluntary     Stat      `json:"voluntary_per_line,omitzero"`   // the server's context switches per answer: it blocked
	Involuntary   Stat      `json:"involuntary_per_line,omitzero"` // … it was preempted
	WaitedUS      Stat      `json:"waited_us_per_line,omitzero"`   // µs its tasks waited to run, per answer
	Kernel        Stat      `json:"kernel_share,omitzero"`         // the kernel's share of its CPU
	HogShare      Stat      `json:"hog_cpu_share,omitzero"`        // hog steps: the heavy lines' share of the server's CPU
	HogLineMS     Stat      `json:"hog_line_ms,omitzero"`          // hog steps: what one heavy line cost the server
	Errors        int64     `json:"errors"`                        // over all trials
	Headroom      Stat      `json:"driver_headroom,omitzero"`      // server CPU per line ÷ driver CPU per line
	Recovery      Stat      `json:"recovery_ms,omitzero"`          // fault steps: fault's end to the rate back
	FirstAnswer   Stat      `json:"first_answer_ms,omitzero"`      // fault steps: fault's start to a good answer
	NotRecovered  int       `json:"not_recovered,omitempty"`       // trials whose rate was not back by the window's end
	Canary        Stat      `json:"canary_ratio,omitzero"`         // each trial's canary ÷ the run's median
	DriverBound   bool      `json:"driver_bound"`
	UpstreamBound bool      `json:"upstream_bound,omitempty"`
	Ideal         float64   `json:"ideal,omitempty"` // fetch closed loop: connections ÷ upstream latency
	Warnings      []Warning `json:"warnings,omitempty"`
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

// WarningCode names what may be wrong with a step's figure. The words for a
// reader are the report's business; a Code and its counts are what travel
// in results.json.
type WarningCode string

const (
	// WarnDriverBound: in some trials the driver (its core, its schedule or its
	// calibrated ceiling) may have been the limit, not the server.
	WarnDriverBound WarningCode = "driver-bound"
	// WarnUpstreamBound: in some fetch trials the upstream translator took so
	// much of the shared core that it may have been the limit.
	WarnUpstreamBound WarningCode = "upstream-bound"
	// WarnFailed: lines or connections failed or went unanswered.
	WarnFailed WarningCode = "failed"
	// WarnMissingTrials: fewer trials ran than the profile asks for.
	WarnMissingTrials WarningCode = "missing-trials"
	// WarnNoisy: the trials spread more than analysis.NoisySpread around their median.
	WarnNoisy WarningCode = "noisy"
	// WarnStalled: in some trials lines were in flight and not one answer
	// arrived in the window or after it, yet the server was still there;
	// the figure's range holds those trials' zero.
	WarnStalled WarningCode = "stalled"
	// WarnNotRecovered: in some trials of a fault step the rate was not
	// back by the window's end; its recovery time counts only the others.
	WarnNotRecovered WarningCode = "not-recovered"
)

// Warning is one thing a reader must know about a figure.
type Warning struct {
	Code   WarningCode `json:"code"`
	Trials int         `json:"trials,omitempty"` // trials it touched (bound), or that ran (missing-trials)
	Of     int         `json:"of,omitempty"`     // trials of the step (bound), or that the profile asks for (missing-trials)
	Count  int64       `json:"count,omitempty"`  // failed: lines or connections
	Spread float64     `json:"spread,omitempty"` // noisy: the trials' range over their median
	Canary float64     `json:"canary_spread,omitempty"`
	Why    []string    `json:"why,omitempty"` // bound: what made it so, in words, at most two
	// Machine: the step is noisy and the canary moved more than
	// CanaryNoise between its trials: the machine, not the server, is
	// the suspect.
	Machine bool `json:"machine,omitempty"`
}

// Fairness is how evenly a closed-loop trial's connections were served,
// from the answers each got in the window.
type Fairness struct {
	// Jain is Jain's index over the connections' answer counts: 1 when
	// every connection got as many, 1/n when one got them all.
	Jain float64 `json:"jain"`
	// Slowest is the least-served connection's answers over the mean: 1
	// when fair, 0 when a connection was starved.
	Slowest float64 `json:"slowest_share"`
}

// Sched is what the scheduler did for a server's tasks between the edges
// of a trial's window, read from its cgroup and each task's /proc files:
// where its CPU went, and why.
type Sched struct {
	Seconds     float64 `json:"seconds"`     // between the two readings
	Voluntary   int64   `json:"voluntary"`   // context switches: the task gave the CPU up (blocked)
	Involuntary int64   `json:"involuntary"` // context switches: the task was preempted
	Waited      float64 `json:"waited_s"`    // seconds its tasks were runnable but waiting for a CPU
	User        float64 `json:"user_s"`      // CPU seconds in user space
	System      float64 `json:"system_s"`    // CPU seconds in the kernel
	Tasks       int     `json:"tasks"`       // tasks at the second reading
}

// The calibration's loops: the keys of its per-loop figures
// (results.Calibration's DriverUS, ServerUS and DriverCoreBusy).
const (
	CalClosed    = string(Closed) // 100 connections, one line in flight
	CalPipelined = "pipelined"    // 50 connections, 16 in flight
	CalOpen      = string(Open)   // 50 connections at the open rate
	CalPaced     = "paced"        // a closed loop held to the open rate
)

// FailClass names a kind of failed line or connection, as the driver
// counts it.
type FailClass string

const (
	FailConnect   FailClass = "connect"    // could not connect
	FailReset     FailClass = "reset"      // the server reset the connection
	FailClosed    FailClass = "closed"     // the server closed the connection early
	FailTimeout   FailClass = "timeout"    // no answer in time
	FailWrong     FailClass = "wrong"      // an answer with the wrong bytes
	FailOrder     FailClass = "order"      // the answer of another request of the connection
	FailErrorLine FailClass = "error-line" // an "error: …" answer
	// FailExtra is an answer with no request in flight; the driver drops
	// the connection, and the lines still in flight on it count here too.
	FailExtra FailClass = "extra"
	// FailUnanswered is a line sent in the window whose answer had not
	// come when the grace period after the window ended: the backlog.
	FailUnanswered FailClass = "unanswered"
)

// FailClasses lists every class, in report order.
var FailClasses = [...]FailClass{FailConnect, FailReset, FailClosed, FailTimeout, FailWrong, FailOrder, FailErrorLine, FailExtra, FailUnanswered}
