// Command agent is the lab's own program in a container (the linelab/agent
// image), for whatever the lab must do from inside an engine's network
// rather than from its own process. It has one subcommand per role:
//
//	agent drive '<job>'          the load driver: one step against one server
//	agent conform '<target>'     the conformance suite against one server
//	agent gate                   stays up as the lab's way onto a remote network
//	agent dial <host:port>       (exec'd in the gate) one control connection
//	agent sample <root> <id>     (exec'd in the gate) one container's cgroup samples
//
// drive writes what it measured as one JSON line (driver.Event) on its
// output, which the lab reads through the Docker API; the job is the step
// as JSON, for example
//
//	agent drive '{"addr":"172.18.0.3:7000","mode":"echo","step":{...},...}'
//
// It is the same code as the lab's in-process driver (package driver), so
// the two give the same schema and comparable figures. conform writes the
// suite's results the same way, so that its timing and its resets are those
// of the network.
//
// On a remote engine the lab cannot dial the run's network nor read the
// machine's cgroups, so one agent stays up as the lab's gate (the host's
// cgroup file system mounted read-only), in which the Docker API's exec
// runs dial for each of the lab's few control connections (the readiness
// probe, the upstream's control endpoint; never load), its standard input
// and output being the connection, and sample for each container the lab
// samples.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/linelab/linelab/lab/driver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// dial's and sample's output is their stream: no event on it.
	if len(os.Args) == 3 && os.Args[1] == "dial" {
		if dial(ctx, os.Args[2], os.Stdin, os.Stdout, os.Stderr) != nil {
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "sample" {
		if sample(ctx, os.Args[2], os.Args[3], os.Stdin, os.Stdout, os.Stderr) != nil {
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		json.NewEncoder(os.Stdout).Encode(driver.Event{Error: err.Error()})
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	switch {
	case len(args) == 1 && args[0] == "gate":
		<-ctx.Done()
		return nil
	case len(args) == 2 && args[0] == "conform":
		return conform(ctx, args[1], out)
	case len(args) == 2 && args[0] == "drive":
		return drive(ctx, args[1], out)
	}
	return fmt.Errorf("usage: agent drive '<job as JSON>' | agent conform '<target as JSON>' | agent gate | agent dial <host:port> | agent sample <cgroup root> <container id> (got %q)", args)
}

// drive runs one step, the job as JSON, and writes its result.
func drive(ctx context.Context, arg string, out io.Writer) error {
	var job driver.Job
	if err := json.Unmarshal([]byte(arg), &job); err != nil {
		return fmt.Errorf("the job is not a driver job: %w", err)
	}
	var heldFrom, heldTo time.Time
	hold := func() {
		// The lab reads the server's memory in this span afterwards.
		heldFrom = time.Now()
		select {
		case <-time.After(driver.HoldFor):
		case <-ctx.Done():
		}
		heldTo = time.Now()
	}
	res, err := driver.Run(ctx, job.Config(hold))
	if err != nil {
		return err
	}
	w, err := res.ToWire()
	if err != nil {
		return err
	}
	w.HeldFrom, w.HeldTo = heldFrom, heldTo
	return json.NewEncoder(out).Encode(driver.Event{Result: w})
}
