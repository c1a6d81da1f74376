package driver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/linetest"
	"github.com/linelab/linelab/lab"
)

// BenchmarkDriver measures what one line costs the driver, beside what it
// costs the server, for each loop: the go-server event loop runs as its own
// process (GOMAXPROCS=1, on core 1 when taskset exists), and each operation
// is one 1-second step. Run the benchmark itself on the other core:
//
//	taskset -c 0 go test -run '^$' -bench Driver ./lab/driver
//
// driver-µs/line is this process's CPU (user + system) per answered line;
// server-µs/line is the server's, from /proc at 10 ms ticks. Their ratio is
// the driver's headroom. Figures are for notes, never asserted.
func BenchmarkDriver(b *testing.B) {
	// As in the lab: one core, two Ps (see runner.pinSelf).
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(max(goruntime.GOMAXPROCS(0), 2)))
	addr, pid := benchServer(b)
	for _, st := range []lab.Step{
		{Name: "closed-c100", Loop: lab.Closed, Connections: 100, Depth: 1},
		{Name: "pipelined-c50x16", Loop: lab.Closed, Connections: 50, Depth: 16},
		{Name: "open-c50-r10k", Loop: lab.Open, Connections: 50, Rate: 10000},
		{Name: "open-c50-r20k", Loop: lab.Open, Connections: 50, Rate: 20000},
		{Name: "open-c50-r40k", Loop: lab.Open, Connections: 50, Rate: 40000},
	} {
		b.Run(st.Name, func(b *testing.B) {
			st.Payload = "hello my friend"
			var lines int64
			var driverCPU, serverCPU time.Duration
			for range b.N {
				s0 := linetest.ProcCPU(b, pid)
				res, err := Run(context.Background(), Config{
					Addr: addr, Step: st, Warmup: 300 * time.Millisecond, Duration: time.Second, Answer: echoAnswer,
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Errors) > 0 {
					b.Fatalf("errors %v: %s", res.Errors, res.FirstError)
				}
				// The server's CPU is read over the whole step, warm-up
				// included, so it is set against every line it answered.
				serverCPU += linetest.ProcCPU(b, pid) - s0
				lines += res.Lines
				driverCPU += res.DriverCPU
				b.ReportMetric(res.Throughput(), "lines/s")
				if res.SendLag != nil {
					b.ReportMetric(float64(res.SendLag.ValueAtQuantile(99)), "lag-p99-µs")
				}
			}
			perLine := func(d time.Duration, n int64) float64 { return float64(d.Microseconds()) / float64(max(n, 1)) }
			b.ReportMetric(perLine(driverCPU, lines), "driver-µs/line")
			b.ReportMetric(perLine(serverCPU, lines*13/10), "server-µs/line") // 1.3 s of lines for 1.3 s of CPU
		})
	}
}

// benchServer builds and starts go-server's event loop as a process.
func benchServer(b *testing.B) (addr string, pid int) {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "go-server")
	if out, err := exec.Command("go", "build", "-o", bin, "../../go-server/cmd/go-server").CombinedOutput(); err != nil {
		b.Fatalf("build go-server: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := []string{bin}
	if p, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{p, "-c", "1"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "MODEL=eventloop", "MODE=echo", "PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatal("go-server did not start")
		}
	}
}

// BenchmarkOpenOverClosed sets the open loop's cost per line beside the
// closed loop's, as the lab's calibration does: an open loop at 40,000
// lines/s on 50 connections, a closed loop paced to the same rate on the
// same connections (the reference, analysis.OpenOverClosed), and a
// saturated closed loop on 100, each operation one second of each, back to
// back. open/paced is the ratio of the driver's CPU per line; the open
// loop is one epoll loop woken per tick, so it should cost no more than the
// paced closed loop does (TestOpenLoopCost). open/closed sets it against
// the saturated loop, which never waits.
func BenchmarkOpenOverClosed(b *testing.B) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(max(goruntime.GOMAXPROCS(0), 2)))
	addr, _ := benchServer(b)
	perLine := map[string][2]float64{}
	for range b.N {
		for _, st := range []lab.Step{
			{Name: "closed", Loop: lab.Closed, Connections: 100, Depth: 1, Payload: "calibrate"},
			{Name: "paced", Loop: lab.Closed, Connections: 50, Depth: 1, Rate: 40000, Payload: "calibrate"},
			{Name: "open", Loop: lab.Open, Connections: 50, Rate: 40000, Payload: "calibrate"},
		} {
			res, err := Run(context.Background(), Config{Addr: addr, Step: st, Warmup: 300 * time.Millisecond, Duration: time.Second, Answer: echoAnswer})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Errors) > 0 {
				b.Fatalf("%s: errors %v: %s", st.Name, res.Errors, res.FirstError)
			}
			sum := perLine[st.Name]
			perLine[st.Name] = [2]float64{sum[0] + float64(res.DriverCPU.Microseconds()), sum[1] + float64(res.Lines)}
		}
	}
	us := func(name string) float64 { return perLine[name][0] / max(perLine[name][1], 1) }
	b.ReportMetric(us("closed"), "closed-µs/line")
	b.ReportMetric(us("paced"), "paced-µs/line")
	b.ReportMetric(us("open"), "open-µs/line")
	b.ReportMetric(us("open")/us("paced"), "open/paced")
	b.ReportMetric(us("open")/us("closed"), "open/closed")
}
