package driver

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
)

// A crash on purpose: at 300 ms into the window the server (the real
// goroutine model) goes away with its connections, and 200 ms later
// another one answers at another address. The timeline must show the
// answers before, none while it is down, answers after; the reconnects;
// the failures in the buckets where they happened; and the mark.
func TestTimelineOfACrash(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, stop := killableServer(t, ctx)
	var addr atomic.Pointer[string]
	addr.Store(&first)
	const at, down = 300 * time.Millisecond, 200 * time.Millisecond
	res, err := Run(context.Background(), Config{
		Addr: first, Target: func() string { return *addr.Load() },
		Step:   lab.Step{Name: "crash", Loop: lab.Closed, Connections: 8, Depth: 1, Payload: "hello"},
		Warmup: 50 * time.Millisecond, Duration: time.Second, Answer: echoAnswer,
		Actions: []Action{{What: "kill and start again", At: at, Do: func(ctx context.Context) error {
			stop()
			sleepUntil(ctx, time.Now().Add(down))
			next, _ := killableServer(t, ctx)
			addr.Store(&next)
			return nil
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tl := res.Timeline
	if tl == nil || tl.BucketMS != 100 || len(tl.Answers) != 10 {
		t.Fatalf("timeline %+v: want 10 buckets of 100 ms", tl)
	}
	if len(tl.Faults) != 1 || tl.Faults[0].Error != "" || tl.Faults[0].FromMS < 290 || tl.Faults[0].ToMS < tl.Faults[0].FromMS+190 {
		t.Fatalf("marks %+v: want one, from about 300 ms, lasting at least 200", tl.Faults)
	}
	for _, i := range []int{0, 1, 2, 7, 8, 9} {
		if tl.Answers[i] == 0 {
			t.Errorf("bucket %d (outside the outage) has no answers: %v", i, tl.Answers)
		}
	}
	if tl.Answers[4] != 0 {
		t.Errorf("bucket 4 (400–500 ms, the server down) has %d answers: %v", tl.Answers[4], tl.Answers)
	}
	if tl.FirstAnswerMS < float64(down.Milliseconds()) || tl.FirstAnswerMS > 450 {
		t.Errorf("first answer %.0f ms after the kill: want a little over %v", tl.FirstAnswerMS, down)
	}
	if res.Reconnects < 8 {
		t.Errorf("reconnects %d: every connection had to connect again", res.Reconnects)
	}
	var lost int64
	for _, c := range []Class{ErrReset, ErrClosed} {
		for i, n := range tl.Errors[c] {
			if n > 0 && i != 3 {
				t.Errorf("%d %s failures in bucket %d: want them at the kill (bucket 3)", n, c, i)
			}
			lost += n
		}
	}
	if lost != 8 || res.Errors[ErrReset]+res.Errors[ErrClosed] != 8 {
		t.Errorf("lines lost %d (totals %v): want the 8 in flight at the kill", lost, res.Errors)
	}
	if tl.Errors[ErrConnect] == nil {
		t.Errorf("no connect failures while the server was down: %v", tl.Errors)
	}
}

// An action that fails is marked with its error, and the step still runs.
func TestFailedActionIsMarked(t *testing.T) {
	t.Parallel()
	addr := goServer(t)
	res, err := Run(context.Background(), Config{
		Addr: addr, Step: lab.Step{Name: "c", Loop: lab.Closed, Connections: 2, Depth: 1, Payload: "x"},
		Duration: 300 * time.Millisecond, Answer: echoAnswer,
		Actions: []Action{{What: "break", At: 100 * time.Millisecond, Do: func(context.Context) error { return errors.New("no rights") }}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Timeline.Faults; len(m) != 1 || m[0].Error != "no rights" {
		t.Fatalf("marks %+v", m)
	}
	if res.Lines == 0 || len(res.Errors) > 0 {
		t.Fatalf("lines %d, errors %v", res.Lines, res.Errors)
	}
}

// killableServer echoes on loopback until stop, which closes its listener
// and resets every connection, as a killed process's kernel does.
func killableServer(t *testing.T, ctx context.Context) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []*net.TCPConn
	dead := false
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		dead = true
		ln.Close()
		for _, c := range conns {
			c.SetLinger(0)
			c.Close()
		}
	}
	context.AfterFunc(ctx, stop)
	t.Cleanup(stop)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if dead {
				c.Close()
			}
			conns = append(conns, c.(*net.TCPConn))
			mu.Unlock()
			go func() {
				rd := lineproto.NewReader(c, 1<<16)
				for {
					p, err := rd.ReadLine()
					if err != nil {
						return
					}
					if _, err := c.Write(lineproto.AppendEcho(nil, p)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), stop
}
