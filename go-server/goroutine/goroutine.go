// Package goroutine is the goroutine-per-connection model: straight-line,
// blocking-style code, one goroutine reading a line, answering it and reading
// the next. It is Go's answer to the demo's threads and gevent servers: the
// runtime's netpoller does what gevent's hub does, without monkey-patching.
//
// Requests on one connection are answered one after another, so answers are
// in order by construction; work mode computes on the connection's own
// goroutine, which the runtime preempts like a thread. Answers are flushed when no further request is
// already buffered, so pipelined requests share one write.
package goroutine

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/linelab/linelab/go-server/server"
	"github.com/linelab/linelab/internal/lineproto"
)

// Serve accepts connections on ln until ctx ends, then closes ln and every
// open connection and returns nil. fetcher is used in fetch mode only.
func Serve(ctx context.Context, ln net.Listener, mode server.Mode, fetcher server.Upstream) error {
	s := &srv{mode: mode, fetcher: fetcher, conns: map[net.Conn]struct{}{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
		s.closeAll()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.wg.Wait()
				return nil
			}
			// Out of file descriptors and the like: back off, keep serving.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			cancel()
			s.wg.Wait()
			return err
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go s.handle(ctx, c)
	}
}

type srv struct {
	mode    server.Mode
	fetcher server.Upstream

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (s *srv) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *srv) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

func (s *srv) handle(ctx context.Context, c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := lineproto.NewReader(c, lineproto.MaxLine)
	w := lineproto.NewWriter(c)
	var out []byte
	for {
		p, err := r.ReadLine()
		if err != nil {
			if errors.Is(err, lineproto.ErrLineTooLong) {
				w.WriteLine([]byte(lineproto.TooLongLine))
				w.Flush()
				lingeringClose(c)
				return
			}
			// End of input (with or without a trailing partial line), a
			// reset, or shutdown: answered requests are already written.
			w.Flush()
			return
		}
		if s.mode == server.Fetch {
			out = s.fetcher.AppendAnswer(ctx, out[:0], p)
		} else {
			out = s.mode.Answer(out[:0], p) // work mode computes here, on the connection's goroutine
		}
		if w.WriteLine(out) != nil {
			return
		}
		// A fetch takes long: send what is ready before the next one.
		if r.Buffered() == 0 || s.mode == server.Fetch {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// lingeringClose sends FIN, then reads and drops what the client still sends
// for up to a second, so that the last answer is not lost to a reset caused by
// closing with unread input.
func lingeringClose(c net.Conn) {
	tc, ok := c.(interface{ CloseWrite() error })
	if !ok || tc.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, c)
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
