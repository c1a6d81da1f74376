// Package runner executes a run. Resolve turns the options into a Plan (the
// catalogue's servers, the scenarios, the cores' layout and the Topology,
// decided once); Run carries out the trials plan.Make schedules from it: it
// starts every implementation in a container, judges it with the
// conformance suite, drives the scenarios' steps against it in interleaved
// trials while sampling its cgroup, and streams every trial to the run
// folder. It measures and never decides: the rules it asks are in
// lab/analysis and lab/plan, the containers in lab/engine, the load in
// lab/driver.
package runner

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/linelab/linelab/lab"
)

// Options configure a run. Flags fill them; Validate checks them.
type Options struct {
	Profile   lab.Profile
	Impls     []string // empty: every server of the catalogue
	Scenarios []string // empty: every scenario
	// Releases are the Debian releases of the reference images; empty:
	// lab.DefaultRelease. With more than one, each reference server runs
	// once per release as "<name>@<release>". The catalogue checks them.
	Releases    []string
	ComposeFile string
	ScenarioDir string
	OutDir      string // runs/
	RepoDir     string // where source files named in compose.yaml live
	Command     string // the command line, recorded to rerun the run
	Progress    io.Writer
	// ServerCores and DriverCores are how many cores the servers and the
	// lab process (the driver) get, 0 for the default split (PlanLayout).
	ServerCores int
	DriverCores int
	MemoryLimit int64 // of each server container, bytes
	// Driver is where the load comes from: DriverLocal, this process, or
	// DriverContainer, a linelab/agent container per trial on the
	// driver's cores and the run's network; "" for the default, local on
	// this machine's engine and container on a remote one (the lab cannot
	// reach a remote network).
	Driver string
	// ServerEngine and DriverEngine are the Docker engines of the servers
	// (with the upstream) and of the driver, each an address such as
	// ssh://user@host or a Docker context's name; "" for the engine the
	// docker command would use (DOCKER_HOST, DOCKER_CONTEXT, the current
	// context). A DriverEngine other than the server's puts the client and
	// the servers on two machines: the servers then publish their port on
	// ServerAddress, an address of the servers' machine that the driver's
	// reaches.
	ServerEngine  string
	DriverEngine  string
	ServerAddress string
	// Seed shuffles the order of implementations in every round of a
	// step; 0 picks one from the clock. It is recorded, so a run's order
	// can be repeated.
	Seed int64
	// Budget bounds the run's time: extra trials of undecided headline
	// steps run only within it. 0: the profile's (DefaultBudget); < 0:
	// none (every headline step runs to its max_trials while undecided).
	Budget time.Duration
	// Resume is the folder of a run that stopped early; Run then runs only
	// the trials it did not finish, with its plan, images and seed, and
	// ignores the other options that shape a run.
	Resume string
}

// DefaultBudget is each profile's time budget; thorough has none.
var DefaultBudget = map[lab.Profile]time.Duration{lab.Quick: 8 * time.Minute, lab.Standard: 30 * time.Minute}

// Where the load comes from (Options.Driver).
const (
	DriverLocal     = "local"
	DriverContainer = "container"
	// AgentImage is the lab's own program in a container (lab/cmd/agent),
	// one subcommand per role: the driver with DriverContainer (drive),
	// the conformance suite on a remote engine (conform), and the gate to
	// a remote network (gate, with dial and sample run in it).
	AgentImage = "linelab/agent"
)

// DefaultOptions are the options of `lab run` with no flags.
func DefaultOptions() Options {
	return Options{
		Profile:     lab.Standard,
		ComposeFile: "compose.yaml",
		ScenarioDir: "scenarios",
		OutDir:      "runs",
		RepoDir:     ".",
		Progress:    io.Discard,
		MemoryLimit: 1 << 30,
	}
}

// Validate reports the first option that cannot work.
func (o Options) Validate() error {
	var errs []error
	if !slices.Contains(lab.Profiles, o.Profile) {
		errs = append(errs, fmt.Errorf("profile %q: want quick, standard or thorough", o.Profile))
	}
	if o.ComposeFile == "" || o.ScenarioDir == "" || o.OutDir == "" {
		errs = append(errs, errors.New("compose file, scenario folder and output folder must be set"))
	}
	if o.MemoryLimit < 64<<20 {
		errs = append(errs, fmt.Errorf("memory limit %d bytes: want at least 64 MiB", o.MemoryLimit))
	}
	topo, err := o.topology()
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case o.Driver != "" && o.Driver != DriverLocal && o.Driver != DriverContainer:
		errs = append(errs, fmt.Errorf("driver %q: want %s (the lab process) or %s (a linelab/agent container)", o.Driver, DriverLocal, DriverContainer))
	case o.Driver == DriverLocal && topo.steered():
		errs = append(errs, fmt.Errorf("driver local: %s; leave --driver out (the driver then runs in a container there)", topo.why()))
	}
	// Another machine's cores are known once its engine answers (Run); a
	// resumed run keeps the cores it had.
	if o.Resume == "" && err == nil && !topo.steered() {
		if _, err := PlanLayout(affinity(), o.ServerCores, o.DriverCores); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
