// Package bench measures the Go models as separate processes: the server is
// started with GOMAXPROCS=1 under `taskset -c 1` when taskset exists, and its
// CPU time is read from /proc, so each result carries lines per server
// CPU-second beside the raw rate. Run the client on the other core:
//
//	taskset -c 0 go test -run '^$' -bench . -benchtime 200000x ./go-server/bench
//
// Figures are for notes, never asserted.
package bench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
)

var binary, naive string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "linelab-bench")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "go-server")
	naive = filepath.Join(dir, "naive")
	for bin, pkg := range map[string]string{binary: "../cmd/go-server", naive: "./testdata/naive"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	cmd  *exec.Cmd
	addr string
}

// start runs the server (a model of go-server, or "naive") on a free loopback port, on core 1 if taskset exists.
func start(b *testing.B, model string) *server {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := []string{binary}
	if model == "naive" {
		args = []string{naive}
	}
	if p, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{p, "-c", "1"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "MODEL="+model, "MODE=echo", "PORT="+strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &server{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			b.Fatalf("server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpu is the server's user+system CPU time so far.
func (s *server) cpu(b *testing.B) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

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

// BenchmarkEcho is closed-loop echo: conns connections, each keeping depth
// lines in flight, b.N lines in all.
func BenchmarkEcho(b *testing.B) {
	for _, model := range []string{"naive", "goroutine", "eventloop"} {
		for _, tc := range []struct{ conns, depth int }{{1, 1}, {50, 1}, {1000, 1}, {50, 16}} {
			b.Run(fmt.Sprintf("model=%s/conns=%d/depth=%d", model, tc.conns, tc.depth), func(b *testing.B) {
				s := start(b, model)
				conns := make([]net.Conn, tc.conns)
				for i := range conns {
					c, err := net.Dial("tcp", s.addr)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					conns[i] = c
				}
				payload := []byte("hello my friend, where is the treasure")
				want := lineproto.AppendEcho(nil, payload)
				cpu0 := s.cpu(b)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, len(conns))
				for i, c := range conns {
					n := b.N / len(conns)
					if i < b.N%len(conns) {
						n++
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := roundTrips(c, n, tc.depth, payload, want); err != nil {
							errs <- err
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				close(errs)
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
				cpu := s.cpu(b) - cpu0
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
				if cpu > 0 {
					b.ReportMetric(float64(b.N)/cpu.Seconds(), "lines/cpu-s")
					b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "server-cores")
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
		if len(p)+1 != len(want) {
			return fmt.Errorf("answer %q", p)
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
