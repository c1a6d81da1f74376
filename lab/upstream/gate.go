package upstream

import (
	"errors"
	"net"
	"sync"
	"time"
)

// gate stands between the service's listening socket and fasthttp, which
// serves one listener for its whole life, so that the service can go down
// for a while and come back by itself (POST /control?refuse=1s): during an
// outage the listening socket is closed, so a connect is refused as by a
// service that is not running, and every open connection is closed; after
// it, the service listens on the same address again.
type gate struct {
	addr string

	mu     sync.Mutex
	ln     net.Listener // nil during an outage
	back   chan struct{}
	conns  map[*gateConn]struct{}
	closed bool
}

func newGate(ln net.Listener) *gate {
	return &gate{addr: ln.Addr().String(), ln: ln, conns: map[*gateConn]struct{}{}}
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		g.mu.Lock()
		ln, back, closed := g.ln, g.back, g.closed
		g.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if ln == nil {
			<-back
			continue
		}
		c, err := ln.Accept()
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			if c != nil {
				c.Close()
			}
			return nil, net.ErrClosed
		}
		if g.ln != ln { // an outage began meanwhile
			g.mu.Unlock()
			if c != nil {
				c.Close()
			}
			continue
		}
		if err != nil {
			g.mu.Unlock()
			return nil, err
		}
		gc := &gateConn{Conn: c, g: g}
		g.conns[gc] = struct{}{}
		g.mu.Unlock()
		return gc, nil
	}
}

func (g *gate) Addr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		return g.ln.Addr()
	}
	a, _ := net.ResolveTCPAddr("tcp", g.addr)
	return a
}

func (g *gate) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	if g.ln == nil {
		close(g.back)
		return nil
	}
	return g.ln.Close()
}

// outage closes the listening socket and every open connection but keep
// (the one that asked, so its answer can be sent), and listens again after
// d. It fails if an outage is already on.
func (g *gate) outage(d time.Duration, keep net.Conn) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return net.ErrClosed
	}
	if g.ln == nil {
		g.mu.Unlock()
		return errors.New("an outage is already on")
	}
	ln, conns := g.ln, g.conns
	g.ln, g.back, g.conns = nil, make(chan struct{}), map[*gateConn]struct{}{}
	g.mu.Unlock()
	ln.Close()
	for c := range conns {
		if c != keep {
			c.Conn.Close()
		}
	}
	time.AfterFunc(d, g.reopen)
	return nil
}

// reopen listens again on the gate's address, retrying for a while: the
// port is free, but the kernel may take a moment to let it go.
func (g *gate) reopen() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		if ln != nil {
			ln.Close()
		}
		return
	}
	if ln == nil {
		// The address stays taken: the service stays down and says so
		// from Accept, which ends fasthttp's Serve.
		ln = failed{err: err, addr: g.addr}
	}
	g.ln = ln
	close(g.back)
}

// failed is a listener that could not be opened again.
type failed struct {
	err  error
	addr string
}

func (f failed) Accept() (net.Conn, error) { return nil, f.err }
func (f failed) Close() error              { return nil }
func (f failed) Addr() net.Addr            { a, _ := net.ResolveTCPAddr("tcp", f.addr); return a }

// gateConn leaves the gate's list when it closes.
type gateConn struct {
	net.Conn
	g *gate
}

func (c *gateConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns, c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}
