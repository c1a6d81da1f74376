package eventloop

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// backlog is an echo connection whose client does not read as fast as it
// sends. Answers are written straight to the socket; the first one the
// kernel will not take whole starts a backlog, and from then on a
// goroutine writes the connection's answers, in order, to a duplicate of
// its descriptor.
//
// Why not gnet's own output buffer: gnet closes a connection as soon as it
// reads EOF, flushes what the kernel takes at that moment and drops the
// rest, so a client that sends many lines, half-closes and then reads
// would lose answers (the conformance case never-reads showed it). The
// duplicate outlives gnet's close, which does not end the connection
// while the duplicate is open.
type backlog struct {
	mu      sync.Mutex
	wake    *sync.Cond
	pending []byte   // answers not yet written, in order
	dup     net.Conn // the duplicate descriptor, owned by the writer goroutine
	ended   bool     // no more answers: gnet closed, or "line too long" is queued
	// discarding: "line too long" was answered; what the client still
	// sends is dropped.
	discarding bool
}

// send writes out to c's socket, or behind the backlog b when there is
// one; it returns the connection's backlog (nil while there is none, a new
// one when the kernel took only part of out) or an error when the
// connection is broken.
func send(c gnet.Conn, b *backlog, out []byte) (*backlog, error) {
	if b != nil {
		b.push(out)
		return b, nil
	}
	n, err := unix.Write(c.Fd(), out)
	switch {
	case errors.Is(err, unix.EAGAIN):
		n = 0
	case err != nil:
		return nil, err
	}
	if n == len(out) {
		return nil, nil
	}
	return startBacklog(c, out[n:])
}

func startBacklog(c gnet.Conn, rest []byte) (*backlog, error) {
	fd, err := c.Dup()
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "backlog")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	b := &backlog{dup: nc, pending: append([]byte(nil), rest...)}
	b.wake = sync.NewCond(&b.mu)
	go b.write()
	return b, nil
}

func (b *backlog) push(out []byte) {
	b.mu.Lock()
	b.pending = append(b.pending, out...)
	b.mu.Unlock()
	b.wake.Signal()
}

// end says no more answers will come.
func (b *backlog) end() {
	b.mu.Lock()
	b.ended = true
	b.mu.Unlock()
	b.wake.Signal()
}

// write runs until every answer is written or the client is gone, then
// half-closes and drops what the client still sends for up to a second
// (as linger does), so the close is a FIN after the last answer, not a
// reset.
func (b *backlog) write() {
	defer b.dup.Close()
	var out []byte
	for {
		b.mu.Lock()
		for len(b.pending) == 0 && !b.ended {
			b.wake.Wait()
		}
		out, b.pending = b.pending, out[:0]
		ended := b.ended
		b.mu.Unlock()
		if len(out) == 0 && ended {
			break
		}
		if _, err := b.dup.Write(out); err != nil {
			return // reset or gone: nothing more to do for it
		}
	}
	b.dup.(interface{ CloseWrite() error }).CloseWrite()
	b.dup.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, b.dup)
}
