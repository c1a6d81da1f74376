// Package driver makes a step's load on one server and checks every answer.
//
// What it believes: a load generator must not be the thing measured. It
// keeps per-line work small (expected answers are precomputed, histograms
// are recorded in batches), measures its own CPU time so a step can be
// flagged driver-bound, and records open-loop latency from each line's
// intended send time, so a server that stalls is charged for the lines that
// queued behind the stall (coordinated omission, after wrk2). Every loop is
// bounded by the step's time and ends by itself.
package driver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/linelab/linelab/lab"
)

// Class names a kind of failed line or connection (lab.FailClass).
type Class = lab.FailClass

// The classes, by the names the driver's code uses.
const (
	ErrConnect    = lab.FailConnect
	ErrReset      = lab.FailReset
	ErrClosed     = lab.FailClosed
	ErrTimeout    = lab.FailTimeout
	ErrWrong      = lab.FailWrong
	ErrOrder      = lab.FailOrder
	ErrErrorLine  = lab.FailErrorLine
	ErrExtra      = lab.FailExtra
	ErrUnanswered = lab.FailUnanswered
)

// Classes lists every class, in report order.
var Classes = lab.FailClasses

// Config is one run of one step.
type Config struct {
	Addr     string
	Step     lab.Step // as it runs in the profile
	Warmup   time.Duration
	Duration time.Duration
	// Answer gives the exact answer line the server owes for a payload.
	Answer func(payload []byte) []byte
	// Variant gives the i-th distinct payload of the step (Variants);
	// nil numbers the step's payload, as echo and fetch mode do.
	Variant func(payload string, i int) []byte
	// Mark, if set, is called when the measured window opens (0) and
	// closes (1), on a goroutine of its own; Run returns after both.
	Mark func(edge int)
	// Hold, for idle steps, is called while every connection is open and
	// idle, before the trickle (the caller samples memory then).
	Hold func()
	// Grace is how long after the window the driver still waits for the
	// answers it is owed; 0 means 5 s (30 s for idle steps).
	Grace time.Duration
	// Timeline, when > 0, is the width of the buckets in which answers
	// and failures are counted over the window (Result.Timeline); with
	// Actions and no Timeline, 100 ms.
	Timeline time.Duration
	// Actions are done at their moments of the window, each on its own
	// goroutine, and marked on the timeline.
	Actions []Action
	// Target, when set, gives the address before every dial instead of
	// Addr: a server started again may have moved.
	Target func() string
	// DialTimeout bounds one connect; 0 means 5 s. A client that gives up
	// sooner and dials again is not left waiting for TCP's one-second
	// SYN retransmission after a connect to a container that was gone.
	DialTimeout time.Duration
}

// Result is what one run of a step measured, over its measured window only.
type Result struct {
	Lines       int64                   // correct answers that arrived in the window (connections, for churn)
	Late        int64                   // correct answers to lines of the window that arrived after it, in the grace period
	InFlight    int64                   // lines (connections, for churn) still unanswered when the window closed
	Elapsed     time.Duration           // the measured window
	Errors      map[Class]int64         // failures by class
	Latency     *hdrhistogram.Histogram // µs; open loop: from the intended send time
	Uncorrected *hdrhistogram.Histogram // µs; open loop only: from the actual send time
	Connected   int                     // idle: connections that proved themselves
	DriverCPU   time.Duration           // this process's CPU time in the window
	Offered     float64                 // open loop: lines per second asked for
	SendLag     *hdrhistogram.Histogram // open loop: µs each line left after its intended time
	From, To    time.Time               // the measured window, for the metrics sampler
	FirstError  string                  // the first failure seen, for the report
	Reconnects  int64                   // closed loop: connections opened again in the window
	PerConn     []int64                 // closed loop: correct answers in the window, by connection
	Timeline    *lab.Timeline           // with Config.Timeline or Actions
	// Hog is what the heavy connection of a step with a Hog measured over
	// the same window (its lines are not in Lines; DriverCPU is the
	// step's as a whole).
	Hog *Result
}

// Throughput is correct answers per second of the measured window.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Lines) / r.Elapsed.Seconds()
}

// Latency histograms hold microseconds from 1 µs to 100 s at 3 figures.
const (
	histMin = 1
	histMax = 100_000_000
	histSig = 3
)

// NewHistogram returns an empty latency histogram of the driver's geometry.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSig) }

