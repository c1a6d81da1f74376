package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab/metrics"

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
	if err := run(context.Background(), []string{"drive", string(arg)}, &out); err != nil {
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
	for _, args := range [][]string{nil, {"idle"}, {`{"addr":"127.0.0.1:1"}`}, {"drive", "{"}, {"drive", `{"addr":"127.0.0.1:1","mode":"echo","step":{"name":"x","loop":"closed","connections":0}}`}} {
		err := run(context.Background(), args, &bytes.Buffer{})
		if err == nil {
			t.Errorf("agent %q: no error", args)
		}
	}
}

// TestReadEvents: a driver that died or a wrong image is explained by its
// last lines; a driver's own error comes back as it is.
func TestReadEvents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ out, want string }{
		{"", "wrote nothing"},
		{"exec /agent: no such file or directory\n", "no such file"},
		{`{"error":"driver: step x: connections must be > 0"}` + "\n", "connections must be > 0"},
	} {
		_, err := driver.ReadEvents(strings.NewReader(tc.out))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadEvents(%q) = %v, want it to say %q", tc.out, err, tc.want)
		}
	}
}

// TestDialCarriesAConnection: dial says it is connected, carries a line
// each way, and the end of its input half-closes the connection, after
// which the server's last answer still arrives.
func TestDialCarriesAConnection(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, echo)
	var out, status bytes.Buffer
	if err := dial(context.Background(), addr, strings.NewReader("one\ntwo\n"), &out, &status); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(status.String()); got != driver.GateConnected {
		t.Errorf("status %q, want %q", got, driver.GateConnected)
	}
	if got := out.String(); got != "echo: one\necho: two\n" {
		t.Errorf("carried %q", got)
	}
}

// TestDialRefused: a port nobody listens on is said on the status, not
// on the output (which is the connection's).
func TestDialRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var out, status bytes.Buffer
	if err := dial(context.Background(), addr, strings.NewReader(""), &out, &status); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	if out.Len() != 0 || !strings.Contains(status.String(), "refused") {
		t.Errorf("output %q, status %q", out.String(), status.String())
	}
}

// TestSampleStreams: sample finds a container's cgroup files under the
// root it is given, streams samples until its input ends, and says why
// when there are no files.
func TestSampleStreams(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files := map[string]string{
		"cpuacct/docker/abc/cpuacct.usage":            "123456789\n",
		"memory/docker/abc/memory.usage_in_bytes":     "4096000\n",
		"memory/docker/abc/memory.stat":               "total_inactive_file 96000\n",
		"memory/docker/abc/memory.max_usage_in_bytes": "5000000\n",
		"pids/docker/abc/pids.current":                "3\n",
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, feed := io.Pipe()
	time.AfterFunc(350*time.Millisecond, func() { feed.Close() })
	var out, status bytes.Buffer
	if err := sample(context.Background(), root, "abc", in, &out, &status); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(status.String()); got != driver.GateSampling {
		t.Errorf("status %q", got)
	}
	dec := json.NewDecoder(&out)
	n := 0
	for dec.More() {
		var smp metrics.Sample
		if err := dec.Decode(&smp); err != nil {
			t.Fatal(err)
		}
		if smp.CPU != 123456789 || smp.WorkingSet != 4000000 || smp.Threads != 3 {
			t.Errorf("sample %+v", smp)
		}
		n++
	}
	if n < 3 || n > 5 {
		t.Errorf("%d samples in 350 ms, want one each 100 ms", n)
	}
	status.Reset()
	if err := sample(context.Background(), root, "nope", strings.NewReader(""), &out, &status); err == nil || !strings.Contains(status.String(), "no cgroup files") {
		t.Errorf("a container with no files: %v, status %q", err, status.String())
	}
}

// TestConformWritesResults: a conformance job gives every case's verdict
// as one JSON array. (The suite itself is tested where it lives; here its
// context is already over, so that every case ends at once.)
func TestConformWritesResults(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, echo)
	job, _ := json.Marshal(conformance.Target{Addr: addr, Mode: "echo"})
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, []string{"conform", string(job)}, &out); err != nil {
		t.Fatal(err)
	}
	var res []conformance.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(res) != len(conformance.Cases()) {
		t.Errorf("%d verdicts, want %d", len(res), len(conformance.Cases()))
	}
}
