package engine

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/linelab/linelab/lab/driver"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// dialGate runs `dial addr` in the gate container and returns its
// standard streams as a connection.
func (r *Runtime) dialGate(ctx context.Context, _, addr string) (net.Conn, error) {
	return r.execGate(ctx, []string{"/agent", "dial", addr}, driver.GateConnected, "dial "+addr)
}

// execGate runs cmd in the gate container by exec and returns its
// standard input and output as a connection, once the first line on its
// standard error is ok (the exec stream multiplexes output and error).
func (r *Runtime) execGate(ctx context.Context, cmd []string, ok, what string) (*gateConn, error) {
	gate := r.gate.Load()
	if gate == nil {
		return nil, fmt.Errorf("%s: the engine is remote and the run has no gate container to reach it through", what)
	}
	ex, err := r.cli.ExecCreate(ctx, gate.ID, client.ExecCreateOptions{
		AttachStdin: true, AttachStdout: true, AttachStderr: true, Cmd: cmd,
	})
	if err != nil {
		return nil, fmt.Errorf("%s through %s: %w", what, gate.Name, err)
	}
	att, err := r.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s through %s: %w", what, gate.Name, err)
	}
	c := &gateConn{hj: att.HijackedResponse, addr: cmd[len(cmd)-1], data: make(chan []byte, 16), stop: make(chan struct{})}
	status := make(chan string, 1)
	go c.demux(status)
	select {
	case s := <-status:
		if s != ok {
			c.Close()
			return nil, fmt.Errorf("%s: %s", what, cmp.Or(strings.TrimSpace(s), "it ended without a word"))
		}
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return c, nil
}

// gateConn is one `dial` exec as a net.Conn. Deadlines are kept here: the
// exec stream underneath is an HTTP connection (over ssh) that knows
// nothing of the connection it carries.
type gateConn struct {
	hj   client.HijackedResponse
	addr string

	data chan []byte // standard output, chunk by chunk; closed at its end
	rest []byte      // what the last Read left of a chunk
	err  error       // why data ended

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	stop          chan struct{}
	closeOnce     sync.Once
}

// demux splits the exec's stream: standard output into data, the first
// line of standard error into status.
func (c *gateConn) demux(status chan<- string) {
	out := &chunkWriter{c: c}
	errw := &lineWriter{status: status}
	_, err := stdcopy.StdCopy(out, errw, c.hj.Reader)
	errw.finish()
	if err == nil {
		err = io.EOF
	}
	c.err = err
	close(c.data)
}

type chunkWriter struct{ c *gateConn }

func (w *chunkWriter) Write(p []byte) (int, error) {
	select {
	case w.c.data <- append([]byte(nil), p...):
		return len(p), nil
	case <-w.c.stop:
		return 0, net.ErrClosed
	}
}

// lineWriter hands the first line written to status, once.
type lineWriter struct {
	status chan<- string
	buf    strings.Builder
	sent   bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.sent {
		return len(p), nil
	}
	w.buf.Write(p)
	if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok {
		w.sent = true
		w.status <- line
	}
	return len(p), nil
}

func (w *lineWriter) finish() {
	if !w.sent {
		w.sent = true
		w.status <- w.buf.String()
	}
}

func (c *gateConn) Read(p []byte) (int, error) {
	if len(c.rest) == 0 {
		c.mu.Lock()
		dl := c.readDeadline
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case b, ok := <-c.data:
			if !ok {
				return 0, c.err
			}
			c.rest = b
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-c.stop:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

func (c *gateConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	dl := c.writeDeadline
	c.mu.Unlock()
	if !dl.IsZero() && time.Now().After(dl) {
		return 0, os.ErrDeadlineExceeded
	}
	return c.hj.Conn.Write(p)
}

// CloseWrite ends the exec's standard input: the gate half-closes the
// connection it carries.
func (c *gateConn) CloseWrite() error { return c.hj.CloseWrite() }

func (c *gateConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.hj.Close()
	})
	return nil
}

func (c *gateConn) LocalAddr() net.Addr  { return c.hj.Conn.LocalAddr() }
func (c *gateConn) RemoteAddr() net.Addr { return gateAddr(c.addr) }

func (c *gateConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *gateConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return nil
}

func (c *gateConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}

// gateAddr is the address a gate connection reaches.
type gateAddr string

func (a gateAddr) Network() string { return "tcp" }
func (a gateAddr) String() string  { return string(a) }

var _ net.Conn = (*gateConn)(nil)
