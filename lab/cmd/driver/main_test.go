package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/internal/linetest"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
)

func echo(c net.Conn, _ int, line []byte) bool {
	_, err := c.Write(lineproto.AppendEcho(nil, line))
	return err == nil
}

// TestRunWritesAResult: a job against an echo server on loopback gives one
// result line that decodes to what the in-process driver measures.
func TestRunWritesAResult(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, echo)
	job := driver.Job{
		Addr: addr, Mode: "echo", Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond,
		Step: lab.Step{Name: "c4", Loop: lab.Closed, Connections: 4, Depth: 1},
	}
	arg, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{string(arg)}, &out); err != nil {
		t.Fatal(err)
	}
	w, err := driver.ReadEvents(&out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Result()
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines == 0 || res.Latency.TotalCount() < res.Lines || res.DriverCPU <= 0 || res.Elapsed < 250*time.Millisecond {
		t.Fatalf("lines %d, latency count %d, driver CPU %v, window %v: want answers, each in the histogram, and the CPU spent",
			res.Lines, res.Latency.TotalCount(), res.DriverCPU, res.Elapsed)
	}
	for class, n := range res.Errors {
		if n > 0 {
			t.Errorf("%d %s errors against a correct echo server", n, class)
		}
	}
}

// TestRunRefusesABadJob: what is not a job is named, and the output says so
// in the event a lab reads.
func TestRunRefusesABadJob(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"{"}, {`{"addr":"127.0.0.1:1","mode":"echo","step":{"name":"x","loop":"closed","connections":0}}`}} {
		err := run(context.Background(), args, &bytes.Buffer{})
		if err == nil {
			t.Errorf("driver %q: no error", args)
		}
	}
}

// TestReadEvents: a driver that died or a wrong image is explained by its
// last lines; a driver's own error comes back as it is.
func TestReadEvents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ out, want string }{
		{"", "wrote nothing"},
		{"exec /driver: no such file or directory\n", "no such file"},
		{`{"error":"driver: step x: connections must be > 0"}` + "\n", "connections must be > 0"},
	} {
		_, err := driver.ReadEvents(strings.NewReader(tc.out))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadEvents(%q) = %v, want it to say %q", tc.out, err, tc.want)
		}
	}
}
