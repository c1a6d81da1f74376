// Command lab runs linelab: every server of compose.yaml through every
// scenario, and reports on the results.
//
//	lab run [--profile quick|standard|thorough] [--impl a,b] [--scenario x,y] [--seed n]
//	lab list
//	lab clean
//	lab report <run folder>
//	lab compare <run A> <run B>
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/report"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/runner"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		if hint := hintFor(err); hint != "" {
			fmt.Fprintf(os.Stderr, "try: %s\n", hint)
		}
		os.Exit(1)
	}
}

// usageError is a command line that cannot be run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func hintFor(err error) string {
	var ue usageError
	var nc *report.NotComparableError
	switch {
	case errors.As(err, &nc):
		return nc.Hint()
	case errors.Is(err, engine.ErrNoEngine):
		return "start the Docker engine (systemctl start docker, or dockerd &) and check `docker info`"
	case errors.Is(err, runner.ErrMissingImages):
		return "build them with the command named above"
	case errors.As(err, &ue):
		return "lab help"
	}
	return ""
}

const usage = `usage:
  lab run [--profile quick|standard|thorough] [--impl a,b] [--scenario x,y] [--release trixie,bookworm]
          [--budget 30m] [--seed n] [--out runs]
  lab run --resume runs/<id>  finish a run that stopped early (same plan, images and seed)
  lab list                 implementations and scenarios
  lab clean [--all]        remove the containers and networks of runs whose lab process is gone
                           (--all: of runs still going too)
  lab report <run>         rebuild results.json (from trials.jsonl), report.html and the table of a run folder
  lab compare [--any-profile] [--any-images] [--alpha 0.05] [--fail-worse] <runA> <runB> [--out file.html]
                           figures of two runs, with a rank test on every one
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command\n" + usage}
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "list":
		return cmdList(ctx, args[1:], stdout)
	case "clean":
		return cmdClean(ctx, args[1:], stdout)
	case "report":
		return cmdReport(args[1:], stdout)
	case "compare":
		return cmdCompare(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q\n%s", args[0], usage)}
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts := runner.DefaultOptions()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", string(opts.Profile), "quick (a CI smoke test, minutes), standard, or thorough (figures to publish)")
	impls := fs.String("impl", "", "comma-separated implementations (default: all)")
	scens := fs.String("scenario", "", "comma-separated scenarios (default: all)")
	releases := fs.String("release", "", "comma-separated Debian releases of the reference images: "+strings.Join(lab.Releases, ", ")+" (default: "+lab.DefaultRelease+"); with more than one, each reference server runs once per release")
	fs.StringVar(&opts.OutDir, "out", opts.OutDir, "folder of run folders")
	fs.StringVar(&opts.ComposeFile, "compose", opts.ComposeFile, "the catalogue of implementations")
	fs.StringVar(&opts.ScenarioDir, "scenarios", opts.ScenarioDir, "folder of scenario files")
	fs.StringVar(&opts.Driver, "driver", opts.Driver, "where the load comes from: local (this process) or container (a linelab/agent container per trial, on the driver's cores; `make images` builds it); default local, and container when the engine is another machine's")
	fs.StringVar(&opts.ServerEngine, "server-engine", "", "the Docker engine of the servers and the upstream: an address (unix://, tcp://, ssh://user@host) or a Docker context's name (default: the docker command's, from DOCKER_HOST, DOCKER_CONTEXT or the current context)")
	fs.StringVar(&opts.DriverEngine, "driver-engine", "", "the Docker engine of the driver, when it is another machine's than the servers' (needs --server-address); default: the servers'")
	fs.StringVar(&opts.ServerAddress, "server-address", "", "with --driver-engine: the IP address of the servers' machine as the driver's machine reaches it; the servers publish their port there")
	fs.IntVar(&opts.ServerCores, "server-cores", 0, "cores of the servers (default: half the machine's, 1 on 2 cores)")
	fs.IntVar(&opts.DriverCores, "driver-cores", 0, "cores of the lab process, the driver (default: the rest but one, which the upstream gets when there are 3 or more); the two never overlap")
	mem := fs.Int("memory-mib", int(opts.MemoryLimit>>20), "memory limit of each server container, MiB")
	fs.DurationVar(&opts.Budget, "budget", 0, "the run's time budget: extra trials of headline steps whose ranking is undecided run only within it (default: the profile's, 8m quick and 30m standard, none thorough; -1s: none)")
	fs.Int64Var(&opts.Seed, "seed", 0, "seed of the shuffled order of implementations (default: from the clock; recorded)")
	fs.StringVar(&opts.Resume, "resume", "", "a run folder (runs/<id>) whose run stopped early: run only the trials it did not finish, with its plan, images and seed")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("run: unexpected argument %q", fs.Arg(0))}
	}
	opts.Profile = lab.Profile(*profile)
	opts.Impls, opts.Scenarios, opts.Releases = splitList(*impls), splitList(*scens), splitList(*releases)
	opts.MemoryLimit = int64(*mem) << 20
	opts.Progress = stderr
	opts.Command = "go run ./lab/cmd/lab run " + strings.Join(args, " ")
	if opts.Seed == 0 {
		// Recorded in the command too, so rerunning it repeats the order.
		opts.Seed = time.Now().UnixNano() % 1_000_000
		opts.Command += fmt.Sprintf(" --seed %d", opts.Seed)
	}
	if err := opts.Validate(); err != nil {
		return usageError{err.Error()}
	}
	start := time.Now()
	file, dir, err := runner.Run(ctx, opts)
	if file != nil {
		report.WriteTable(stdout, file)
		if rerr := report.WriteFiles(dir, file); rerr != nil {
			fmt.Fprintf(stderr, "lab: report: %v\n", rerr)
		}
		fmt.Fprintf(stdout, "\nrun folder: %s (%s)\n", dir, time.Since(start).Round(time.Second))
	}
	if err != nil && ctx.Err() != nil && dir != "" {
		return fmt.Errorf("interrupted; the trials finished so far are in %s, and `lab run --resume %s` runs the rest", dir, dir)
	}
	return err
}

func cmdList(ctx context.Context, args []string, stdout io.Writer) error {
	plan, err := runner.Resolve(ctx, runner.DefaultOptions())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "implementations (compose.yaml):")
	for _, i := range plan.Impls {
		fmt.Fprintf(stdout, "  %-16s %-12s %-14s %s\n", i.Name, i.Language, i.Runtime, i.Model)
	}
	fmt.Fprintln(stdout, "scenarios (scenarios/):")
	for _, s := range plan.Scenarios {
		var steps []string
		for _, st := range s.Steps {
			steps = append(steps, st.Name)
		}
		fmt.Fprintf(stdout, "  %-20s %-5s %s\n", s.Name, s.Mode, strings.Join(steps, " "))
	}
	return nil
}

func cmdClean(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	all := fs.Bool("all", false, "remove the containers and networks of runs that are still going too")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	rt, err := engine.New(ctx, "")
	if err != nil {
		return err
	}
	defer rt.Close()
	left, err := rt.Sweep(ctx, *all)
	for _, x := range left {
		fmt.Fprintln(stdout, x)
	}
	if len(left) == 0 && err == nil {
		fmt.Fprintln(stdout, "nothing to remove: no run left containers or networks")
	}
	return err
}

func cmdReport(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError{"report: want one run folder, e.g. runs/20261126-171500"}
	}
	dir := args[0]
	// A lock means the run did not end: its lab process still writes the
	// folder, or it was killed before it could say so (and run.json now
	// does).
	var going string
	if l, ok, err := results.ReadLock(dir); err != nil {
		return err
	} else if ok {
		if live, err := results.Going(dir); err != nil {
			return err
		} else if live {
			going = cmp.Or(l.RunID, dir)
			fmt.Fprintf(stdout, "run %s is still going (lab process %d): this report shows what it has so far\n\n", going, l.PID)
		} else if err := results.MarkInterrupted(dir, fmt.Sprintf("its lab process (pid %d) ended before the run did: killed, or the machine stopped", l.PID)); err != nil {
			return err
		}
	}
	// Always from trials.jsonl, so that today's rules judge the run and an
	// interrupted run (no results.json yet) reads like any other.
	f, err := results.Rebuild(dir)
	if err != nil {
		return err
	}
	if going != "" {
		f.Interrupted = cmp.Or(f.Interrupted, "still going when this report was made")
	}
	if err := report.WriteTable(stdout, f); err != nil {
		return err
	}
	if err := report.WriteFiles(dir, f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", filepath.Join(dir, report.File))
	return nil
}

func cmdCompare(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	out := fs.String("out", "", "output file (default: compare-<A>-<B>.html in the current folder)")
	var opts report.CompareOptions
	fs.BoolVar(&opts.AnyProfile, "any-profile", false, "compare runs of different profiles")
	fs.BoolVar(&opts.AnyImages, "any-images", false, "compare runs whose servers' images differ (a new runtime, say)")
	fs.Float64Var(&opts.Alpha, "alpha", 0.05, "significance level of the rank test")
	failWorse := fs.Bool("fail-worse", false, "exit with status 1 when a figure of B is worse than A's beyond the noise (for CI: a runtime that regressed)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 2 {
		return usageError{"compare: want two run folders"}
	}
	if opts.Alpha <= 0 || opts.Alpha >= 1 {
		return usageError{fmt.Sprintf("compare: --alpha %g: want a level between 0 and 1", opts.Alpha)}
	}
	a, err := results.Rebuild(fs.Arg(0))
	if err != nil {
		return err
	}
	b, err := results.Rebuild(fs.Arg(1))
	if err != nil {
		return err
	}
	if err := report.Comparable(a, b, opts); err != nil {
		return err
	}
	m := report.BuildCompare(a, b, opts.Alpha)
	if err := m.WriteText(stdout); err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = fmt.Sprintf("compare-%s-%s.html", a.RunID, b.RunID)
	}
	if err := report.WriteCompare(path, m); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	if worse := m.Worse(); *failWorse && len(worse) > 0 {
		return fmt.Errorf("%d figures of %s are worse than %s's beyond the noise: %s", len(worse), b.RunID, a.RunID, strings.Join(worse, "; "))
	}
	return nil
}
