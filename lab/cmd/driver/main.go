// Command driver is the lab's load driver in a container of its own (the
// linelab/driver image): it runs one step against one server and writes what
// it measured as one JSON line (driver.Event) on its output, which the lab
// reads through the Docker API. The lab starts it with the step as JSON:
//
//	driver '{"addr":"172.18.0.3:7000","mode":"echo","step":{...},...}'
//
// It is the same code as the lab's in-process driver (package driver), so
// the two give the same schema and comparable figures.
//
// On a remote engine the lab cannot dial the run's network nor read the
// machine's cgroups, so one driver container stays up as the lab's gate
// (`driver idle`, the host's cgroup file system mounted read-only), in
// which the Docker API's exec runs `driver dial <addr>` for each of the
// lab's few control connections (the readiness probe, the upstream's
// control endpoint; never load), its standard input and output being the
// connection, and `driver sample <root> <id>` for each container the lab
// samples. The conformance suite runs as a job of its own, `driver
// conform`, so that its timing and its resets are those of the network.
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
	if len(args) == 1 && args[0] == "idle" {
		<-ctx.Done()
		return nil
	}
	if len(args) == 2 && args[0] == "conform" {
		return conform(ctx, args[1], out)
	}
	if len(args) != 1 {
		return fmt.Errorf("usage: driver '<job as JSON>' | driver conform '<target as JSON>' | driver dial <host:port> | driver sample <cgroup root> <container id> | driver idle (got %d arguments)", len(args))
	}
	var job driver.Job
	if err := json.Unmarshal([]byte(args[0]), &job); err != nil {
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
