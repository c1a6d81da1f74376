// Package bench measures the Go entries as separate processes, pinned as
// the lab pins them: the server on core 1 (so Go sizes GOMAXPROCS from its
// one-core affinity, as in its container), the client
// (this test) and, in fetch mode, the upstream on core 0, when taskset
// exists. The server is built with the probe tag (see
// cmd/go-server/probe.go), so every result carries, over the measured span
// only, the server's CPU per line and heap allocations per line beside the
// raw rate:
//
//	taskset -c 0 go test -run '^$' -bench . -benchtime 3s ./go-server/bench
//
// LINELAB_PPROF=<dir> writes each benchmark's CPU profile of the server
// there (<dir>/<benchmark>.cpu.pprof; keep it out of git). Figures are for
// notes, never asserted; TestEchoAllocatesNothing is the one assertion.
package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/internal/linetest"
	"github.com/linelab/linelab/lab/upstream"
)

var binary, naive, upstreamBin, floor, floorWhy string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "linelab-bench")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "go-server")
	naive = filepath.Join(dir, "naive")
	upstreamBin = filepath.Join(dir, "upstream")
	for _, b := range []struct{ bin, pkg, tags string }{
		{binary, "../cmd/go-server", "probe"},
		{naive, "./testdata/naive", ""},
		{upstreamBin, "../../lab/cmd/upstream", ""},
	} {
		out, err := exec.Command("go", "build", "-tags", b.tags, "-o", b.bin, b.pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	// The C floor server, the yardstick of the lab's echo figures, when a C
	// compiler is here (the lab builds it in the base image with Debian's
	// gcc); without one, BenchmarkEcho leaves it out and says why.
	floorWhy = "no C compiler (cc) here to build reference/floor/floor.c"
	if cc, err := exec.LookPath("cc"); err == nil {
		bin := filepath.Join(dir, "floor")
		if out, err := exec.Command(cc, "-O2", "-o", bin, "../../reference/floor/floor.c").CombinedOutput(); err != nil {
			floorWhy = fmt.Sprintf("cc could not build reference/floor/floor.c: %v\n%s", err, out)
		} else {
			floor = bin
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// entries are the Go entries of compose.yaml by the name this package gives
// them, with the environment that makes each.
var entries = map[string][]string{
	"goroutine": {"MODEL=goroutine"},
	"eventloop": {"MODEL=eventloop"},
	"lean":      {"MODEL=goroutine", "HTTP_CLIENT=fasthttp"},
}

type server struct {
	cmd   *exec.Cmd
	addr  string
	probe *bufio.Scanner // the probe's lines on the server's stdout; nil for naive
}

// freePort returns a loopback port nobody listens on just now.
func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pinned is args run on core, when taskset exists.
func pinned(core string, args ...string) *exec.Cmd {
	if p, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{p, "-c", core}, args...)
	}
	return exec.Command(args[0], args[1:]...)
}

func isPinned(cmd *exec.Cmd) bool { return filepath.Base(cmd.Args[0]) == "taskset" }

// start runs the server (an entry, "naive" or "floor") on a free loopback
// port, on core 1; env adds to its environment (MODE, UPSTREAM_URL).
func start(tb testing.TB, entry string, env ...string) *server {
	tb.Helper()
	port := freePort(tb)
	var cmd *exec.Cmd
	switch entry {
	case "naive":
		cmd = pinned("1", naive)
	case "floor":
		cmd = pinned("1", floor)
	default:
		cmd = pinned("1", binary)
		env = append(env, entries[entry]...)
		if dir := os.Getenv("LINELAB_PPROF"); dir != "" {
			name := strings.NewReplacer("/", "_", "=", "-").Replace(tb.Name())
			env = append(env, "CPUPROFILE="+filepath.Join(dir, name+".cpu.pprof"))
		}
	}
	base := []string{"MODE=echo", "PORT=" + strconv.Itoa(port)}
	if !isPinned(cmd) {
		base = append(base, "GOMAXPROCS=1") // one P, as one core would give
	}
	cmd.Env = append(append(os.Environ(), base...), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &server{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if _, ok := entries[entry]; ok {
		s.probe = bufio.NewScanner(stdout)
		s.probe.Scan() // "go-server: model …, listening on …"
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(tb, s.addr)
	return s
}

func waitListening(tb testing.TB, addr string) {
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startUpstream runs the lab's upstream on core 0 with the fetch-sweep's
// latency, 50 ms ± 10 ms, and returns its URL and process id.
func startUpstream(tb testing.TB) (string, int) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	cmd := pinned("0", upstreamBin)
	cmd.Env = append(os.Environ(), "PORT="+strings.TrimPrefix(addr, "127.0.0.1:"), "LATENCY=50ms", "JITTER=10ms", "SEED=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(tb, addr)
	return "http://" + addr, cmd.Process.Pid
}

// mark sends the probe sig (SIGUSR1 starts the measured span, SIGUSR2 ends
// it) and returns the server's heap allocations so far.
func (s *server) mark(tb testing.TB, sig syscall.Signal) int64 {
	if err := s.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	if !s.probe.Scan() {
		tb.Fatalf("the server's probe did not answer: %v", s.probe.Err())
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(s.probe.Text(), "probe mallocs "), 10, 64)
	if err != nil {
		tb.Fatalf("probe said %q", s.probe.Text())
	}
	return n
}

// cpu is the server's user+system CPU time so far.
func (s *server) cpu(tb testing.TB) time.Duration { return linetest.ProcCPU(tb, s.cmd.Process.Pid) }

func (s *server) rss(b *testing.B) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// load is a closed loop over conns connections, each keeping depth lines
// in flight, n lines in all; every answer must be want.
type load struct {
	conns         []net.Conn
	depth         int
	payload, want []byte
}

// dial connects conns clients to s and has each ask one line first, so the
// measured span starts warm (connections accepted, upstream pool filled).
func dial(tb testing.TB, s *server, conns, depth int, payload, want []byte) *load {
	l := &load{depth: depth, payload: payload, want: want}
	for range conns {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		l.conns = append(l.conns, c)
	}
	if err := l.run(len(l.conns)); err != nil {
		tb.Fatalf("warming up: %v", err)
	}
	return l
}

// run sends n lines spread over the connections and waits for every answer.
func (l *load) run(n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(l.conns))
	for i, c := range l.conns {
		k := n / len(l.conns)
		if i < n%len(l.conns) {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := roundTrips(c, k, l.depth, l.payload, l.want); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// measure runs b.N lines of l against s and reports, for the span of those
// lines only, the rate, the server's CPU per line and share of its core, and
// its heap allocations per line (when it has the probe); and how busy core 0 was with this client
// and the processes beside it there (the upstream): near 1, the client's
// side limited the rate, not the server.
func measure(b *testing.B, s *server, l *load, beside ...int) (linesPerS float64) {
	pids := append([]int{os.Getpid()}, beside...)
	core0 := func() (t time.Duration) {
		for _, pid := range pids {
			t += linetest.ProcCPU(b, pid)
		}
		return t
	}
	cpu0, side0 := s.cpu(b), core0()
	var mallocs0 int64
	if s.probe != nil {
		mallocs0 = s.mark(b, syscall.SIGUSR1)
	}
	b.ResetTimer()
	start := time.Now()
	err := l.run(b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	cpu, side := s.cpu(b)-cpu0, core0()-side0
	linesPerS = float64(b.N) / elapsed.Seconds()
	b.ReportMetric(linesPerS, "lines/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "server-ns/line")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "server-cores")
	if s.probe != nil { // naive and floor have none
		b.ReportMetric(float64(s.mark(b, syscall.SIGUSR2)-mallocs0)/float64(b.N), "allocs/line")
	}
	b.ReportMetric(side.Seconds()/elapsed.Seconds(), "core0-busy")
	return linesPerS
}

// BenchmarkEcho is closed-loop echo: conns connections, each keeping depth
// lines in flight, b.N lines in all.
func BenchmarkEcho(b *testing.B) {
	payload := []byte("hello my friend, where is the treasure")
	want := lineproto.AppendEcho(nil, payload)
	for _, entry := range []string{"floor", "naive", "goroutine", "eventloop"} {
		for _, tc := range []struct{ conns, depth int }{{1, 1}, {50, 1}, {100, 1}, {1000, 1}, {50, 16}} {
			b.Run(fmt.Sprintf("model=%s/conns=%d/depth=%d", entry, tc.conns, tc.depth), func(b *testing.B) {
				if entry == "floor" && floor == "" {
					b.Skip(floorWhy)
				}
				s := start(b, entry)
				l := dial(b, s, tc.conns, tc.depth, payload, want)
				measure(b, s, l)
			})
		}
	}
}

// BenchmarkFetch is closed-loop fetch mode against the lab's upstream at
// 50 ms ± 10 ms, pooled, one line in flight per connection: the
// fetch-sweep's steps. The ideal rate is conns ÷ 50 ms; %-of-ideal says how
// near each entry comes. Run it with a fixed count, enough for a few
// seconds at the ideal (-benchtime 60000x for conns=1000).
func BenchmarkFetch(b *testing.B) {
	up, upPid := startUpstream(b)
	payload := []byte("hello my friend, where is the treasure")
	want := lineproto.AppendEcho(nil, []byte(upstream.Translate(string(payload))))
	for _, entry := range []string{"goroutine", "eventloop", "lean"} {
		for _, conns := range []int{100, 1000} {
			b.Run(fmt.Sprintf("entry=%s/conns=%d", entry, conns), func(b *testing.B) {
				s := start(b, entry, "MODE=fetch", "UPSTREAM_URL="+up, "UPSTREAM_CLIENT=pooled")
				l := dial(b, s, conns, 1, payload, want)
				rate := measure(b, s, l, upPid)
				b.ReportMetric(100*rate/(float64(conns)/0.050), "%-of-ideal")
			})
		}
	}
}

// TestEchoAllocatesNothing holds both models to an allocation-free echo
// path: 20,000 lines over 20 connections, one and sixteen in flight, after
// a warm-up, cost the server fewer than one heap allocation per 100 lines
// (the runtime's own, such as a timer or a scheduler's, may round to a
// few).
func TestEchoAllocatesNothing(t *testing.T) {
	payload := []byte("hello my friend, where is the treasure")
	want := lineproto.AppendEcho(nil, payload)
	for _, entry := range []string{"goroutine", "eventloop"} {
		for _, depth := range []int{1, 16} {
			t.Run(fmt.Sprintf("%s/depth=%d", entry, depth), func(t *testing.T) {
				s := start(t, entry)
				l := dial(t, s, 20, depth, payload, want)
				if err := l.run(2000); err != nil { // past the buffers' first growth
					t.Fatal(err)
				}
				const lines = 20000
				before := s.mark(t, syscall.SIGUSR1)
				if err := l.run(lines); err != nil {
					t.Fatal(err)
				}
				n := s.mark(t, syscall.SIGUSR2) - before
				t.Logf("%d heap allocations in %d lines", n, lines)
				if float64(n)/lines >= 0.01 {
					t.Errorf("%d heap allocations in %d echo lines (%.3f a line); want none in the steady state", n, lines, float64(n)/lines)
				}
			})
		}
	}
}

func roundTrips(c net.Conn, n, depth int, payload, want []byte) error {
	r := lineproto.NewReader(c, lineproto.MaxLine)
	w := bufio.NewWriter(c)
	line := append(append([]byte(nil), payload...), '\n')
	sent := 0
	for ; sent < min(depth, n); sent++ {
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// Refill the window once per batch of answers read, so that a deep
	// window costs the client one write per read, not one per line.
	due := 0
	for got := 0; got < n; got++ {
		p, err := r.ReadLine()
		if err != nil {
			return err
		}
		if !bytes.Equal(p, want[:len(want)-1]) {
			return fmt.Errorf("answer %q, want %q", p, want)
		}
		if sent < n {
			sent++
			due++
		}
		if due > 0 && r.Buffered() == 0 {
			for ; due > 0; due-- {
				w.Write(line)
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// BenchmarkIdle opens 10,000 idle connections (each sends one line, so the
// server has read from it) and reports the server's resident memory per
// connection. b.N is ignored: run it with -benchtime 1x.
func BenchmarkIdle(b *testing.B) {
	const n = 10000
	for _, model := range []string{"goroutine", "eventloop"} {
		b.Run("model="+model, func(b *testing.B) {
			s := start(b, model)
			time.Sleep(200 * time.Millisecond)
			before := s.rss(b)
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			buf := make([]byte, 64)
			for range n {
				c, err := net.Dial("tcp", s.addr)
				if err != nil {
					b.Fatalf("after %d connections: %v", len(conns), err)
				}
				conns = append(conns, c)
				c.Write([]byte("hi\n"))
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(500 * time.Millisecond)
			after := s.rss(b)
			b.ReportMetric(float64(after-before)/n, "bytes/conn")
			b.ReportMetric(float64(after)/(1<<20), "MiB-total")
		})
	}
}
