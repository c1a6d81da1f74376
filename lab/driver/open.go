package driver

import (
	"context"
	"net"
	goruntime "runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The open loop runs on one event loop of its own, not on a goroutine per
// connection. On this kind of machine the kernel's TCP work is most of a
// line's cost on both sides, so the driver stays cheaper than the servers
// it measures only if it adds almost nothing to two system calls per line,
// and if it wakes up far less often than once per line. So one OS thread
// owns every connection of the step and wakes only on the ticks of a
// periodic timerfd(2). On each tick it collects every answer that has
// arrived (epoll(7) polled without waiting), then sends every line that has
// come due, one write per connection.
//
// Waking per tick instead of per answer must not blur latency: each read
// asks the kernel for the time the data arrived (SO_TIMESTAMPNS), so an
// answer is timed from its arrival, not from when the loop got to it.
// Answers that arrive within one tick and come back in one read share the
// first one's stamp, which under-states the later ones by less than a
// tick.
//
// No library fits: gnet's client and Go's netpoller hand each read to a
// goroutine and wake per answer, which is the per-line cost this loop
// exists to avoid.

// The pacing tick: the schedule is a burst of lines every tick, so that a
// tick carries about linesPerTick lines, within tickMin and tickMax (and
// never shorter than one line's interval). A line's intended time is its
// tick's, so the driver's batching is not charged to the server as
// latency, and the send lag measures only how late the loop woke. Waking
// per line, or with a tick much shorter than tickMax, costs the driver
// more CPU per line than a closed loop at the same rate (docs/FINDINGS.md).
const (
	linesPerTick = 10
	tickMin      = 100 * time.Microsecond
	tickMax      = 250 * time.Microsecond
)

// tickFor is the pacing tick of a rate's line interval.
func tickFor(interval time.Duration) time.Duration {
	return max(min(max(linesPerTick*interval, tickMin), tickMax), interval)
}

// openConn is one connection of the open loop.
type openConn struct {
	id    int32
	fd    int
	rbuf  []byte // received bytes not yet framed into answers
	wbuf  []byte // lines due; those from woff on not yet accepted by the kernel
	woff  int
	fifo  []pending // lines in flight, oldest first, from head
	head  int
	dead  bool
	cause Class // why it died
}

type pending struct {
	seq            int
	intended, sent time.Duration // since the run's start
}

func (c *openConn) inflight() int { return len(c.fifo) - c.head }

func (c *openConn) push(p pending) {
	if c.head > 0 && c.head == len(c.fifo) {
		c.fifo, c.head = c.fifo[:0], 0
	}
	c.fifo = append(c.fifo, p)
}

func (c *openConn) pop() (pending, bool) {
	if c.head == len(c.fifo) {
		return pending{}, false
	}
	p := c.fifo[c.head]
	c.head++
	return p, true
}

// openLoop is the state of one open-loop step.
type openLoop struct {
	r        *run
	conns    []*openConn
	ep, tfd  int
	from     time.Duration // the window, since r.start
	end      time.Duration
	wall     time.Time // r.start on the wall clock, for kernel timestamps
	events   []unix.EpollEvent
	oob      []byte
	msg      unix.Msghdr // reused by every read: recvmsg without allocations
	iov      unix.Iovec
	hist     *batch
	uncorr   *batch
	inWindow func(time.Duration) bool
}

// open sends at a constant rate whatever the answers do. Line k is due in
// the tick that holds start + k/Rate, on connection k mod Connections.
// Every line the schedule puts in the measured window ends in exactly one
// place: a correct answer
// (latency from its intended time), a failure of its class (including
// lines for a connection that is gone), or unanswered when the grace
// period after the window runs out. Throughput counts correct answers that
// arrived inside the window, whenever their line was due, so a server that
// falls behind shows it.
func (r *run) open() {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	// The timer wakes this thread within microseconds only with the
	// default 50 µs timer slack lowered.
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)

	n := r.cfg.Step.Connections
	o := &openLoop{r: r, conns: make([]*openConn, n), ep: -1, tfd: -1,
		events: make([]unix.EpollEvent, 256), oob: make([]byte, 64),
		hist: r.hist.batch(0), uncorr: r.uncorr.batch(0)}
	defer o.close()
	defer o.hist.flush()
	defer o.uncorr.flush()
	o.dial()
	if err := o.setup(); err != nil {
		r.fail(ErrConnect, err)
		return
	}

	// The schedule starts once every connection is up; the run's context
	// is renewed to match, so the grace period is whole.
	r.start = time.Now()
	o.wall = r.start.Round(0)
	r.measureFrom = r.start.Add(r.cfg.Warmup)
	r.end = r.measureFrom.Add(r.cfg.Duration)
	r.cancel()
	r.ctx, r.cancel = context.WithDeadline(r.parent, r.end.Add(grace(r.cfg)))
	o.from, o.end = r.cfg.Warmup, r.cfg.Warmup+r.cfg.Duration
	o.inWindow = func(t time.Duration) bool { return t >= o.from && t < o.end }
	deadline := o.end + grace(r.cfg)

	interval := time.Duration(float64(time.Second) / float64(r.cfg.Step.Rate))
	tick := tickFor(interval)
	o.arm(tick)
	var (
		dirty   []int
		k       int
		cpuOpen bool
	)
	for {
		now := time.Since(r.start)
		if !cpuOpen && now >= o.from {
			r.cpu0, cpuOpen = r.edge(0), true
		}
		o.harvest(now)
		if r.cpu1 == 0 && now >= o.end {
			o.closeWindow()
		}
		k, dirty = o.sendDue(now, k, interval, tick, dirty)
		for _, i := range dirty {
			o.flush(o.conns[i])
		}
		dirty = dirty[:0]

		if now >= o.end && (now >= deadline || o.allAnswered()) || r.ctx.Err() != nil {
			break
		}
		o.wait()
	}
	if r.cpu1 == 0 {
		r.cpu1 = r.edge(1)
	}
	o.unanswered()
}

