package lab

import "time"

// What a run is asked to do: Scenarios of Steps, each run in a Profile
// with a Loop and a Mode, maybe a Fault or a Hog, and the Headline figure
// and the Claims it answers. What the run measured is in run.go.

// Loop names how a step makes load.
type Loop string

const (
	// Closed: Connections connections each keep Depth lines in flight and
	// send the next line when an answer arrives. Throughput is what the
	// server allows; latency is per round trip.
	Closed Loop = "closed"
	// Open: lines are sent at a constant Rate across Connections whatever
	// the answers do; latency counts from each line's intended send time,
	// which corrects for coordinated omission (wrk2).
	Open Loop = "open"
	// Churn: Connections workers each connect, send one line, read the
	// answer and close, again and again. Throughput is connections per second.
	Churn Loop = "churn"
	// Idle: open Connections connections (each proves itself with one line),
	// hold them idle while memory and threads are sampled, then send one more
	// line on each over the step's duration.
	Idle Loop = "idle"
)

// Profile names a scenario length.
type Profile string

const (
	Quick    Profile = "quick"    // for CI: a smoke test of the whole lab in minutes
	Standard Profile = "standard" // the default of `make lab`
	Thorough Profile = "thorough" // figures to publish: 10 s windows, 5 trials
)

// Profiles lists every profile, shortest first.
var Profiles = []Profile{Quick, Standard, Thorough}

// ThoroughDefault is the thorough profile of a scenario file that names
// none: at least 10 s windows after 2 s of warm-up, five trials.
func ThoroughDefault(standard ProfileSpec) ProfileSpec {
	return ProfileSpec{
		Duration: max(standard.Duration, Duration(10*time.Second)),
		Warmup:   max(standard.Warmup, Duration(2*time.Second)),
		Trials:   max(standard.Trials, 5),
	}
}

