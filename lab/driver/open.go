package driver

import (
	"bytes"
	"context"
	"errors"
	"net"
	goruntime "runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The open loop runs on one event loop of its own, not on a goroutine per
// connection: on this kind of machine the kernel's TCP work is most of a
// line's cost on both sides, so the driver can only stay cheaper than the
// servers it measures if it adds almost nothing to two system calls per
// line. One OS thread owns every connection of the step through epoll(7);
// a periodic timerfd(2) paces it (epoll_wait's own timeout is in whole
// milliseconds); each wake-up sends every line that has come due, one
// write per connection, and reads every answer that has arrived. No
// library fits: gnet's client and Go's netpoller both hand each read to a
// goroutine, which is the per-line hand-off this loop exists to avoid.

// minTick bounds how often the pacer wakes: lines due within one tick of
// each other leave in one write. Their latency still counts from each
// line's own intended time.
const minTick = 100 * time.Microsecond

// openConn is one connection of the open loop.
type openConn struct {
	id    int32
	fd    int
	rbuf  []byte    // received bytes not yet framed into answers
	wbuf  []byte    // lines due but not yet accepted by the kernel
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

// open sends at a constant rate whatever the answers do. Line k is due at
// start + k/Rate on connection k mod Connections. Every line the schedule
// puts in the measured window ends in exactly one place: a correct answer
// (latency from its intended time), a failure of its class (including
// lines for a connection that is gone), or unanswered when the grace
// period after the window runs out. Throughput counts correct answers that
// arrived inside the window, whenever their line was due, so a server that
// falls behind shows it.
func (r *run) open() {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	// epoll_wait and the timer wake this thread within microseconds only
	// with the default 50 µs timer slack lowered.
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)

	n := r.cfg.Step.Connections
	conns := make([]*openConn, n)
	parallel(min(n, 64), func(w int) {
		for i := w; i < n; i += min(n, 64) {
			if fd, err := r.dialFD(); err == nil {
				conns[i] = &openConn{id: int32(i), fd: fd, rbuf: make([]byte, 0, 16<<10)}
			} else {
				conns[i] = &openConn{id: int32(i), fd: -1, dead: true, cause: ErrConnect}
			}
		}
	})
	defer func() {
		for _, c := range conns {
			if c.fd >= 0 {
				unix.Close(c.fd)
			}
		}
	}()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		r.fail(ErrConnect, err)
		return
	}
	defer unix.Close(ep)
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		r.fail(ErrConnect, err)
		return
	}
	defer unix.Close(tfd)
	unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1})
	for i, c := range conns {
		if !c.dead {
			unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)})
		}
	}

	interval := time.Duration(float64(time.Second) / float64(r.cfg.Step.Rate))
	tick := max(interval, minTick)
	ts := unix.NsecToTimespec(int64(tick))
	unix.TimerfdSettime(tfd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil)

	// The schedule starts once every connection is up; the run's context
	// is renewed to match, so the grace period is whole.
	r.start = time.Now()
	r.measureFrom = r.start.Add(r.cfg.Warmup)
	r.end = r.measureFrom.Add(r.cfg.Duration)
	r.cancel()
	r.ctx, r.cancel = context.WithDeadline(r.parent, r.end.Add(grace(r.cfg)))
	from, end := r.cfg.Warmup, r.cfg.Warmup+r.cfg.Duration
	deadline := end + grace(r.cfg)
	inWindow := func(t time.Duration) bool { return t >= from && t < end }

	var (
		events  = make([]unix.EpollEvent, 256)
		dirty   []int
		k       int
		cpuOpen bool
		b       = r.hist.batch(0)
		u       = r.uncorr.batch(0)
		tbuf    [8]byte
	)
	defer b.flush()
	defer u.flush()

	// kill ends a connection: every line still in flight on it fails
	// with its class if it was due in the window.
	kill := func(c *openConn, cls Class, err error) {
		if c.dead {
			return
		}
		c.dead, c.cause = true, cls
		for {
			p, ok := c.pop()
			if !ok {
				break
			}
			if inWindow(p.intended) {
				r.fail(cls, err)
			}
		}
		unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, c.fd, nil)
	}
	flush := func(c *openConn) {
		for len(c.wbuf) > 0 && !c.dead {
			m, err := unix.Write(c.fd, c.wbuf)
			if err == unix.EAGAIN {
				// The server does not read: keep the bytes and wait for
				// room (the lines' lag and latency show the stall).
				unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: c.id})
				return
			}
			if err != nil {
				kill(c, classify(err), err)
				return
			}
			c.wbuf = c.wbuf[m:]
		}
		if cap(c.wbuf) > 0 && len(c.wbuf) == 0 {
			c.wbuf = c.wbuf[:0:cap(c.wbuf)]
		}
	}

	for {
		now := time.Since(r.start)
		if !cpuOpen && now >= from {
			r.cpu0, cpuOpen = processCPU(), true
		}
		if r.cpu1 == 0 && now >= end {
			r.cpu1 = processCPU()
			var inflight int64
			for _, c := range conns {
				if !c.dead {
					inflight += int64(c.inflight())
				}
			}
			r.inflightEnd.Store(inflight)
			// Nothing more is sent: wake only to notice the grace run out.
			slow := unix.NsecToTimespec(int64(10 * time.Millisecond))
			unix.TimerfdSettime(tfd, 0, &unix.ItimerSpec{Interval: slow, Value: slow}, nil)
		}
		// Send every line that has come due.
		for {
			due := time.Duration(k) * interval
			if due > now || due >= end {
				break
			}
			i := k % n
			c := conns[i]
			if c.dead {
				if inWindow(due) {
					r.fail(c.cause, nil)
				}
			} else {
				if len(c.wbuf) == 0 {
					dirty = append(dirty, i)
				}
				c.wbuf = append(c.wbuf, r.lines.req[k%variants]...)
				c.push(pending{seq: k, intended: due, sent: now})
				if inWindow(due) {
					r.lag.RecordValue(max((now - due).Microseconds(), histMin))
				}
			}
			k++
		}
		for _, i := range dirty {
			flush(conns[i])
		}
		dirty = dirty[:0]

		if now >= end {
			if now >= deadline || r.ctx.Err() != nil || allAnswered(conns) {
				break
			}
		} else if r.ctx.Err() != nil {
			break
		}

		m, err := unix.EpollWait(ep, events, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			r.fail(ErrReset, err)
			break
		}
		var arrived time.Duration
		for _, ev := range events[:max(m, 0)] {
			if ev.Fd < 0 {
				unix.Read(tfd, tbuf[:])
				continue
			}
			c := conns[ev.Fd]
			if c.dead {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: ev.Fd})
				flush(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
				continue
			}
			if arrived == 0 {
				arrived = time.Since(r.start)
			}
			r.readAnswers(c, arrived, inWindow, b, u, kill)
		}
	}
	if r.cpu1 == 0 {
		r.cpu1 = processCPU()
	}
	// What the grace period did not bring is unanswered: the backlog of a
	// server that fell behind, or of one that stopped answering.
	for _, c := range conns {
		if c.dead {
			continue
		}
		for {
			p, ok := c.pop()
			if !ok {
				break
			}
			if inWindow(p.intended) {
				r.fail(ErrUnanswered, nil)
			}
		}
	}
}

