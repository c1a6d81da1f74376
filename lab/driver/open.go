package driver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	goruntime "runtime"
	"syscall"
	"time"
	"unsafe"

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
// per line, or with a 100 µs tick, cost the driver 1.5× the closed loop's
// CPU per line at 40,000 lines/s; a 250 µs tick brought it to 1.22–1.26×
// (lab calibration, one run each).
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
	dialers := min(n, 64)
	parallel(dialers, func(w int) {
		for i := w; i < n; i += dialers {
			if fd, err := r.dialFD(); err == nil {
				o.conns[i] = &openConn{id: int32(i), fd: fd, rbuf: make([]byte, 0, 16<<10)}
			} else {
				o.conns[i] = &openConn{id: int32(i), fd: -1, dead: true, cause: ErrConnect}
			}
		}
	})
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
		// Send every line that has come due.
		for {
			due := time.Duration(k) * interval
			due -= due % tick // the line's burst
			if due > now || due >= o.end {
				break
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
	// What the grace period did not bring is unanswered: the backlog of a
	// server that fell behind, or of one that stopped answering.
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
				r.fail(ErrUnanswered, nil)
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

// harvest reads every connection that has something to read, without
// waiting.
func (o *openLoop) harvest(now time.Duration) {
	for {
		m, err := unix.EpollWait(o.ep, o.events, 0)
		if err != nil || m <= 0 {
			return
		}
		for _, ev := range o.events[:m] {
			c := o.conns[ev.Fd]
			if c.dead {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				unix.EpollCtl(o.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: ev.Fd})
				o.flush(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				o.read(c, now)
			}
		}
		if m < len(o.events) {
			return
		}
	}
}

// kill ends a connection: every line still in flight on it fails with its
// class if it was due in the window.
func (o *openLoop) kill(c *openConn, cls Class, err error) {
	if c.dead {
		return
	}
	c.dead, c.cause = true, cls
	for {
		p, ok := c.pop()
		if !ok {
			break
		}
		if o.inWindow(p.intended) {
			o.r.fail(cls, err)
		}
	}
	unix.EpollCtl(o.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
}

func (o *openLoop) flush(c *openConn) {
	for c.woff < len(c.wbuf) && !c.dead {
		m, err := unix.Write(c.fd, c.wbuf[c.woff:])
		if err == unix.EAGAIN {
			// The server does not read: keep the bytes and wait for room
			// (the lines' latency shows the stall).
			unix.EpollCtl(o.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: c.id})
			return
		}
		if err != nil {
			o.kill(c, classify(err), err)
			return
		}
		c.woff += m
	}
	c.wbuf, c.woff = c.wbuf[:0], 0 // the buffer is kept: no allocation per line
}

func (o *openLoop) allAnswered() bool {
	for _, c := range o.conns {
		if !c.dead && c.inflight() > 0 {
			return false
		}
	}
	return true
}

// read takes what c has and matches every complete answer with the oldest
// line in flight, timing it from the kernel's arrival stamp.
func (o *openLoop) read(c *openConn, now time.Duration) {
	r := o.r
	for {
		if len(c.rbuf) == cap(c.rbuf) {
			if cap(c.rbuf) >= maxAnswer {
				o.kill(c, ErrWrong, errors.New("an answer longer than 1 MiB"))
				return
			}
			c.rbuf = append(c.rbuf, make([]byte, cap(c.rbuf))...)[:len(c.rbuf)]
		}
		m, oobn, err := o.recvmsg(c.fd, c.rbuf[len(c.rbuf):cap(c.rbuf)])
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			o.kill(c, classify(err), err)
			return
		}
		if m == 0 {
			o.kill(c, ErrClosed, errors.New("the server closed the connection"))
			return
		}
		arrived := now
		if t, ok := stamp(o.oob[:oobn]); ok {
			arrived = min(t.Sub(o.wall), now)
		}
		c.rbuf = c.rbuf[:len(c.rbuf)+m]
		done := 0
		for {
			j := bytes.IndexByte(c.rbuf[done:], '\n')
			if j < 0 {
				break
			}
			line := c.rbuf[done : done+j]
			done += j + 1
			p, ok := c.pop()
			if !ok {
				// An answer nobody asked for: the server broke "one
				// request, one response". The connection is dropped.
				err := errors.New("an answer with no request in flight")
				if arrived >= o.from && arrived < o.end {
					r.fail(ErrExtra, err)
				}
				o.kill(c, ErrExtra, err)
				return
			}
			cls, good := r.lines.check(p.seq, line)
			if good && arrived >= o.from && arrived < o.end {
				r.ok.Add(1)
			}
			if !o.inWindow(p.intended) {
				continue
			}
			if !good {
				r.fail(cls, nil)
				continue
			}
			if arrived >= o.end {
				r.late.Add(1)
			}
			o.hist.add((arrived - p.intended).Microseconds())
			o.uncorr.add((arrived - p.sent).Microseconds())
		}
		rest := copy(c.rbuf, c.rbuf[done:])
		c.rbuf = c.rbuf[:rest]
		if m < cap(c.rbuf)-rest {
			return // drained: the next read would say EAGAIN
		}
	}
}

// recvmsg reads into p with the arrival stamp in o.oob. x/sys's Recvmsg
// allocates on every call (about two allocations a line), and the
// garbage collector it fed stalled the loop by milliseconds.
func (o *openLoop) recvmsg(fd int, p []byte) (n, oobn int, err error) {
	o.iov.Base = &p[0]
	o.iov.SetLen(len(p))
	o.msg = unix.Msghdr{Iov: &o.iov, Iovlen: 1, Control: &o.oob[0]}
	o.msg.SetControllen(len(o.oob))
	r, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&o.msg)), 0)
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r), int(o.msg.Controllen), nil
}

// stamp finds the SCM_TIMESTAMPNS control message of a read: the wall
// time the kernel received the data. The headers are read field by field
// rather than cast over the buffer, so any bytes at all give an answer or
// false, never a read out of bounds (FuzzStamp).
func stamp(oob []byte) (time.Time, bool) {
	const hdr = unix.SizeofCmsghdr // Len (uint64), Level and Type (int32)
	for len(oob) >= hdr {
		l := binary.NativeEndian.Uint64(oob)
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if l < hdr || l > uint64(len(oob)) {
			return time.Time{}, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8:]))
			return time.Unix(sec, nsec), true
		}
		next := (l + 7) &^ 7 // each message is padded to 8 bytes
		if next > uint64(len(oob)) {
			return time.Time{}, false
		}
		oob = oob[next:]
	}
	return time.Time{}, false
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