// Scenario is one file of scenarios/.
type Scenario struct {
	Name        string            `yaml:"name" json:"name"`
	Description string            `yaml:"description" json:"description"`
	Mode        Mode              `yaml:"mode" json:"mode"`
	Upstream    *UpstreamSettings `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	// Clients are the upstream-client disciplines a fetch scenario runs
	// with (UPSTREAM_CLIENT; default pooled). The loader makes one scenario
	// per discipline: the first keeps the name, the others get
	// "-<discipline>" after it.
	Clients []string `yaml:"clients,omitempty" json:"-"`
	// Client is the discipline of this scenario (fetch mode), set by the
	// loader from Clients.
	Client   string                  `yaml:"-" json:"client,omitempty"`
	Profiles map[Profile]ProfileSpec `yaml:"profiles" json:"profiles"`
	// LatencyBound is the p99 an open-loop rate must stay under to count
	// as sustained; the highest such rate is the implementation's knee.
	LatencyBound Duration `yaml:"latency_bound,omitempty" json:"latency_bound,omitempty"`
	// Headline says which figure the scenario is for, so no code guesses
	// it from the scenario's shape.
	Headline *Headline `yaml:"headline,omitempty" json:"headline,omitempty"`
	// ServerCores is the fewest cores the servers must have for the
	// scenario to mean anything (0: any); a run whose layout gives them
	// fewer skips it and says why.
	ServerCores int `yaml:"server_cores,omitempty" json:"server_cores,omitempty"`
	// Claims are the talk's claims this scenario's figures answer, so the
	// report's claims section finds its evidence by what a file says it is
	// for, never by its name.
	Claims []Claim `yaml:"claims,omitempty" json:"claims,omitempty"`
	// Charts are the charts the report draws for the scenario, in order:
	// the file says which, so no code guesses them from the steps' shape.
	Charts []Chart `yaml:"charts,omitempty" json:"charts,omitempty"`
	Steps  []Step  `yaml:"steps" json:"steps"`
	File   string  `yaml:"-" json:"file"`
}

// Chart is one chart of a scenario's section in the report.
type Chart struct {
	Kind ChartKind `yaml:"kind" json:"kind"`
	// Steps are a spectrum's steps, one chart each (that kind only).
	Steps []string `yaml:"steps,omitempty" json:"steps,omitempty"`
}

// ChartKind names what a chart draws.
type ChartKind string

const (
	ChartSweep    ChartKind = "sweep"    // throughput against connections over closed steps, the ideal dashed
	ChartLadder   ChartKind = "ladder"   // p99 against offered rate over open steps, each knee ringed
	ChartSpectrum ChartKind = "spectrum" // latency by percentile at each of Steps (corrected on an open loop)
	ChartIdle     ChartKind = "idle"     // memory and threads against connections, up to the idle step
	ChartFaults   ChartKind = "faults"   // answers and failures over time in each step with a timed fault
	ChartCPU      ChartKind = "cpu"      // server cores busy at each step
)

// ChartKinds lists the kinds a scenario file may name.
var ChartKinds = []ChartKind{ChartSweep, ChartLadder, ChartSpectrum, ChartIdle, ChartFaults, ChartCPU}

// Claim names one of the "Why gevent" talk's claims the lab tests.
type Claim string

const (
	ClaimThreadsGrow Claim = "threads-grow" // threads' overhead grows with the connections
	ClaimHeldUp      Claim = "held-up"      // a cooperative handler that computes holds everyone up
	ClaimGIL         Claim = "gil"          // the GIL keeps threads to one core for Python work
	ClaimBackwards   Claim = "backwards"    // callbacks read backwards (from the sources; no scenario)
	ClaimMonkey      Claim = "monkey"       // monkey patching makes the threaded code asynchronous
)

// Claims lists the claims in the order the report answers them.
var Claims = []Claim{ClaimThreadsGrow, ClaimHeldUp, ClaimGIL, ClaimBackwards, ClaimMonkey}

// Mode is what a server does with a line (the protocol's MODE).
type Mode string

const (
	Echo  Mode = "echo"  // answer "echo: " and the payload
	Fetch Mode = "fetch" // ask the upstream translator, answer with its reply
	Work  Mode = "work"  // chain N SHA-256 rounds, answer with the digest (v1.2)
)

// The upstream-client disciplines of the protocol (UPSTREAM_CLIENT).
const (
	Pooled     = "pooled"      // kept-alive connections shared by the process
	PerRequest = "per-request" // a new connection per fetch, as the talk's code did
)

// Figure names a figure a scenario can be ranked by, or one that explains
// a ranking. Its name, unit and direction are written once, in figures.go.
type Figure string

// Headline is the figure a scenario's verdict ranks by.
type Headline struct {
	Step   string `yaml:"step,omitempty" json:"step,omitempty"` // empty for knee
	Figure Figure `yaml:"figure" json:"figure"`
	// Why says, in a sentence for the report, why this figure decides.
	Why string `yaml:"why" json:"why"`
}

// HigherIsBetter reports the figure's direction.
func (h Headline) HigherIsBetter() bool { return h.Figure.Info().HigherIsBetter }

// ProfileSpec is how long a scenario's steps run in one profile.
type ProfileSpec struct {
	Duration Duration `yaml:"duration" json:"duration"` // measured time of each step
	Warmup   Duration `yaml:"warmup" json:"warmup"`     // load before measuring, not counted
	// Trials is how many times each step the headline is read from runs,
	// interleaved across implementations: enough for the rank test to
	// separate two servers (four, where its smallest p is under 5%).
	Trials int `yaml:"trials" json:"trials"`
	// MaxTrials: the headline step runs more trials, up to this many, for
	// the implementations whose place in the ranking is still undecided,
	// while the run's budget allows (0: Trials, no extra trials).
	MaxTrials int `yaml:"max_trials,omitempty" json:"max_trials,omitempty"`
	// SideTrials is how many times a step that decides no headline runs
	// (0: Trials); its figures are shown, flagged as deciding nothing.
	SideTrials int `yaml:"side_trials,omitempty" json:"side_trials,omitempty"`
}

// Step is one measured load shape.
type Step struct {
	Name        string `yaml:"name" json:"name"`
	Loop        Loop   `yaml:"loop" json:"loop"`
	Connections int    `yaml:"connections" json:"connections"`
	Depth       int    `yaml:"depth,omitempty" json:"depth,omitempty"` // closed: lines in flight per connection
	Rate        int    `yaml:"rate,omitempty" json:"rate,omitempty"`   // open: lines per second in all
	Payload     string `yaml:"payload,omitempty" json:"payload,omitempty"`
	// Quick replaces some values in the quick profile (c10k opens fewer
	// connections in CI, say).
	Quick    *StepOverride     `yaml:"quick,omitempty" json:"quick,omitempty"`
	Upstream *UpstreamSettings `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	// Fault is done to the server or its surroundings during the step.
	Fault *Fault `yaml:"fault,omitempty" json:"fault,omitempty"`
	// Hog adds one connection that sends heavy work lines beside the
	// step's (a closed loop in work mode).
	Hog *Hog `yaml:"hog,omitempty" json:"hog,omitempty"`
}