// readAnswers reads what c has and matches every complete answer with the
// oldest line in flight.
func (r *run) readAnswers(c *openConn, now time.Duration, inWindow func(time.Duration) bool, b, u *batch, kill func(*openConn, Class, error)) {
	for {
		if len(c.rbuf) == cap(c.rbuf) {
			if cap(c.rbuf) >= maxAnswer {
				kill(c, ErrWrong, errors.New("an answer longer than 1 MiB"))
				return
			}
			c.rbuf = append(c.rbuf, make([]byte, cap(c.rbuf))...)[:len(c.rbuf)]
		}
		m, err := unix.Read(c.fd, c.rbuf[len(c.rbuf):cap(c.rbuf)])
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			kill(c, classify(err), err)
			return
		}
		if m == 0 {
			kill(c, ErrClosed, errors.New("the server closed the connection"))
			return
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
				if now >= r.cfg.Warmup && now < r.cfg.Warmup+r.cfg.Duration {
					r.fail(ErrExtra, err)
				}
				kill(c, ErrExtra, err)
				return
			}
			cls, good := r.lines.check(p.seq, line)
			if good && now >= r.cfg.Warmup && now < r.cfg.Warmup+r.cfg.Duration {
				r.ok.Add(1)
			}
			if !inWindow(p.intended) {
				continue
			}
			if !good {
				r.fail(cls, nil)
				continue
			}
			if now >= r.cfg.Warmup+r.cfg.Duration {
				r.late.Add(1)
			}
			b.add((now - p.intended).Microseconds())
			u.add((now - p.sent).Microseconds())
		}
		n := copy(c.rbuf, c.rbuf[done:])
		c.rbuf = c.rbuf[:n]
		if m < cap(c.rbuf)-n {
			return // drained: the next read would say EAGAIN
		}
	}
}

func allAnswered(conns []*openConn) bool {
	for _, c := range conns {
		if !c.dead && c.inflight() > 0 {
			return false
		}
	}
	return true
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
