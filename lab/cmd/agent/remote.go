package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/metrics"
)

// sample streams container id's CPU, memory and threads, one JSON
// metrics.Sample a line every metrics.Interval, read from the cgroup files
// under root (the host's, mounted into the gate container), until in ends:
// the lab's samplers on a remote engine, which it cannot read from its own
// machine. A reading that fails (the container is stopped) is left out.
func sample(ctx context.Context, root, id string, in io.Reader, out, status io.Writer) error {
	s, err := metrics.Open(root, id)
	if err != nil {
		fmt.Fprintln(status, err)
		return err
	}
	fmt.Fprintln(status, driver.GateSampling)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, in)
		cancel()
	}()
	enc := json.NewEncoder(out)
	t := time.NewTicker(metrics.Interval)
	defer t.Stop()
	for {
		if smp, err := s.Read(); err == nil {
			if enc.Encode(smp) != nil {
				return nil // the lab is gone
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// conform runs the conformance suite against a target (a
// conformance.Target as JSON) from the remote engine's network, and
// writes its results as one JSON array.
func conform(ctx context.Context, arg string, out io.Writer) error {
	var t conformance.Target
	if err := json.Unmarshal([]byte(arg), &t); err != nil || t.Addr == "" {
		return fmt.Errorf("the job is not a conformance target (%v): %s", err, arg)
	}
	return json.NewEncoder(out).Encode(conformance.Check(ctx, t))
}
