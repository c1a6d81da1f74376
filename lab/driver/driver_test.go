package driver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/linelab/linelab/go-server/goroutine"
	"github.com/linelab/linelab/go-server/server"
	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/internal/linetest"
	"github.com/linelab/linelab/lab"
)

func echoAnswer(p []byte) []byte { return lineproto.AppendEcho(nil, p) }

// goServer serves the real goroutine model on loopback.
func goServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { goroutine.Serve(ctx, ln, server.Echo, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func drive(t *testing.T, addr string, st lab.Step) *Result {
	t.Helper()
	if st.Payload == "" {
		st.Payload = "hello"
	}
	res, err := Run(context.Background(), Config{
		Addr: addr, Step: st, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Answer: echoAnswer,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestLoopsAgainstTheGoServer(t *testing.T) {
	t.Parallel()
	addr := goServer(t)
	for _, st := range []lab.Step{
		{Name: "closed", Loop: lab.Closed, Connections: 4, Depth: 1},
		{Name: "pipelined", Loop: lab.Closed, Connections: 4, Depth: 8},
		{Name: "open", Loop: lab.Open, Connections: 4, Rate: 2000},
		{Name: "churn", Loop: lab.Churn, Connections: 2},
		{Name: "idle", Loop: lab.Idle, Connections: 50},
	} {
		t.Run(st.Name, func(t *testing.T) {
			res := drive(t, addr, st)
			if len(res.Errors) > 0 {
				t.Fatalf("errors %v (first: %s)", res.Errors, res.FirstError)
			}
			if res.Lines == 0 || res.Latency.TotalCount() != res.Lines {
				t.Fatalf("lines %d, latency samples %d", res.Lines, res.Latency.TotalCount())
			}
			if st.Loop == lab.Open {
				// 2000/s for 0.3 s: about 600 lines, none lost.
				if res.Lines < 500 || res.Lines > 620 {
					t.Errorf("open loop answered %d lines, want about 600", res.Lines)
				}
				if res.Uncorrected.TotalCount() != res.Lines {
					t.Errorf("uncorrected samples %d", res.Uncorrected.TotalCount())
				}
			}
			if st.Loop == lab.Idle && res.Connected != 50 {
				t.Errorf("connected %d of 50", res.Connected)
			}
		})
	}
}

func TestWrongServer(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, func(c net.Conn, n int, line []byte) bool {
		switch n % 3 {
		case 0:
			c.Write([]byte("echo: nonsense\n"))
		case 1:
			c.Write([]byte("error: upstream: status 503\n"))
		default:
			c.Write(append(append([]byte("echo: "), line...), '\n'))
		}
		return true
	})
	res := drive(t, addr, lab.Step{Loop: lab.Closed, Connections: 2, Depth: 1})
	if res.Errors[ErrWrong] == 0 || res.Errors[ErrErrorLine] == 0 || res.Lines == 0 {
		t.Fatalf("lines %d, errors %v; want wrong, error-line and some good lines", res.Lines, res.Errors)
	}
}

func TestReorderingServer(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, func(c net.Conn, n int, line []byte) bool {
		// Answers the line "hello #k" as if it were "hello #k+1".
		c.Write([]byte("echo: hello #" + string(rune('0'+(n+1)%10)) + "\n"))
		return true
	})
	res := drive(t, addr, lab.Step{Loop: lab.Closed, Connections: 1, Depth: 1})
	if res.Errors[ErrOrder] == 0 {
		t.Fatalf("errors %v; want out-of-order answers counted", res.Errors)
	}
}

func TestSlowServer(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, func(c net.Conn, n int, line []byte) bool {
		time.Sleep(20 * time.Millisecond)
		c.Write(append(append([]byte("echo: "), line...), '\n'))
		return true
	})
	closed := drive(t, addr, lab.Step{Loop: lab.Closed, Connections: 1, Depth: 1})
	if p50 := closed.Latency.ValueAtQuantile(50); p50 < 20000 {
		t.Errorf("closed p50 %d µs, want at least 20 ms", p50)
	}
	// Open loop at 200/s on one connection to a server that does 50/s:
	// lines queue, and latency from the intended send time must show it,
	// and never be below latency from the actual send.
	open := drive(t, addr, lab.Step{Loop: lab.Open, Connections: 1, Rate: 200})
	if open.Latency.Max() < 100000 {
		t.Errorf("corrected max %d µs; a server at a quarter of the offered rate must show queueing", open.Latency.Max())
	}
	if open.Latency.ValueAtQuantile(50) < open.Uncorrected.ValueAtQuantile(50) {
		t.Errorf("corrected p50 %d < uncorrected %d", open.Latency.ValueAtQuantile(50), open.Uncorrected.ValueAtQuantile(50))
	}
}

func TestServerThatClosesMidRun(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, func(c net.Conn, n int, line []byte) bool {
		if n == 20 {
			return false // close after 20 answers
		}
		c.Write(append(append([]byte("echo: "), line...), '\n'))
		return true
	})
	res := drive(t, addr, lab.Step{Loop: lab.Closed, Connections: 2, Depth: 1})
	if res.Errors[ErrClosed] == 0 || res.Lines == 0 {
		t.Fatalf("lines %d, errors %v; want closed connections counted and reconnects serving", res.Lines, res.Errors)
	}
}

func TestNothingListening(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	res := drive(t, addr, lab.Step{Loop: lab.Closed, Connections: 1, Depth: 1})
	if res.Errors[ErrConnect] == 0 || res.Lines != 0 {
		t.Fatalf("lines %d, errors %v; want connect errors only", res.Lines, res.Errors)
	}
}
