package eventloop

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/panjf2000/gnet/v2"

	"github.com/linelab/linelab/internal/lineproto"
)

// session is a fetch-mode connection's queue of answers. The loop appends
// slots and writes finished ones; fetch goroutines finish them. mu guards it
// all, since both sides touch it.
type session struct {
	mu      sync.Mutex
	conn    gnet.Conn // the connection while it is in its loop
	queue   []*slot
	closing bool // "line too long" queued: no further requests, close after it

	gone bool // not in its loop: gnet has closed it, or it is parked
	// parked: it left its loop over a bound (64 requests in progress or a
	// backlog over 1 MiB); resume enrolls it again once every answer due
	// is written.
	parked bool
	resume func(net.Conn)
	// carry is input read but not yet served when it was parked: whole
	// requests past the 64th, and a partial line.
	carry []byte
	// out, once the kernel pushed back or gnet closed with answers still
	// due, writes the connection's answers from a goroutine to a
	// duplicate of its descriptor (see backlog); nil until then.
	out *backlog
}

type slot struct {
	done bool
	line []byte
}

func (h *handler) fetchTraffic(c gnet.Conn, s *session) gnet.Action {
	buf, carried := withCarry(c, s.carry)
	used := 0
	for {
		s.mu.Lock()
		full := len(s.queue) >= lineproto.MaxInProgress
		s.mu.Unlock()
		if full {
			break
		}
		p, n, err := lineproto.Next(buf[used:], lineproto.MaxLine)
		if err != nil {
			c.Discard(-1)
			s.carry = nil
			s.mu.Lock()
			s.queue = append(s.queue, &slot{done: true, line: []byte(lineproto.TooLongLine)})
			s.closing = true
			s.mu.Unlock()
			return h.flush(c, s)
		}
		if n == 0 {
			break
		}
		used += n
		sl := &slot{}
		s.mu.Lock()
		s.queue = append(s.queue, sl)
		s.mu.Unlock()
		go h.fetch(s, sl, append([]byte(nil), p...))
	}
	consume(c, &s.carry, carried, used)
	return h.parkIfOver(c, s)
}

// parkIfOver takes the connection out of its loop while it holds 64
// requests in progress or a backlog over 1 MiB (see leave); the backlog
// then writes every answer, and once none is due the connection joins its
// loop again with the requests it had read but not started.
func (h *handler) parkIfOver(c gnet.Conn, s *session) gnet.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) < lineproto.MaxInProgress && (s.out == nil || !s.out.over()) {
		return gnet.None
	}
	if s.out == nil {
		b, err := startBacklog(c, nil)
		if err != nil {
			return gnet.Close
		}
		s.out = b
	}
	s.gone, s.parked = true, true
	s.resume = h.leave(c, s.carry, func(carry []byte) any {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.carry, s.gone, s.parked, s.out, s.resume = carry, false, false, nil, nil
		return s
	})
	s.carry = nil
	s.afterCloseLocked()
	return gnet.Close
}

// fetch runs off the loop: it asks the upstream, fills the slot, and has the
// loop (or, once the connection left it, the backlog) write what is ready.
func (h *handler) fetch(s *session, sl *slot, p []byte) {
	line := h.fetcher.AppendAnswer(h.ctx, nil, p)
	s.mu.Lock()
	sl.line, sl.done = line, true
	if s.gone {
		s.afterCloseLocked()
		s.mu.Unlock()
		return
	}
	c := s.conn
	s.mu.Unlock()
	c.EventLoop().Execute(h.ctx, gnet.RunnableFunc(func(context.Context) error {
		if h.flush(c, s) == gnet.Close {
			return c.Close()
		}
		return nil
	}))
}

// flush writes the finished head of the queue; it runs on the loop. A
// flush meant for the connection before it was parked does nothing: the
// backlog took its answers.
func (h *handler) flush(c gnet.Conn, s *session) gnet.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone || s.conn != c {
		return gnet.None
	}
	if out := s.popReadyLocked(); len(out) > 0 {
		b, err := send(c, s.out, out)
		if err != nil {
			return gnet.Close
		}
		s.out = b
	}
	if s.closing && len(s.queue) == 0 {
		if s.out == nil {
			return linger(c)
		}
		// The backlog's writer half-closes after the error line and
		// lingers on the duplicate; gnet's close does not end the
		// connection while that is open.
		s.out.end()
		return gnet.Close
	}
	return gnet.None
}

func (s *session) popReadyLocked() []byte {
	var out []byte
	i := 0
	for ; i < len(s.queue) && s.queue[i].done; i++ {
		out = append(out, s.queue[i].line...)
		s.queue[i] = nil
	}
	s.queue = s.queue[i:]
	return out
}

// onClose runs on the loop inside gnet's close, before it closes the
// descriptor. If the client only half-closed (EOF) while fetches are in
// flight, their answers go out through a backlog on a duplicate of the
// descriptor; a backlog that exists already takes them anyway. gnet's own
// output buffer is always empty here (answers never go through it), so
// nothing it flushes can overtake them.
func (s *session) onClose(c gnet.Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parked || s.conn != c {
		return // it left on purpose (parkIfOver), and will be back
	}
	s.gone = true
	if s.out == nil && len(s.queue) > 0 && errors.Is(err, io.EOF) {
		b, berr := startBacklog(c, s.popReadyLocked())
		if berr != nil {
			return
		}
		s.out = b
	}
	s.afterCloseLocked()
}

// afterCloseLocked hands finished answers to the backlog once the
// connection left its loop, and when none is due any more ends the
// backlog, or for a parked connection has it hand the descriptor back.
func (s *session) afterCloseLocked() {
	if s.out == nil {
		return
	}
	if out := s.popReadyLocked(); len(out) > 0 {
		s.out.push(out)
	}
	switch {
	case len(s.queue) > 0:
	case s.parked && s.resume != nil:
		s.out.handBack(s.resume)
		s.resume = nil
	case !s.parked:
		s.out.end()
	}
}
