package eventloop

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/linelab/linelab/internal/lineproto"
)

// session is a fetch-mode connection's queue of answers. The loop appends
// slots and writes finished ones; fetch goroutines finish them. mu guards it
// all, since both sides touch it.
type session struct {
	mu      sync.Mutex
	queue   []*slot
	closing bool // "line too long" queued: no further requests, close after it

	gone       bool     // gnet has closed the connection
	drain      net.Conn // a duplicate of its descriptor, for answers still due
	drainReady bool     // gnet's own last flush is done; drain may be written
}

type slot struct {
	done bool
	line []byte
}

func (h *handler) fetchTraffic(c gnet.Conn, s *session) gnet.Action {
	buf, _ := c.Peek(-1)
	used := 0
	for {
		p, n, err := lineproto.Next(buf[used:], lineproto.MaxLine)
		if err != nil {
			c.Discard(-1)
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
		go h.fetch(c, s, sl, append([]byte(nil), p...))
	}
	if used > 0 { // Discard(0) would drop everything
		c.Discard(used)
	}
	return gnet.None
}

// fetch runs off the loop: it asks the upstream, fills the slot, and has the
// loop (or, once gnet has closed the connection, itself) write what is ready.
func (h *handler) fetch(c gnet.Conn, s *session, sl *slot, p []byte) {
	line := h.fetcher.AppendAnswer(h.ctx, nil, p)
	s.mu.Lock()
	sl.line, sl.done = line, true
	if s.gone {
		if s.drainReady {
			s.writeDrainLocked()
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	c.EventLoop().Execute(h.ctx, gnet.RunnableFunc(func(context.Context) error {
		if h.flush(c, s) == gnet.Close {
			return c.Close()
		}
		return nil
	}))
}

// flush writes the finished head of the queue; it runs on the loop.
func (h *handler) flush(c gnet.Conn, s *session) gnet.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return gnet.None
	}
	if out := s.popReadyLocked(); len(out) > 0 {
		c.Write(out)
	}
	if s.closing && len(s.queue) == 0 {
		return linger(c)
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

// onClose runs on the loop inside gnet's close, before gnet's last flush of
// its output buffer and the close of the descriptor. If the client only
// half-closed (EOF) while fetches are in flight, it keeps a duplicate of the
// descriptor to write their answers; the duplicate becomes writable only
// from a task queued now, which the loop runs after gnet's last flush, so the
// order of bytes on the wire is kept.
func (s *session) onClose(c gnet.Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if out := s.popReadyLocked(); len(out) > 0 {
		c.Write(out)
	}
	s.gone = true
	if len(s.queue) == 0 || !errors.Is(err, io.EOF) {
		return
	}
	fd, derr := c.Dup()
	if derr != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "drain")
	nc, derr := net.FileConn(f)
	f.Close()
	if derr != nil {
		return
	}
	s.drain = nc
	c.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		go func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.drainReady = true
			s.writeDrainLocked()
		}()
		return nil
	}))
}

// writeDrainLocked writes finished answers to the duplicate descriptor and
// closes it when nothing is due any more, or on "line too long".
func (s *session) writeDrainLocked() {
	if s.drain == nil {
		return
	}
	if out := s.popReadyLocked(); len(out) > 0 {
		s.drain.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := s.drain.Write(out); err != nil {
			s.queue = nil
		}
	}
	if len(s.queue) == 0 {
		s.drain.Close()
		s.drain = nil
	}
}