// dial opens the loop's connections, 64 at a time; one that fails is
// dead from the start, and its lines fail as connects.
func (o *openLoop) dial() {
	n := len(o.conns)
	dialers := min(n, 64)
	parallel(dialers, func(w int) {
		for i := w; i < n; i += dialers {
			if fd, err := o.r.dialFD(); err == nil {
				o.conns[i] = &openConn{id: int32(i), fd: fd, rbuf: make([]byte, 0, 16<<10)}
			} else {
				o.conns[i] = &openConn{id: int32(i), fd: -1, dead: true, cause: ErrConnect}
			}
		}
	})
}

// closeWindow marks the window's end: the CPU snapshot, the lines still
// in flight, and a slower tick, since nothing more is sent.
func (o *openLoop) closeWindow() {
	r := o.r
	r.cpu1 = r.edge(1)
	var inflight int64
	for _, c := range o.conns {
		if !c.dead {
			inflight += int64(c.inflight())
		}
	}
	r.inflightEnd.Store(inflight)
	o.arm(10 * time.Millisecond) // nothing more to send: tick only to collect answers
}

// sendDue queues every line that has come due by now, from line k, and
// returns the next line's number and the connections with bytes to write.
func (o *openLoop) sendDue(now time.Duration, k int, interval, tick time.Duration, dirty []int) (int, []int) {
	r, n := o.r, len(o.conns)
	for {
		due := time.Duration(k) * interval
		due -= due % tick // the line's burst
		if due > now || due >= o.end {
			return k, dirty
		}
		c := o.conns[k%n]
		switch {
		case c.dead:
			if o.inWindow(due) {
				r.fail(c.cause, nil)
			}
		default:
			if len(c.wbuf) == 0 {
				dirty = append(dirty, int(c.id))
			}
			c.wbuf = append(c.wbuf, r.lines.req[k%variants]...)
			c.push(pending{seq: k, intended: due, sent: now})
			if o.inWindow(due) {
				r.lag.RecordValue(max((now - due).Microseconds(), histMin))
			}
		}
		k++
	}
}

// unanswered fails what the grace period did not bring: the backlog of a
// server that fell behind, or of one that stopped answering.
func (o *openLoop) unanswered() {
	for _, c := range o.conns {
		if c.dead {
			continue
		}
		for {
			p, ok := c.pop()
			if !ok {
				break
			}
			if o.inWindow(p.intended) {
				o.r.fail(ErrUnanswered, nil)
			}
		}
	}
}

func (o *openLoop) setup() error {
	var err error
	if o.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	// A blocking timerfd: reading it is how the loop sleeps to the tick.
	if o.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC); err != nil {
		return err
	}
	for _, c := range o.conns {
		if c.dead {
			continue
		}
		unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		if err := unix.EpollCtl(o.ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: c.id}); err != nil {
			return err
		}
	}
	return nil
}

func (o *openLoop) close() {
	for _, c := range o.conns {
		if c != nil && c.fd >= 0 {
			unix.Close(c.fd)
		}
	}
	for _, fd := range []int{o.ep, o.tfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// arm makes the timer tick every d from now on.
func (o *openLoop) arm(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.TimerfdSettime(o.tfd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil)
}

// wait sleeps until the next tick, in a blocking read of the timer. (A
// raw system call that keeps the thread's P while it sleeps measured no
// cheaper with the lab's two Ps, so the loop stays a good citizen of the
// scheduler.)
func (o *openLoop) wait() {
	var buf [8]byte
	unix.Read(o.tfd, buf[:])
}

// dialFD connects with Go's dialer (timeouts, any address family) and
// keeps a duplicate of the socket for the event loop; the net.Conn itself
// is closed, which takes it out of Go's poller. The duplicate shares the
// socket's non-blocking mode and TCP_NODELAY.
func (r *run) dialFD() (int, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(r.ctx, "tcp", r.cfg.Addr)
	// A connection that fails is not counted here: every line the
	// schedule gives it is, as a connect failure.
	if err != nil {
		r.note(ErrConnect, err)
		return -1, err
	}
	defer c.Close()
	sc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		r.note(ErrConnect, err)
		return -1, err
	}
	fd := -1
	var derr error
	sc.Control(func(s uintptr) { fd, derr = unix.Dup(int(s)) })
	if derr != nil {
		r.note(ErrConnect, derr)
		return -1, derr
	}
	unix.CloseOnExec(fd)
	return fd, nil
}