// Hog is one more connection, beside a closed loop's, that sends one
// heavy work line at a time: the handler that computes while the other
// connections wait, or do not.
type Hog struct {
	// CPU is what one heavy line should cost the server. The lab sizes the
	// line for each server from its own CPU per SHA-256 round, measured
	// before its first trial of the step, so every model meets the same
	// burden rather than the same N.
	CPU Duration `yaml:"cpu" json:"cpu"`
	// Rounds is the N the lab sized for the server under test (set per
	// server, never in a scenario file).
	Rounds int `yaml:"-" json:"rounds,omitempty"`
}

// FaultKind names a fault a step injects on purpose.
type FaultKind string

const (
	// FaultCrash: At into the window, the server's container is killed
	// (SIGKILL) and started again at once, as a supervisor would.
	FaultCrash FaultKind = "crash"
	// FaultUpstreamFlap: At into the window, the upstream answers every
	// request 503 for the first half of For, then refuses connections
	// (its listening socket closed, its open connections closed) for the
	// second half. Fetch mode only.
	FaultUpstreamFlap FaultKind = "upstream-flap"
	// FaultLossyLink: for the whole step (warm-up included), every packet
	// the server sends on the lab's network is dropped with probability
	// Loss and delayed by Delay (Linux tc netem on the container's
	// interface).
	FaultLossyLink FaultKind = "lossy-link"
)

// Fault is what a step does on purpose, and when.
type Fault struct {
	Kind  FaultKind `yaml:"kind" json:"kind"`
	At    Duration  `yaml:"at,omitempty" json:"at,omitempty"`       // crash, upstream-flap: from the opening of the window
	For   Duration  `yaml:"for,omitempty" json:"for,omitempty"`     // upstream-flap: how long
	Loss  float64   `yaml:"loss,omitempty" json:"loss,omitempty"`   // lossy-link: share of packets dropped
	Delay Duration  `yaml:"delay,omitempty" json:"delay,omitempty"` // lossy-link: added to every packet
}

// Timed reports whether the fault happens at a moment of the window (and
// so has a before and an after to compare), rather than for the whole step.
func (f *Fault) Timed() bool { return f != nil && f.Kind != FaultLossyLink }

// StepOverride holds the values a profile may change.
type StepOverride struct {
	Connections int `yaml:"connections,omitempty" json:"connections,omitempty"`
	Rate        int `yaml:"rate,omitempty" json:"rate,omitempty"`
}

// For returns the step as it runs in profile p.
func (s Step) For(p Profile) Step {
	if p == Quick && s.Quick != nil {
		if s.Quick.Connections > 0 {
			s.Connections = s.Quick.Connections
		}
		if s.Quick.Rate > 0 {
			s.Rate = s.Quick.Rate
		}
	}
	s.Quick = nil
	return s
}

// UpstreamSettings is how the upstream translator behaves during a scenario
// or step (fetch mode).
type UpstreamSettings struct {
	Latency     Duration `yaml:"latency" json:"latency"`
	Jitter      Duration `yaml:"jitter" json:"jitter"`
	ErrorRate   float64  `yaml:"error_rate" json:"error_rate"`
	SlowRate    float64  `yaml:"slow_rate" json:"slow_rate"`
	SlowLatency Duration `yaml:"slow_latency" json:"slow_latency"`
}

// Duration is a time.Duration written as "50ms" in YAML and JSON.
type Duration time.Duration

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the Go form, "1.5s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads the Go form.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
