// Package eventloop is the event-loop model, on gnet: one loop per core reads
// every connection's bytes and answers them from callbacks. It is Go's answer
// to the demo's node.js and Twisted servers.
//
// Echo and work mode answer inside the read callback, all complete lines of
// one read in one write, straight to the socket (work mode computes there,
// on the loop, as an event-loop handler is written: a heavy line holds up
// every connection of its loop); a client that reads slower than it
// sends gets a backlog written from a goroutine (see backlog). Fetch mode
// must never block a loop: each request gets a slot in its connection's
// queue and a goroutine that asks the upstream; the loop writes the queue's
// finished head slots, so answers leave in request order even when the
// upstream answers out of order.
//
// A connection over the protocol's bounds (1 MiB of answers unsent, 64
// requests in progress) leaves its loop until its backlog is written and
// its requests answered, then joins it again (see leave): gnet would
// otherwise read it into memory without end.
//
// gnet closes a connection as soon as it reads EOF, and drops what its
// output buffer still holds; a client that half-closes still wants every
// answer. So answers never go through gnet's buffer: they are written to the
// socket directly, and once the kernel pushes back, or gnet closes with
// fetches still in flight, the rest go out through a backlog that a
// goroutine writes to a duplicate of the descriptor (see backlog).
package eventloop

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/linelab/linelab/go-server/server"
	"github.com/linelab/linelab/internal/lineproto"
)

// Serve listens on addr (host:port) and serves until ctx ends, then closes
// every connection and returns nil. ready, if not nil, is called with the
// bound address once the loops accept connections.
func Serve(ctx context.Context, addr string, mode server.Mode, fetcher server.Upstream, ready func(net.Addr)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if mode == server.Fetch && os.Getenv("GOMAXPROCS") == "" {
		extraPs.Do(func() {
			// Each gnet loop (one per core) waits in epoll_wait, a blocking
			// system call that keeps its P. With GOMAXPROCS at the core count
			// the fetch goroutines then have no P to run on, and Go's own
			// netpoller, where the upstream connections wait, is polled only
			// when a loop wakes up or by sysmon every 10 ms, and the core
			// idles while fetches wait. One P more per loop costs no CPU (the
			// cpuset is the same) and lets the fetches run (docs/FINDINGS.md).
			runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + runtime.NumCPU())
		})
	}
	h := &handler{ctx: ctx, mode: mode, fetcher: fetcher, ready: ready, booted: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		errc <- gnet.Run(h, "tcp://"+addr,
			gnet.WithMulticore(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(quietLogger{}),
		)
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("event loop on %s: %w", addr, err)
		}
		return nil
	case <-ctx.Done():
	}
	select {
	case <-h.booted:
	case err := <-errc:
		return err
	}
	stopCtx, stop := context.WithTimeout(context.Background(), time.Second)
	defer stop()
	if err := h.eng.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop event loop: %w", err)
	}
	return <-errc
}

// extraPs adds the fetch mode's Ps once per process (tests serve many times).
var extraPs sync.Once

type handler struct {
	gnet.BuiltinEventEngine
	ctx     context.Context
	mode    server.Mode
	fetcher server.Upstream
	ready   func(net.Addr)
	eng     gnet.Engine
	booted  chan struct{}
}

// outBuf is scratch space for one read's answers; c.Write copies it.
var outBuf = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// discarding marks a connection that got "line too long": what it still sends
// is dropped until it closes or its lingering time runs out.
type discarding struct{}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.eng = eng
	close(h.booted)
	if h.ready != nil {
		if addr, err := boundAddr(eng); err == nil {
			h.ready(addr)
		}
	}
	return gnet.None
}

func boundAddr(eng gnet.Engine) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	return ln.Addr(), nil
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch s := c.Context().(type) {
	case *session: // back from being parked, with requests it had read
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
		return nil, h.fetchTraffic(c, s)
	case *echoConn: // back from being parked; its carry is a partial line at most
		return nil, gnet.None
	}
	if h.mode == server.Fetch {
		c.SetContext(&session{conn: c})
	}
	return nil, gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	var e *echoConn
	switch s := c.Context().(type) {
	case discarding:
		c.Discard(-1)
		return gnet.None
	case *session:
		return h.fetchTraffic(c, s)
	case *echoConn:
		if s.out != nil && s.out.discarding {
			c.Discard(-1)
			return gnet.None
		}
		e = s
	}
	var b *backlog
	var carry []byte
	if e != nil {
		b, carry = e.out, e.carry
	}
	buf, carried := withCarry(c, carry)
	op := outBuf.Get().(*[]byte)
	defer outBuf.Put(op)
	out := (*op)[:0]
	used := 0
	for {
		p, n, err := lineproto.Next(buf[used:], lineproto.MaxLine)
		if err != nil {
			c.Discard(-1)
			out = append(out, lineproto.TooLongLine...)
			*op = out
			b, err := send(c, b, out)
			if err != nil {
				return gnet.Close
			}
			if b == nil {
				return linger(c)
			}
			// The backlog's writer half-closes after the error line and
			// lingers on the duplicate; gnet's close does not end the
			// connection while that is open.
			b.discarding = true
			b.end()
			return gnet.Close
		}
		if n == 0 {
			break
		}
		out = h.mode.Answer(out, p) // work mode computes here, on the loop
		used += n
	}
	if e != nil {
		consume(c, &e.carry, carried, used)
	} else if used > 0 { // Discard(0) would drop everything
		c.Discard(used)
	}
	*op = out
	if len(out) > 0 {
		nb, err := send(c, b, out)
		if err != nil {
			return gnet.Close
		}
		if b == nil && nb != nil {
			if e == nil {
				e = &echoConn{}
				c.SetContext(e)
			}
			e.out = nb
		}
	}
	if e != nil && e.out != nil && e.out.over() {
		e.parked = true
		e.out.handBack(h.leave(c, e.carry, func(carry []byte) any { return &echoConn{carry: carry} }))
		return gnet.Close
	}
	return gnet.None
}

// linger half-closes c after its last answer and drops its input for up to
// a second, so that closing with unread input does not reset the connection
// before the client has read that answer.
func linger(c gnet.Conn) gnet.Action {
	c.SetContext(discarding{})
	if c.OutboundBuffered() > 0 || unix.Shutdown(c.Fd(), unix.SHUT_WR) != nil {
		return gnet.Close // gnet flushes what it can, then closes
	}
	time.AfterFunc(time.Second, func() { c.Close() })
	return gnet.None
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	switch s := c.Context().(type) {
	case *session:
		s.onClose(c, err)
	case *echoConn:
		if !s.parked && s.out != nil {
			s.out.end()
		}
	}
	return gnet.None
}

// quietLogger keeps gnet's start-up chatter out of the one start-up line the
// contract asks for; warnings and errors still reach stderr.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
}
func (quietLogger) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
}
func (quietLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
	os.Exit(1)
}
