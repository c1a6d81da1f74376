package driver

import (
	"bufio"
	"net"
	goruntime "runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linelab/linelab/internal/lineproto"
)

// maxAnswer bounds one answer line the driver reads; answers are not
// limited by the protocol, but ours are echoes of short payloads.
const maxAnswer = 1 << 20

func (r *run) readDeadline() time.Time { return r.end.Add(grace(r.cfg) - time.Second) }

// closed keeps Depth lines in flight on every connection until the end.
func (r *run) closed() {
	done := make(chan struct{})
	go func() { r.window(); close(done) }()
	parallel(r.cfg.Step.Connections, func(id int) {
		b := r.hist.batch(id)
		defer b.flush()
		for time.Now().Before(r.end) && r.ctx.Err() == nil {
			c, err := r.dial()
			if err != nil {
				sleepUntil(r.ctx, time.Now().Add(10*time.Millisecond))
				continue
			}
			r.closedOn(c, id, b)
			c.Close()
		}
	})
	<-done
}

type inflight struct {
	seq  int
	sent time.Time
}

func (r *run) closedOn(c net.Conn, id int, b *batch) {
	c.SetReadDeadline(r.readDeadline())
	rd := lineproto.NewReader(c, maxAnswer)
	w := bufio.NewWriter(c)
	depth := max(r.cfg.Step.Depth, 1)
	ring := make([]inflight, depth) // FIFO of lines in flight
	head, n := 0, 0
	seq := id
	send := func(k int, now time.Time) error {
		for range k {
			w.Write(r.lines.req[seq%variants])
			ring[(head+n)%depth] = inflight{seq, now}
			n++
			seq++
		}
		return w.Flush()
	}
	if err := send(depth, time.Now()); err != nil {
		r.fail(classify(err), err)
		return
	}
	due := 0
	for {
		p, err := rd.ReadLine()
		if err != nil {
			if r.ctx.Err() == nil {
				r.fail(classify(err), err)
			}
			return
		}
		now := time.Now()
		f := ring[head]
		head, n = (head+1)%depth, n-1
		cls, ok := r.lines.check(f.seq, p)
		// An answer counts when it arrives in the window, whenever its line
		// was sent: counting by send time would drop a slow server's
		// answers to lines sent in the warm-up.
		if r.measuring(now) {
			if ok {
				r.ok.Add(1)
				b.add(now.Sub(f.sent).Microseconds())
			} else {
				r.fail(cls, nil)
			}
		}
		if !now.Before(r.end) {
			return
		}
		due++
		// Refill once per batch of answers already read.
		if rd.Buffered() == 0 {
			if err := send(due, now); err != nil {
				r.fail(classify(err), err)
				return
			}
			due = 0
		}
	}
}

type scheduled struct {
	seq            int
	intended, sent time.Time
}

// open sends at a constant rate whatever the answers do. One pacer keeps
// the schedule for every connection: line k is due at start + k/Rate on
// connection k mod Connections. Go's timers wake up to a millisecond late
// when the process is idle (the network poller waits in whole
// milliseconds), which would be charged to the server as latency; so the
// pacer sleeps in nanosleep(2), which wakes within microseconds. How late
// each line still left is recorded as the send lag, which tells whether the
// driver kept its schedule.
func (r *run) open() {
	done := make(chan struct{})
	go func() { r.window(); close(done) }()
	n := r.cfg.Step.Connections
	conns := make([]net.Conn, n)
	parallel(n, func(i int) {
		if c, err := r.dial(); err == nil {
			c.SetReadDeadline(r.readDeadline())
			c.SetWriteDeadline(r.readDeadline())
			conns[i] = c
		}
	})
	fifos := make([]chan scheduled, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		// Lines in flight, oldest first; bounded, so a server that stops
		// answering stalls the pacer (and shows as lag) instead of growing
		// memory without end.
		fifos[i] = make(chan scheduled, 1<<14)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			r.openReader(c, i, fifos[i])
		}()
	}
	r.pace(conns, fifos)
	for _, f := range fifos {
		if f != nil {
			close(f)
		}
	}
	wg.Wait()
	<-done
}

func (r *run) pace(conns []net.Conn, fifos []chan scheduled) {
	// The pacer keeps one thread, whose timer slack (50 µs by default) it
	// lowers to 1 ns, so nanosleep wakes it on time.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	interval := time.Duration(float64(time.Second) / float64(r.cfg.Step.Rate))
	bufs := make([][]byte, len(conns))
	var dirty []int
	next, k := r.start, 0
	for next.Before(r.end) && r.ctx.Err() == nil {
		if d := time.Until(next); d > 0 {
			// A blocking nanosleep holds this thread, not the scheduler:
			// readers go on running on the other P meanwhile.
			ts := unix.NsecToTimespec(int64(min(d, 50*time.Millisecond)))
			unix.Nanosleep(&ts, nil)
			if time.Now().Before(next) {
				continue // woken early (or the wait was capped): check the context, sleep again
			}
		}
		now := time.Now()
		for !next.After(now) && next.Before(r.end) {
			i := k % len(conns)
			if conns[i] != nil {
				if len(bufs[i]) == 0 {
					dirty = append(dirty, i)
				}
				bufs[i] = append(bufs[i], r.lines.req[k%variants]...)
				fifos[i] <- scheduled{k, next, now}
				if r.measuring(next) {
					r.lag.RecordValue(max(now.Sub(next).Microseconds(), histMin))
				}
			}
			k++
			next = r.start.Add(time.Duration(k) * interval)
		}
		for _, i := range dirty {
			if _, err := conns[i].Write(bufs[i]); err != nil && r.ctx.Err() == nil {
				r.fail(classify(err), err)
				conns[i].Close()
				conns[i] = nil
			}
			bufs[i] = bufs[i][:0]
		}
		dirty = dirty[:0]
	}
}

