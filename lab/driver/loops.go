package driver

import (
	"bufio"
	"errors"
	"net"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
)

// maxAnswer bounds one answer line the driver reads; answers are not
// limited by the protocol, but ours are echoes of short payloads.
const maxAnswer = 1 << 20

// readDeadline is when a read gives up: just before the run's context
// ends, so a blocked read fails as a timeout rather than a closed socket.
func (r *run) readDeadline() time.Time { return r.end.Add(grace(r.cfg) * 9 / 10) }

// closed keeps Depth lines in flight on every connection until the end.
func (r *run) closed() {
	done := make(chan struct{})
	go func() { r.window(); close(done) }()
	parallel(r.cfg.Step.Connections, func(id int) {
		b := r.hist.batch(id)
		defer b.flush()
		for again := false; time.Now().Before(r.end) && r.ctx.Err() == nil; {
			c, err := r.dial()
			if err != nil {
				sleepUntil(r.ctx, time.Now().Add(10*time.Millisecond))
				continue
			}
			if again && r.measuring(time.Now()) {
				r.reconnects.Add(1)
			}
			again = true
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

// closedOn keeps the depth filled on one connection until the window
// closes, then stops sending and waits, at most until the grace period
// ends, for the answers still owed: a line sent in the window is timed
// until its answer comes, and one that never comes is unanswered.
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
	// owed ends the connection: the lines of the window still in flight
	// fail with cls (unanswered once the window is over).
	owed := func(cls Class, err error) {
		if !time.Now().Before(r.end) || r.ctx.Err() != nil {
			cls = ErrUnanswered
		}
		for ; n > 0; n-- {
			if r.measuring(ring[head].sent) {
				r.fail(cls, err)
			}
			head = (head + 1) % depth
		}
	}
	pace, next := r.paced(id)
	if err := send(depth, time.Now()); err != nil {
		r.fail(classify(err), err)
		return
	}
	due, over := 0, false
	for {
		p, err := rd.ReadLine()
		if err != nil {
			owed(classify(err), err)
			return
		}
		now := time.Now()
		if n == 0 {
			// An answer nobody asked for: the server broke "one request,
			// one response"; the connection is dropped.
			if r.measuring(now) {
				r.fail(ErrExtra, errors.New("an answer with no request in flight"))
			}
			return
		}
		if !over && !now.Before(r.end) {
			over = true
			r.inflightEnd.Add(int64(n))
		}
		f := ring[head]
		head, n = (head+1)%depth, n-1
		r.answered(id, f, p, now, over, b)
		if over {
			if n == 0 {
				return
			}
			continue
		}
		due++
		// Refill once per batch of answers already read.
		if rd.Buffered() == 0 {
			if pace > 0 {
				// Paced: the next line waits for its turn, and is timed
				// from when it is sent.
				next = next.Add(time.Duration(due) * pace)
				sleepUntil(r.ctx, next)
				now = time.Now()
			}
			if err := send(due, now); err != nil {
				owed(classify(err), err)
				return
			}
			due = 0
		}
	}
}

// paced is a paced closed loop's interval between one connection's
// lines, and when connection id sends its first (after waiting for it):
// each connection sends at most Rate/Connections lines a second, the
// connections staggered over the interval. Only the calibration asks for
// one, to set the closed loop beside the open loop at the open loop's
// rate; a scenario file cannot (the loader allows a rate on open loops
// only). Without a rate: no pace, and now.
func (r *run) paced(id int) (time.Duration, time.Time) {
	next := time.Now()
	rate := r.cfg.Step.Rate
	if rate <= 0 {
		return 0, next
	}
	pace := time.Duration(float64(time.Second) * float64(r.cfg.Step.Connections) / float64(rate))
	next = next.Add(pace * time.Duration(id) / time.Duration(r.cfg.Step.Connections))
	sleepUntil(r.ctx, next)
	return pace, next
}

// answered counts one answer p, read at now, to line f of connection id.
// An answer counts in the throughput when it arrives in the window,
// whenever its line was sent; a line sent in the window is timed (or
// fails) whenever its answer comes, late when the window had closed.
func (r *run) answered(id int, f inflight, p []byte, now time.Time, over bool, b *batch) {
	cls, ok := r.lines.check(f.seq, p)
	if ok && r.measuring(now) {
		r.ok.Add(1)
		r.perConn[id]++
	}
	if ok && r.tl != nil {
		r.tl.answer(f.sent, now)
	}
	if !r.measuring(f.sent) {
		return
	}
	if !ok {
		r.fail(cls, nil)
		return
	}
	b.add(now.Sub(f.sent).Microseconds())
	if over {
		r.late.Add(1)
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
			resetOnClose(c)
			c.Close()
			now := time.Now()
			// A connection started in the window is timed to its end, even
			// past the window; it counts in the throughput if it ended in it.
			if !r.measuring(t0) {
				continue
			}
			if !now.Before(r.end) {
				r.inflightEnd.Add(1)
			}
			if !ok {
				r.fail(cls, err)
				continue
			}
			b.add(now.Sub(t0).Microseconds())
			if now.Before(r.end) {
				r.ok.Add(1)
			} else {
				r.late.Add(1)
			}
		}
	})
	<-done
}

// resetOnClose makes the coming Close send a reset instead of a FIN. The
// client closes first, so a FIN would leave the socket in TIME_WAIT for a
// minute; churn and c10k leave tens of thousands, and a next trial against
// the same address (a fresh container gets the same IP back) would find no
// local port left ("cannot assign requested address").
func resetOnClose(c net.Conn) {
	if s, ok := c.(*stoppable); ok {
		c = s.Conn
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
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
				resetOnClose(c)
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
	r.cpu0 = r.edge(0)
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
	r.cpu1 = r.edge(1)
	// Count the whole trickle, however long it took.
	r.cfg.Duration = max(time.Since(r.measureFrom), r.cfg.Duration)
}