// Run makes the step's load and returns what it measured. An error means
// the step could not run at all (a bad step); a server that fails shows up
// in Result.Errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Answer == nil {
		return nil, errors.New("driver: Config.Answer is nil")
	}
	st := cfg.Step
	if st.Connections <= 0 {
		return nil, fmt.Errorf("driver: step %s: connections must be > 0", st.Name)
	}
	hr := newHog(ctx, cfg)
	r := newRun(ctx, cfg)
	var acts sync.WaitGroup
	defer func() {
		r.cancel() // the open loop renews it
		acts.Wait()
	}()
	for _, a := range cfg.Actions {
		acts.Add(1)
		go func() {
			defer acts.Done()
			r.tl.act(r.ctx, a)
		}()
	}
	switch st.Loop {
	case lab.Closed:
		hog := r.runHog(hr)
		r.closed()
		if hog != nil {
			r.hogResult = <-hog
		}
	case lab.Open:
		if st.Rate <= 0 {
			return nil, fmt.Errorf("driver: step %s: rate must be > 0", st.Name)
		}
		r.open()
	case lab.Churn:
		r.churn()
	case lab.Idle:
		r.idle()
	default:
		return nil, fmt.Errorf("driver: step %s: unknown loop %q", st.Name, st.Loop)
	}
	acts.Wait() // their marks belong in the result
	r.marks.Wait()
	return r.result(), nil
}

// run is the shared state of one step's load.
type run struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	cfg    Config
	lines  *lines

	start, measureFrom, end time.Time

	ok          atomic.Int64
	late        atomic.Int64
	inflightEnd atomic.Int64
	errs        [len(Classes)]atomic.Int64
	firstErr    atomic.Pointer[string]
	hist        *recorder
	uncorr      *recorder
	lag         *hdrhistogram.Histogram // written by the open loop's pacer only
	cpu0        time.Duration
	cpu1        time.Duration
	conns       atomic.Int64
	reconnects  atomic.Int64
	tl          *timeline // nil without Config.Timeline or Actions
	// perConn counts each closed-loop connection's answers in the window;
	// slot id is written only by the goroutine of connection id, and read
	// once they have all returned.
	perConn   []int64
	marks     sync.WaitGroup // Config.Mark calls in flight
	hogResult *Result
}

func newRun(ctx context.Context, cfg Config) *run {
	r := prepare(ctx, cfg)
	r.startAt(time.Now())
	return r
}

// prepare builds a run's lines and recorders, before its clock starts.
func prepare(ctx context.Context, cfg Config) *run {
	r := &run{parent: ctx, cfg: cfg, lines: newLines(cfg.Step.Payload, cfg.Variant, cfg.Answer), hist: newRecorder(), uncorr: newRecorder(), lag: NewHistogram()}
	if cfg.Step.Loop == lab.Closed {
		r.perConn = make([]int64, cfg.Step.Connections)
	}
	return r
}

// startAt starts the run's clock at start: its measured window, and the
// context that ends it after the window and a grace period.
func (r *run) startAt(start time.Time) {
	r.start = start
	r.measureFrom = r.start.Add(r.cfg.Warmup)
	r.end = r.measureFrom.Add(r.cfg.Duration)
	// Past the end, nothing waits longer than a grace period for an answer.
	r.ctx, r.cancel = context.WithDeadline(r.parent, r.end.Add(grace(r.cfg)))
	if b := r.cfg.Timeline; b > 0 || len(r.cfg.Actions) > 0 {
		if b <= 0 {
			b = 100 * time.Millisecond
		}
		r.tl = newTimeline(r.measureFrom, r.cfg.Duration, b)
	}
}

// Unvaried is a Variant that sends the step's payload as it is, every
// line: for a work line whose digest would cost the driver its rounds again
// for every variant.
func Unvaried(payload string, _ int) []byte { return []byte(payload) }

// newHog prepares the heavy connection of a step with a Hog (its one
// answer computed before the step's clock starts); nil without one.
func newHog(ctx context.Context, cfg Config) *run {
	h := cfg.Step.Hog
	if h == nil || h.Rounds <= 0 || cfg.Step.Loop != lab.Closed {
		return nil
	}
	return prepare(ctx, Config{
		Addr: cfg.Addr, Answer: cfg.Answer, Warmup: cfg.Warmup, Duration: cfg.Duration,
		Grace: cfg.Grace, DialTimeout: cfg.DialTimeout, Target: cfg.Target,
		Step: lab.Step{Name: cfg.Step.Name + "/hog", Loop: lab.Closed, Connections: 1, Depth: 1, Payload: strconv.Itoa(h.Rounds)},
		// One payload, so its digest is computed once: each digest costs
		// the driver the rounds the heavy line costs the server. With one
		// line in flight on one connection, an answer out of order cannot
		// happen, so no numbering is lost.
		Variant: Unvaried,
	})
}

