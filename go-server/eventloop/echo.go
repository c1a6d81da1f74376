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

	"github.com/linelab/linelab/internal/lineproto"
)

// backlog is a connection whose client does not read as fast as it
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
//
// A backlog over lineproto.MaxUnsent parks its connection (see park): the
// writer then hands the duplicate back to the loop once it has written
// everything.
type backlog struct {
	mu      sync.Mutex
	wake    *sync.Cond
	pending []byte   // answers not yet written, in order
	writing int      // bytes of the write in progress
	dup     net.Conn // the duplicate descriptor, owned by the writer goroutine
	ended   bool     // no more answers: gnet closed, or "line too long" is queued
	// handover, once set, takes the duplicate when every answer is
	// written: the parked connection goes back to its loop.
	handover func(net.Conn)
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

// over says the backlog holds more than the protocol lets a connection
// hold before its server stops reading it.
func (b *backlog) over() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)+b.writing > lineproto.MaxUnsent
}

// end says no more answers will come.
func (b *backlog) end() {
	b.mu.Lock()
	b.ended = true
	b.mu.Unlock()
	b.wake.Signal()
}

// handBack has the writer give the duplicate to h once every answer is
// written, instead of closing it.
func (b *backlog) handBack(h func(net.Conn)) {
	b.mu.Lock()
	b.handover = h
	b.mu.Unlock()
	b.wake.Signal()
}

// write runs until every answer is written or the client is gone, then
// either hands the duplicate back (a parked connection) or half-closes and
// drops what the client still sends for up to a second (as linger does),
// so the close is a FIN after the last answer, not a reset.
func (b *backlog) write() {
	var out []byte
	for {
		b.mu.Lock()
		b.writing = 0
		for len(b.pending) == 0 && !b.ended && b.handover == nil {
			b.wake.Wait()
		}
		if len(b.pending) == 0 && !b.ended && b.handover != nil {
			h := b.handover
			b.handover = nil
			b.mu.Unlock()
			h(b.dup)
			return
		}
		out, b.pending = b.pending, out[:0]
		b.writing = len(out)
		ended := b.ended
		b.mu.Unlock()
		if len(out) == 0 && ended {
			break
		}
		if _, err := b.dup.Write(out); err != nil {
			b.dup.Close()
			return // reset or gone: nothing more to do for it
		}
	}
	defer b.dup.Close()
	b.dup.(interface{ CloseWrite() error }).CloseWrite()
	b.dup.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, b.dup)
}

// echoConn is an echo connection's state beyond the fast path's: its
// backlog, and what it carried back from being parked.
type echoConn struct {
	out *backlog
	// carry is input read before the connection was parked and not yet a
	// whole line; it comes before what gnet reads next.
	carry  []byte
	parked bool // gone from its loop until its backlog is written
}

// leave takes a connection out of its loop (the caller then returns
// gnet.Close): gnet closes its descriptor, while a backlog's duplicate
// keeps the socket open, and reads it no more, so the client's own socket
// buffers fill and hold it back. The function returned, given that
// duplicate once every answer due is written, enrolls it in the same loop
// again with the state resumed makes of the input read but not yet served
// (carry, then what gnet still held). gnet has no call that stops reading
// one connection; leaving its loop and joining again is how its public API
// does it.
func (h *handler) leave(c gnet.Conn, carry []byte, resumed func(carry []byte) any) func(net.Conn) {
	rest, _ := c.Peek(-1)
	carry = append(append([]byte(nil), carry...), rest...)
	loop := c.EventLoop()
	return func(dup net.Conn) {
		if _, err := loop.Enroll(gnet.NewContext(h.ctx, resumed(carry)), dup); err != nil {
			dup.Close() // the engine is stopping
		}
	}
}

// withCarry is c's unread input after what the connection carried back
// from being parked, and how many of its bytes are the carry's.
func withCarry(c gnet.Conn, carry []byte) ([]byte, int) {
	buf, _ := c.Peek(-1)
	if len(carry) == 0 {
		return buf, 0
	}
	return append(carry[:len(carry):len(carry)], buf...), len(carry)
}

// consume drops used bytes of what withCarry gave: the carry's first,
// then gnet's.
func consume(c gnet.Conn, carry *[]byte, carried, used int) {
	if used < carried {
		*carry = (*carry)[used:]
		return
	}
	*carry = nil
	if used > carried { // Discard(0) would drop everything
		c.Discard(used - carried)
	}
}
