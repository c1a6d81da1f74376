// Package lab holds the plain domain types of linelab's pipeline:
// an Implementation (from compose.yaml) runs through Scenarios made of Steps;
// every run of a step yields a Trial, and a step's trials a Summary with its
// Warnings; a run also finds Knees and records Failures.
//
// It imports nothing heavy. Each subpackage owns one concern or one
// dependency, and the pipeline reads in that order: scenario reads the
// scenario files (YAML) and catalog compose.yaml (compose-go); runner runs a
// scenario with runtime (testcontainers-go and the Docker client), driver
// (the load) and metrics (the containers' and cores' use); results stores the
// run (run.json, trials.jsonl, results.json) and rebuilds it from disk;
// analysis holds every rule that decides what a figure may say; report
// renders it.
package lab

import "strings"

// Role says what a compose service is to the lab.
type Role string

const (
	RoleServer   Role = "server"
	RoleUpstream Role = "upstream"
	// RoleFloor is a server that only echoes, written for nothing but
	// speed: the physical limit the others are measured against.
	RoleFloor Role = "floor"
)

// Implementation is one service of compose.yaml with its x-lab metadata.
type Implementation struct {
	Name        string            `json:"name"`
	Role        Role              `json:"role"`
	Image       string            `json:"image"`       // linelab/<service>
	Context     string            `json:"context"`     // build context, relative to the repository
	Dockerfile  string            `json:"dockerfile"`  // relative to Context
	Env         map[string]string `json:"env"`         // the service's environment (MODE left to the lab)
	HostPort    string            `json:"host_port"`   // published on 127.0.0.1 by compose
	Language    string            `json:"language"`    // python, javascript, go
	Runtime     string            `json:"runtime"`     // e.g. "Twisted 22.4"
	Model       string            `json:"model"`       // the concurrency model in a few words
	Source      []string          `json:"source"`      // handler files, relative to the repository
	Description string            `json:"description"` // one sentence for the report
	// Version names the image label runtime.<Version> that holds the
	// version of the runtime (python, gevent, node, go, ...).
	Version string `json:"version,omitempty"`
	// Release is the Debian release the image is built on; empty for an
	// image that is the same on every release (the Go servers, FROM
	// scratch). With more than one release in a run, Name is
	// "<service>@<release>".
	Release string `json:"release,omitempty"`
	// Scheduling and Flow: how the server's handlers share its CPU, and
	// how its handler is written (compose.yaml's x-lab).
	Scheduling Scheduling `json:"scheduling,omitempty"`
	Flow       Flow       `json:"flow,omitempty"`
}

// Scheduling is how a server's handlers share its CPU.
type Scheduling string

const (
	// Cooperative: a handler runs until it would block (an event loop,
	// greenlets); one that computes keeps every other waiting.
	Cooperative Scheduling = "cooperative"
	// Preemptive: the interpreter or the runtime switches handlers
	// (threads, goroutines).
	Preemptive Scheduling = "preemptive"
)

// Flow is how a server's handler is written.
type Flow string

const (
	Callbacks Flow = "callbacks" // the rest of the work handed over as functions to call later
	InOrder   Flow = "in-order"  // code that reads in the order it runs: threads, greenlets, coroutines
)

// Service is the compose service of i: its Name without "@<release>".
func (i Implementation) Service() string {
	s, _, _ := strings.Cut(i.Name, "@")
	return s
}

// Releases are the Debian releases the reference images build on
// (reference/base/build.sh), oldest first.
var Releases = []string{"bookworm", "trixie", "sid"}

// UpstreamVersion is the upstream part of a package version as an image
// label holds it: "24.11.0" of Debian's "24.11.0-1", "14.2.0" of
// "4:14.2.0-1", "20.19.2" of "20.19.2+dfsg-1+deb13u3", "1.26.8" of Go's
// "go1.26.8".
func UpstreamVersion(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after // the epoch
	}
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i] // the Debian revision
	}
	if i := strings.IndexAny(v, "+~"); i > 0 {
		v = v[:i] // +dfsg, +ds1, ~deb12u1
	}
	return strings.TrimPrefix(v, "go")
}

// DefaultRelease is the release of `make images` and `lab run` with no
// --release.
const DefaultRelease = "trixie"

// Hardening is what every container the lab starts runs under, servers and
// upstream alike, and what compose.yaml says too: nothing a server does in
// the lab needs a writable image, a capability or a privilege gain.
type Hardening struct {
	ReadOnlyRoot    bool     `json:"read_only_root"`
	Tmpfs           []string `json:"tmpfs"` // writable scratch, in memory
	CapDrop         []string `json:"cap_drop"`
	NoNewPrivileges bool     `json:"no_new_privileges"`
	// Pids is the default pids limit: room for the threads server's ten
	// thousand threads at c10k, and a stop to a runaway fork.
	Pids int64 `json:"pids_limit"`
	// Memory is the limit of a container given none of its own (the
	// upstream); servers get the run's --memory-mib.
	Memory int64 `json:"memory_limit_bytes"`
}

// Hardened is the lab's one hardening.
var Hardened = Hardening{
	ReadOnlyRoot:    true,
	Tmpfs:           []string{"/tmp:rw,nosuid,nodev,size=64m"},
	CapDrop:         []string{"ALL"},
	NoNewPrivileges: true,
	Pids:            12000,
	Memory:          1 << 30,
}