// runHog runs the heavy connection over r's window and returns where its
// result will arrive; nil for none.
func (r *run) runHog(hr *run) chan *Result {
	if hr == nil {
		return nil
	}
	hr.startAt(r.start)
	out := make(chan *Result, 1)
	go func() {
		defer hr.cancel()
		hr.closed()
		out <- hr.result()
	}()
	return out
}

func grace(cfg Config) time.Duration {
	if cfg.Grace > 0 {
		return cfg.Grace
	}
	g := 5 * time.Second
	if cfg.Step.Loop == lab.Idle {
		g = 30 * time.Second // ramping up 10,000 connections takes a while
	}
	return g
}

// measuring reports whether t falls in the measured window; the CPU
// snapshot is taken by whoever first sees the window open or close.
func (r *run) measuring(t time.Time) bool { return !t.Before(r.measureFrom) && t.Before(r.end) }

func (r *run) fail(c Class, err error) {
	for i, k := range Classes {
		if k == c {
			r.errs[i].Add(1)
			if r.tl != nil {
				r.tl.fail(i, time.Now())
			}
		}
	}
	r.note(c, err)
}

// note keeps the first failure's words for the report, counting nothing.
func (r *run) note(c Class, err error) {
	if r.firstErr.Load() == nil {
		msg := string(c)
		if err != nil {
			msg += ": " + err.Error()
		}
		r.firstErr.CompareAndSwap(nil, &msg)
	}
}

// classify maps a connection error to its class.
func classify(err error) Class {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ErrReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ErrClosed
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	}
	return ErrReset
}

func (r *run) result() *Result {
	res := &Result{
		Lines: r.ok.Load(), Late: r.late.Load(), InFlight: r.inflightEnd.Load(), Errors: map[Class]int64{},
		Latency: r.hist.merged(), Connected: int(r.conns.Load()),
	}
	res.Elapsed = r.cfg.Duration
	res.From, res.To = r.measureFrom, r.measureFrom.Add(r.cfg.Duration)
	if r.cfg.Step.Loop == lab.Open {
		res.Uncorrected = r.uncorr.merged()
		res.Offered = float64(r.cfg.Step.Rate)
		res.SendLag = r.lag
	}
	for i, c := range Classes {
		if n := r.errs[i].Load(); n > 0 {
			res.Errors[c] = n
		}
	}
	if p := r.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	res.Reconnects = r.reconnects.Load()
	if r.cfg.Step.Loop == lab.Closed {
		res.PerConn = r.perConn
	}
	if r.tl != nil {
		res.Timeline = r.tl.result()
	}
	res.Hog = r.hogResult
	if r.cpu1 > r.cpu0 {
		res.DriverCPU = r.cpu1 - r.cpu0
	}
	return res
}

// window sleeps until the measured window opens, snapshots CPU time, sleeps
// until it closes, and snapshots again. Load goroutines run meanwhile.
func (r *run) window() {
	sleepUntil(r.ctx, r.measureFrom)
	r.cpu0 = r.edge(0)
	sleepUntil(r.ctx, r.end)
	r.cpu1 = r.edge(1)
}

// edge marks an edge of the measured window (0 when it opens, 1 when it
// closes): it returns the driver's CPU time and calls Config.Mark in the
// background, so a slow Mark never stalls the load.
func (r *run) edge(i int) time.Duration {
	if r.cfg.Mark != nil {
		r.marks.Add(1)
		go func() {
			defer r.marks.Done()
			r.cfg.Mark(i)
		}()
	}
	return processCPU()
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// processCPU is this process's user plus system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r *run) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: cmp.Or(r.cfg.DialTimeout, 5*time.Second)}
	addr := r.cfg.Addr
	if r.cfg.Target != nil {
		addr = r.cfg.Target()
	}
	c, err := d.DialContext(r.ctx, "tcp", addr)
	if err != nil {
		r.fail(ErrConnect, err)
		return nil, err
	}
	// Closing the connection is how a blocked read learns the run is over.
	stop := context.AfterFunc(r.ctx, func() { c.Close() })
	return &stoppable{Conn: c, stop: stop}, nil
}

type stoppable struct {
	net.Conn
	stop func() bool
}

func (s *stoppable) Close() error {
	s.stop()
	return s.Conn.Close()
}

// parallel runs f(i) for i < n on n goroutines and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