func (r *run) openReader(c net.Conn, id int, fifo <-chan scheduled) {
	b, u := r.hist.batch(id), r.uncorr.batch(id)
	defer b.flush()
	defer u.flush()
	rd := lineproto.NewReader(c, maxAnswer)
	for s := range fifo {
		p, err := rd.ReadLine()
		if err != nil {
			// This line and every one still queued go unanswered.
			n := 1 + len(fifo)
			if r.measuring(s.intended) {
				cls := classify(err)
				for range n {
					r.fail(cls, err)
				}
			}
			for range fifo {
			}
			return
		}
		now := time.Now()
		cls, ok := r.lines.check(s.seq, p)
		if !r.measuring(s.intended) {
			continue
		}
		if !ok {
			r.fail(cls, nil)
			continue
		}
		r.ok.Add(1)
		b.add(now.Sub(s.intended).Microseconds())
		u.add(now.Sub(s.sent).Microseconds())
	}
}

// churn connects, sends one line, reads its answer and closes, on every
// worker, until the end.
func (r *run) churn() {
	done := make(chan struct{})
	go func() { r.window(); close(done) }()
	parallel(r.cfg.Step.Connections, func(id int) {
		b := r.hist.batch(id)
		defer b.flush()
		for seq := id; time.Now().Before(r.end) && r.ctx.Err() == nil; seq++ {
			t0 := time.Now()
			c, err := r.dial()
			if err != nil {
				sleepUntil(r.ctx, time.Now().Add(10*time.Millisecond))
				continue
			}
			cls, ok, err := r.oneLine(c, seq)
			// The client closes first; a reset instead of FIN keeps tens of
			// thousands of TIME_WAIT sockets from using up local ports.
			if tc, isTCP := c.(*stoppable).Conn.(*net.TCPConn); isTCP {
				tc.SetLinger(0)
			}
			c.Close()
			now := time.Now()
			if !r.measuring(t0) || !now.Before(r.end) {
				continue
			}
			if !ok {
				r.fail(cls, err)
				continue
			}
			r.ok.Add(1)
			b.add(now.Sub(t0).Microseconds())
		}
	})
	<-done
}

// oneLine sends line seq on c and checks its answer.
func (r *run) oneLine(c net.Conn, seq int) (Class, bool, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(r.lines.req[seq%variants]); err != nil {
		return classify(err), false, err
	}
	p, err := lineproto.NewReader(c, maxAnswer).ReadLine()
	if err != nil {
		return classify(err), false, err
	}
	cls, ok := r.lines.check(seq, p)
	return cls, ok, nil
}

// idle opens every connection (each proves itself with one line), holds
// them while the caller samples, then sends one more line on each, spread
// over the step's duration; that trickle is the measured window.
func (r *run) idle() {
	n := r.cfg.Step.Connections
	conns := make([]net.Conn, n)
	const dialers = 64
	parallel(dialers, func(w int) {
		for i := w; i < n && r.ctx.Err() == nil; i += dialers {
			c, err := r.dial()
			if err != nil {
				continue
			}
			cls, ok, err := r.oneLine(c, i)
			if !ok {
				r.fail(cls, err)
				c.Close()
				continue
			}
			conns[i] = c
			r.conns.Add(1)
		}
	})
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if r.cfg.Hold != nil {
		r.cfg.Hold()
	}
	// The trickle: measured from now, for the step's duration.
	r.measureFrom = time.Now()
	r.end = r.measureFrom.Add(r.cfg.Duration)
	r.cpu0 = processCPU()
	gap := r.cfg.Duration * dialers / time.Duration(n)
	parallel(dialers, func(w int) {
		b := r.hist.batch(w)
		defer b.flush()
		next := r.measureFrom.Add(gap * time.Duration(w) / dialers)
		for i := w; i < n && r.ctx.Err() == nil; i += dialers {
			sleepUntil(r.ctx, next)
			next = next.Add(gap)
			if conns[i] == nil {
				continue
			}
			t0 := time.Now()
			cls, ok, err := r.oneLine(conns[i], i+n)
			if !ok {
				r.fail(cls, err)
				continue
			}
			r.ok.Add(1)
			b.add(time.Since(t0).Microseconds())
		}
	})
	r.cpu1 = processCPU()
	// Count the whole trickle, however long it took.
	r.cfg.Duration = max(time.Since(r.measureFrom), r.cfg.Duration)
}
