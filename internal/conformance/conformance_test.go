package conformance

import (
	"bufio"
	"cmp"
	"context"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/internal/linetest"
	"github.com/linelab/linelab/lab"
)

// liar serves a protocol with one deliberate flaw.
func liar(t *testing.T, answer func(line []byte) []byte) string {
	return linetest.Serve(t, func(c net.Conn, _ int, line []byte) bool {
		_, err := c.Write(answer(line))
		return err == nil
	})
}

// TestTheSuiteCatchesLiars runs the suite against servers that break one
// rule each: every one must fail the cases about that rule.
func TestTheSuiteCatchesLiars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer func([]byte) []byte
		fails  string
	}{
		{"keeps the CR", func(l []byte) []byte { return append(append([]byte("echo: "), l...), '\n') }, "crlf"},
		{"answers twice", func(l []byte) []byte {
			a := append(append([]byte("echo: "), l...), '\n')
			return append(a, a...)
		}, "one-line"},
		{"no limit", func(l []byte) []byte {
			if n := len(l); n > 0 && l[n-1] == '\r' {
				l = l[:n-1]
			}
			return append(append([]byte("echo: "), l...), '\n')
		}, "too-long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i := slices.IndexFunc(Cases(), func(c Case) bool { return c.Name == tt.fails })
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			r := runCase(ctx, Cases()[i], Target{Addr: liar(t, tt.answer), Mode: "echo"})
			if r.Passed {
				t.Errorf("case %s passed a server that %s", tt.fails, tt.name)
			}
		})
	}
}

// TestTheSuiteCatchesNetworkLiars: servers that keep every answer right but
// leave Nagle's algorithm on, never stop draining after too-long, let one
// client hold up the others, or read a line however long it grows.
func TestTheSuiteCatchesNetworkLiars(t *testing.T) {
	t.Parallel()
	nagle := linetest.ServeConn(t, func(c net.Conn) {
		c.(*net.TCPConn).SetNoDelay(false) // Go sets TCP_NODELAY by default; the talk's servers did not
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			// One write per answer, as a server that answers line by line does.
			if _, err := c.Write(append([]byte("echo: "), line...)); err != nil {
				return
			}
		}
	})
	drainsForEver := linetest.ServeConn(t, func(c net.Conn) {
		buf := make([]byte, 65536)
		n := 0
		for n <= lineproto.MaxLine {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n += k
		}
		c.Write([]byte(lineproto.TooLongLine))
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c) // as long as the client sends
	})
	// One client at a time: the whole connection under one lock, as a
	// server with a single blocking loop.
	var one sync.Mutex
	serialConn := linetest.ServeConn(t, func(c net.Conn) {
		one.Lock()
		defer one.Unlock()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			if _, err := c.Write(lineproto.AppendEcho(nil, line[:len(line)-1])); err != nil {
				return
			}
		}
	})
	// Reads everything, answers into a queue that one goroutine writes: the
	// echo backlog that grew without bound in go-eventloop.
	readsWithoutBound := linetest.ServeConn(t, func(c net.Conn) {
		out := make(chan []byte, 1<<20)
		go func() {
			for a := range out {
				if _, err := c.Write(a); err != nil {
					return
				}
			}
		}()
		defer close(out)
		r := lineproto.NewReader(c, lineproto.MaxLine)
		for {
			p, err := r.ReadLine()
			if err != nil {
				return
			}
			select {
			case out <- lineproto.AppendEcho(nil, p):
			default:
				// the liar's own queue is full: it drops, and still reads
			}
		}
	})
	noLimit := linetest.Serve(t, func(c net.Conn, _ int, line []byte) bool { // reads to the LF, however far
		_, err := c.Write(lineproto.AppendEcho(nil, line))
		return err == nil
	})
	for _, tt := range []struct {
		name, addr, fails string
	}{
		{"leaves Nagle on", nagle, "warm-bursts-no-stall"},
		{"drains for ever", drainsForEver, "too-long-lets-go"},
		{"serves one connection at a time", serialConn, "slowloris"},
		{"blocks every client on one full socket", serialConn, "never-reads"},
		{"reads without bound from a client that never reads", readsWithoutBound, "never-reads"},
		{"has no line limit", noLimit, "ten-megabyte-line"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i := slices.IndexFunc(Cases(), func(c Case) bool { return c.Name == tt.fails })
			r := runCase(context.Background(), Cases()[i], Target{Addr: tt.addr, Mode: "echo"})
			if r.Passed {
				t.Errorf("case %s passed a server that %s", tt.fails, tt.name)
			} else {
				t.Logf("%s: %s", tt.fails, r.Detail)
			}
		})
	}
}

// TestAddress judges any running server: LINELAB_ADDR=host:port, with
// LINELAB_MODE (echo by default; fetch expects a healthy upstream). It is
// how a new implementation is tried before it has a container.
//
//	LINELAB_ADDR=127.0.0.1:7001 go test -run TestAddress ./internal/conformance
func TestAddress(t *testing.T) {
	addr := os.Getenv("LINELAB_ADDR")
	if addr == "" {
		t.Skip("set LINELAB_ADDR=host:port to judge a running server")
	}
	target := Target{Addr: addr, Mode: lab.Mode(cmp.Or(os.Getenv("LINELAB_MODE"), "echo"))}
	if target.Mode == "fetch" {
		target.Upstream = Healthy
	}
	Run(t, target)
}

// TestPidLimitCatchesAHang: a server that accepts past its limit and then
// neither answers nor closes fails; one that refuses what it cannot serve
// passes.
func TestPidLimitCatchesAHang(t *testing.T) {
	t.Parallel()
	serve := func(refuse bool) string {
		var mu sync.Mutex
		open := 0
		return linetest.ServeConn(t, func(c net.Conn) {
			mu.Lock()
			full := open >= 20
			if !full {
				open++
			}
			mu.Unlock()
			if full {
				if refuse {
					c.Close()
				} else {
					select {} // holds the connection, as a server whose thread never started
				}
				return
			}
			defer func() { mu.Lock(); open--; mu.Unlock() }()
			r := lineproto.NewReader(c, lineproto.MaxLine)
			for {
				p, err := r.ReadLine()
				if err != nil {
					return
				}
				if _, err := c.Write(lineproto.AppendEcho(nil, p)); err != nil {
					return
				}
			}
		})
	}
	for _, tt := range []struct {
		name   string
		refuse bool
	}{{"refuses", true}, {"hangs", false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := PidLimit(ctx, Target{Addr: serve(tt.refuse), Mode: "echo", Pids: 20})
			if tt.refuse && err != nil {
				t.Errorf("a server that refuses past its limit failed: %v", err)
			}
			if !tt.refuse && err == nil {
				t.Error("a server that leaves connections hanging past its limit passed")
			}
		})
	}
}
