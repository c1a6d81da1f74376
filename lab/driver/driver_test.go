package driver

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/linelab/linelab/go-server/goroutine"
	"github.com/linelab/linelab/go-server/server"
	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/internal/linetest"
	"github.com/linelab/linelab/lab"
)

func echoAnswer(p []byte) []byte { return lineproto.AppendEcho(nil, p) }

// goServer serves the real goroutine model on loopback, in echo mode.
func goServer(t *testing.T) string { return goServerIn(t, server.Echo) }

// goServerIn serves the real goroutine model on loopback in mode.
func goServerIn(t *testing.T, mode server.Mode) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { goroutine.Serve(ctx, ln, mode, nil); close(done) }()
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
			// Latency is taken for every line of the window, including
			// those answered in the grace period after it.
			// Answers in the window (throughput) and lines of the window
			// (latency) differ only at the edges: lines sent in the warm-up
			// and answered in the window, and lines answered after it.
			slack := res.Late + res.InFlight + int64(st.Connections*max(st.Depth, 1)) + 16
			if d := res.Latency.TotalCount() - res.Lines; res.Lines == 0 || d > slack || -d > slack {
				t.Fatalf("lines %d (late %d, in flight %d), latency samples %d", res.Lines, res.Late, res.InFlight, res.Latency.TotalCount())
			}
			if st.Loop == lab.Open {
				// 2000/s for 0.3 s: about 600 lines, none lost.
				if res.Lines < 500 || res.Lines > 620 {
					t.Errorf("open loop answered %d lines, want about 600", res.Lines)
				}
				if res.Uncorrected.TotalCount() != res.Latency.TotalCount() {
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

// driveFor is drive with the grace period cut short, for servers that owe
// answers they will never give.
func driveFor(t *testing.T, addr string, st lab.Step, warmup, window, grace time.Duration) *Result {
	t.Helper()
	if st.Payload == "" {
		st.Payload = "hello"
	}
	res, err := Run(context.Background(), Config{
		Addr: addr, Step: st, Warmup: warmup, Duration: window, Grace: grace, Answer: echoAnswer,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func echoLine(c net.Conn, line []byte) {
	c.Write(append(append([]byte("echo: "), line...), '\n'))
}

func failures(res *Result) int64 {
	var n int64
	for _, v := range res.Errors {
		n += v
	}
	return n
}

// scheduledIn is how many lines an open loop at rate puts in [from, to).
func scheduledIn(rate int, from, to time.Duration) int64 {
	interval := time.Duration(float64(time.Second) / float64(rate))
	first := (from + interval - 1) / interval
	last := (to + interval - 1) / interval
	return int64(last - first)
}

// The counting rules of the open loop, each against a server that breaks
// one assumption: every line of the window must end as a timed answer or a
// counted failure, and throughput must count only answers that arrived.
func TestOpenLoopAccountsForEveryLine(t *testing.T) {
	t.Parallel()
	const rate = 2000
	warmup, window := 50*time.Millisecond, 300*time.Millisecond
	want := scheduledIn(rate, warmup, warmup+window)
	for _, tc := range []struct {
		name   string
		handle func(c net.Conn, n int, line []byte) bool
		check  func(t *testing.T, res *Result)
		events int64 // failures that are not lines: the extra answer itself
	}{
		{
			// 500 lines/s against 2,000 offered: it falls behind, and the
			// driver must not credit it with what it was asked for.
			name: "falls behind",
			handle: func(c net.Conn, n int, line []byte) bool {
				time.Sleep(2 * time.Millisecond)
				echoLine(c, line)
				return true
			},
			check: func(t *testing.T, res *Result) {
				if tput := res.Throughput(); tput > 600 {
					t.Errorf("throughput %.0f/s from a server that answers at most 500/s", tput)
				}
				if res.Errors[ErrUnanswered] == 0 || res.InFlight == 0 {
					t.Errorf("unanswered %d, in flight at the end %d: want the backlog shown", res.Errors[ErrUnanswered], res.InFlight)
				}
			},
		},
		{
			name: "dies mid-step",
			handle: func(c net.Conn, n int, line []byte) bool {
				if n == 200 {
					return false
				}
				echoLine(c, line)
				return true
			},
			check: func(t *testing.T, res *Result) {
				// Closing with lines unread sends a reset, which the
				// driver may see before the FIN: either class will do.
				gone := res.Errors[ErrClosed] + res.Errors[ErrReset]
				if gone < want/2 {
					t.Errorf("closed or reset %d of %d lines (errors %v): lines for a dead connection must count", gone, want, res.Errors)
				}
			},
		},
		{
			name: "answers twice",
			handle: func(c net.Conn, n int, line []byte) bool {
				echoLine(c, line)
				if n == 150 {
					echoLine(c, line)
				}
				return true
			},
			check: func(t *testing.T, res *Result) {
				if res.Errors[ErrExtra] == 0 {
					t.Errorf("errors %v: want the extra answer counted", res.Errors)
				}
			},
			events: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := linetest.Serve(t, tc.handle)
			res := driveFor(t, addr, lab.Step{Loop: lab.Open, Connections: 1, Rate: rate}, warmup, window, 200*time.Millisecond)
			tc.check(t, res)
			// Every line of the window is accounted for, once.
			if got := res.Latency.TotalCount() + failures(res) - tc.events; got != want {
				t.Errorf("timed %d + failed %d = %d, want the %d lines of the window (errors %v)", res.Latency.TotalCount(), failures(res), got, want, res.Errors)
			}
		})
	}
}

func TestClosedLoopTimesAnswersPastTheWindow(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, func(c net.Conn, n int, line []byte) bool {
		time.Sleep(120 * time.Millisecond)
		echoLine(c, line)
		return true
	})
	res := driveFor(t, addr, lab.Step{Loop: lab.Closed, Connections: 2, Depth: 1}, 50*time.Millisecond, 300*time.Millisecond, time.Second)
	if res.Late == 0 || res.InFlight == 0 {
		t.Fatalf("late %d, in flight at the end %d: the lines in flight when the window closed must be waited for", res.Late, res.InFlight)
	}
	if res.Latency.TotalCount() < res.Late {
		t.Errorf("latency samples %d < late answers %d", res.Latency.TotalCount(), res.Late)
	}
	if p := res.Latency.Min(); p < 120000 {
		t.Errorf("min latency %d µs from a server that waits 120 ms", p)
	}
	if len(res.Errors) > 0 {
		t.Errorf("errors %v", res.Errors)
	}
}

func TestClosedLoopSurvivesExtraAnswers(t *testing.T) {
	t.Parallel()
	addr := linetest.Serve(t, func(c net.Conn, n int, line []byte) bool {
		echoLine(c, line)
		echoLine(c, line) // every answer twice
		return true
	})
	for _, depth := range []int{1, 4} {
		res := drive(t, addr, lab.Step{Loop: lab.Closed, Connections: 2, Depth: depth})
		if res.Errors[ErrExtra] == 0 && res.Errors[ErrOrder] == 0 {
			t.Errorf("depth %d: errors %v; want extra or out-of-order answers counted", depth, res.Errors)
		}
	}
}

func TestOpenLoopNothingListening(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	res := driveFor(t, addr, lab.Step{Loop: lab.Open, Connections: 2, Rate: 1000}, 0, 200*time.Millisecond, 100*time.Millisecond)
	if res.Lines != 0 || res.Errors[ErrConnect] != scheduledIn(1000, 0, 200*time.Millisecond) {
		t.Fatalf("lines %d, errors %v; want every line of the window a connect failure", res.Lines, res.Errors)
	}
}

// The open loop times answers from the kernel's arrival stamp, not from
// when its tick got to them. At 100 lines/s the tick is 10 ms: a server
// that answers in 5 ms must read as about 5 ms, where timing from the
// tick would read about 10 ms. (Not parallel: the fake server's own sleep
// overshoots on a loaded machine.)
func TestOpenLoopTimesFromArrival(t *testing.T) {
	addr := linetest.Serve(t, func(c net.Conn, n int, line []byte) bool {
		time.Sleep(5 * time.Millisecond)
		echoLine(c, line)
		return true
	})
	res := driveFor(t, addr, lab.Step{Loop: lab.Open, Connections: 2, Rate: 100}, 50*time.Millisecond, 500*time.Millisecond, time.Second)
	if len(res.Errors) > 0 {
		t.Fatalf("errors %v", res.Errors)
	}
	if tick := tickFor(10 * time.Millisecond); tick != 10*time.Millisecond {
		t.Fatalf("tick %v at 100 lines/s, want 10ms", tick)
	}
	lo, hi := int64(5000), int64(9000)
	if p := res.Uncorrected.ValueAtQuantile(50); p < lo || p > hi {
		t.Errorf("uncorrected p50 %d µs, want %d–%d", p, lo, hi)
	}
	if p := res.Latency.ValueAtQuantile(50); p < lo || p > hi {
		t.Errorf("corrected p50 %d µs, want %d–%d", p, lo, hi)
	}
}

// TestWorkVariants: a work step's payloads are 64 distinct valid numbers
// whose N stays within 64 of the step's (within 1% from N = 1,000), at
// every size the protocol allows, so the lines cost the server alike.
func TestWorkVariants(t *testing.T) {
	t.Parallel()
	variant := Variants(lab.Work)
	for _, payload := range []string{"0", "7", "99", "100", "5000", "999999", "1000000"} {
		n, _ := strconv.Atoi(payload)
		seen := map[string]bool{}
		for i := range variants {
			p := variant(payload, i)
			v, ok := lineproto.ParseWork(p)
			if !ok {
				t.Fatalf("%s: variant %d is %q, not a valid work payload", payload, i, p)
			}
			if d := v - n; d < -variants || d > variants || n >= 1000 && 100*abs(d) > n {
				t.Errorf("%s: variant %d is %q, N %d too far from the step's", payload, i, p, v)
			}
			seen[string(p)] = true
		}
		if n >= 100 && len(seen) != variants { // below 100 a few repeat: such lines are no work at all
			t.Errorf("%s: %d distinct payloads of %d", payload, len(seen), variants)
		}
	}
}

func abs(x int) int { return max(x, -x) }

// TestWorkMode drives the goroutine server in work mode, closed and open:
// every answer is a digest the driver computed for that line, and the
// closed loop counts each connection's answers.
func TestWorkMode(t *testing.T) {
	t.Parallel()
	addr := goServerIn(t, server.Work)
	for _, st := range []lab.Step{
		{Loop: lab.Closed, Connections: 4, Depth: 2, Payload: "200"},
		{Loop: lab.Open, Connections: 4, Rate: 500, Payload: "200"},
	} {
		res, err := Run(context.Background(), Config{
			Addr: addr, Step: st, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
			Answer: Answers(lab.Work), Variant: Variants(lab.Work),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Lines == 0 || len(res.Errors) > 0 {
			t.Errorf("%s loop: %d lines, errors %v (%s)", st.Loop, res.Lines, res.Errors, res.FirstError)
		}
		if st.Loop != lab.Closed {
			continue
		}
		var sum int64
		for _, n := range res.PerConn {
			sum += n
		}
		if len(res.PerConn) != st.Connections || sum != res.Lines {
			t.Errorf("closed loop: answers by connection %v add up to %d, want %d on %d connections", res.PerConn, sum, res.Lines, st.Connections)
		}
	}
}

// TestPacedClosedLoop: a closed loop given a rate (the calibration's
// reference for the open loop) keeps to it, whatever the server could do.
func TestPacedClosedLoop(t *testing.T) {
	t.Parallel()
	addr := goServer(t)
	res, err := Run(context.Background(), Config{
		Addr: addr, Step: lab.Step{Loop: lab.Closed, Connections: 10, Depth: 1, Rate: 2000, Payload: "paced"},
		Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, Answer: echoAnswer,
	})
	if err != nil {
		t.Fatal(err)
	}
	if tp := res.Throughput(); tp < 1600 || tp > 2200 || len(res.Errors) > 0 {
		t.Errorf("paced to 2,000 lines/s: %.0f lines/s, errors %v", tp, res.Errors)
	}
}

// TestHogConnection: a step with a Hog runs one more connection of heavy
// work lines over the same window, counted apart from the step's own, and
// its result crosses the wire with the step's.
func TestHogConnection(t *testing.T) {
	t.Parallel()
	addr := goServerIn(t, server.Work)
	st := lab.Step{Name: "hog", Loop: lab.Closed, Connections: 3, Payload: "5", Hog: &lab.Hog{CPU: lab.Duration(time.Millisecond), Rounds: 3000}}
	res, err := Run(context.Background(), Config{
		Addr: addr, Step: st, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
		Answer: Answers(lab.Work), Variant: Variants(lab.Work),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Hog
	if h == nil {
		t.Fatal("no hog result")
	}
	if h.Lines == 0 || len(h.Errors) > 0 || res.Lines == 0 || len(res.Errors) > 0 {
		t.Fatalf("hog %d lines (errors %v, %s); light %d lines (errors %v)", h.Lines, h.Errors, h.FirstError, res.Lines, res.Errors)
	}
	if len(res.PerConn) != 3 || h.From != res.From || h.To != res.To {
		t.Errorf("light connections %d (want 3); hog window %v–%v, step's %v–%v", len(res.PerConn), h.From, h.To, res.From, res.To)
	}
	w, err := res.ToWire()
	if err != nil {
		t.Fatal(err)
	}
	back, err := w.Result()
	if err != nil {
		t.Fatal(err)
	}
	if back.Hog == nil || back.Hog.Lines != h.Lines || back.Hog.Latency.TotalCount() != h.Latency.TotalCount() {
		t.Errorf("the hog did not cross the wire: %+v", back.Hog)
	}
}
