package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
)

// The hostile cases are clients that a server meets on an open port: one
// that sends a byte a second, one that sends a line of many megabytes, one
// that never reads its answers. Each must cost that client alone: while it
// misbehaves, a bystander on another connection is answered promptly, and
// the hostile client itself still gets what the contract says. The
// bystander's wait is a measure of time, so each case has the server to
// itself (Alone): run beside pipelined-1000 and concurrent-200 in fetch
// mode, a slow server's bystander waited behind those thousand fetches, not
// behind the hostile client, and failed on a noisy machine (twisted, twice
// in CI).
var hostile = []Case{
	{Name: "slowloris", Applies: healthyOrEcho, Alone: true, Timeout: 20 * time.Second, Run: slowloris},
	{Name: "ten-megabyte-line", Applies: healthyOrEcho, Alone: true, Timeout: 30 * time.Second, Run: tenMegabyteLine},
	{Name: "never-reads", Applies: echoOrTooSlow, Alone: true, Timeout: 40 * time.Second, Run: neverReads},
}

// Bystander is how long a line on another connection may wait while a
// hostile client is being served. A server whose model lets one client
// hold up the others (a single blocking loop, a lock held across a read)
// waits for the hostile client's next byte, a second or more.
const Bystander = time.Second

// bystander asks one line on a new connection and wants its answer within
// Bystander; while says what the hostile client is doing meanwhile.
func bystander(ctx context.Context, t Target, p, while string) error {
	c, err := t.dialUntil(ctx, "connect a bystander")
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(Bystander))
	if _, err := c.Write([]byte(p + "\n")); err != nil {
		return fmt.Errorf("bystander write while %s: %w", while, err)
	}
	line, err := lineproto.NewReader(c, maxAnswer).ReadLine()
	if err != nil {
		if isTimeout(err) {
			return fmt.Errorf("a bystander's line waited over %v while %s: one client holds up the others", Bystander, while)
		}
		return fmt.Errorf("bystander read while %s: %w", while, err)
	}
	if broken(t) {
		if !bytes.HasPrefix(line, []byte(lineproto.UpstreamErrorTag)) {
			return fmt.Errorf("bystander while %s: got %s, want a line starting %q", while, quote(line), lineproto.UpstreamErrorTag)
		}
		return nil
	}
	return same(append(line, '\n'), t.answer([]byte(p)))
}

// slowloris sends one line a byte a second, and a bystander asks between
// the bytes; then the slow line gets its answer, and the close follows the
// half-close.
func slowloris(ctx context.Context, t Target) error {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return err
	}
	defer c.Close()
	in := []byte("ok\n")
	for i, b := range in {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return fmt.Errorf("write byte %d: %w", i+1, err)
		}
		if i < len(in)-1 {
			if err := bystander(ctx, t, fmt.Sprintf("bystander %d", i+1), fmt.Sprintf("a client sends a byte a second (%d of %d sent)", i+1, len(in))); err != nil {
				return err
			}
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	want := t.answer([]byte("ok"))
	got, err := readAll(c, len(want))
	if err != nil {
		return fmt.Errorf("read after the last byte: %w (got %s)", err, quote(got))
	}
	return same(got, want)
}

// tenMegabyteLine sends 10 MB with no LF: the server must say the line is
// too long and close (it may reset once the error line is out, since the
// client's input is still unread), and serve a bystander afterwards. A
// server that buffers the whole line before it looks, or that dies of it,
// fails here.
func tenMegabyteLine(ctx context.Context, t Target) error {
	huge := bytes.Repeat([]byte("m"), 10<<20)
	// The error is due after 64 KiB; a server still silent 5 s later is
	// waiting for an LF that will not come.
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tooLong(lctx, t, nil, huge, true); err != nil {
		return fmt.Errorf("a 10 MB line with no LF: %w", err)
	}
	return bystander(ctx, t, "after the huge line", "a 10 MB line was just refused")
}

// The never-reads case's bounds. PROTOCOL.md v1.2: a server stops reading
// a connection that holds more than 1 MiB of unsent answers or 64 requests
// in progress. What it then holds for the flooding client is that, its
// read buffer and the kernel's socket buffers (a few MiB on loopback).
const (
	// FloodFor is the longest the hostile client writes.
	FloodFor = 6 * time.Second
	// FloodCap is more than any socket buffers hold: a server that has
	// taken this much from a client that reads nothing does not stop
	// reading.
	FloodCap = 48 << 20
	// MemoryBound is how much the server's memory may grow while flooded.
	MemoryBound = 64 << 20
	// stalled is how long writes must block before the client takes it
	// that the server stopped reading.
	stalled = time.Second
)

// neverReads pipelines lines without reading any answer, for FloodFor or
// until the server stops taking them (writes block for a second), while
// the server's memory is sampled (Target.Memory); asks a bystander
// meanwhile; then reads. The server fails if its memory grew past
// MemoryBound, if it took FloodCap (it never stopped reading), if the
// bystander waited over a second, or if the answers are not the
// contract's, in order. In echo mode every complete line sent must be
// answered after the half-close; in fetch mode (against an upstream too
// slow for the timeout, where draining thousands of answers would take
// minutes) the first answers must be upstream errors.
func neverReads(ctx context.Context, t Target) error {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return err
	}
	defer c.Close()
	mem := watchMemory(t)
	defer mem.stop()
	f := newFlood(t.Mode == lab.Fetch)
	start := time.Now()
	var blocked time.Time
	for time.Since(start) < FloodFor && f.sent < FloodCap && mem.growth() <= MemoryBound {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(f.next())
		f.advance(n)
		switch {
		case err == nil:
			blocked = time.Time{}
			continue
		case !isTimeout(err):
			return fmt.Errorf("write after %s without reading: %w", f, err)
		case blocked.IsZero():
			blocked = time.Now()
		}
		if time.Since(blocked) >= stalled {
			break
		}
	}
	mem.stop()
	if g := mem.growth(); g > MemoryBound {
		return fmt.Errorf("the server's memory grew by %d MiB while a client sent %s and read nothing (bound %d MiB): it must stop reading a connection that holds 1 MiB of unsent answers or 64 requests in progress", g>>20, f, MemoryBound>>20)
	}
	if f.sent >= FloodCap {
		return fmt.Errorf("the server took %s from a client that reads nothing, more than any socket buffers hold: it must stop reading a connection that holds 1 MiB of unsent answers or 64 requests in progress", f)
	}
	if blocked.IsZero() {
		return fmt.Errorf("the server still took more after %v of a client sending %s and reading nothing: it must stop reading a connection that holds 1 MiB of unsent answers or 64 requests in progress", FloodFor, f)
	}
	while := fmt.Sprintf("a client has sent %s and read nothing", f)
	if err := bystander(ctx, t, "bystander", while); err != nil {
		return err
	}
	c.SetDeadline(time.Time{})
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	r := lineproto.NewReader(c, maxAnswer)
	if t.Mode == lab.Fetch {
		// A few: a server that fetches one request at a time answers one
		// per timeout.
		for i := range min(3, f.lines()) {
			a, err := r.ReadLine()
			if err != nil {
				return fmt.Errorf("answer %d after %s: %w", i+1, while, err)
			}
			if !bytes.HasPrefix(a, []byte(lineproto.UpstreamErrorTag)) {
				return fmt.Errorf("answer %d after %s: got %s, want a line starting %q", i+1, while, quote(a), lineproto.UpstreamErrorTag)
			}
		}
		return nil
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return fmt.Errorf("half-close: %w", err)
	}
	for i := range f.lines() {
		a, err := r.ReadLine()
		if err != nil {
			if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("after %s, answer %d of %d did not come within the case's time", while, i+1, f.lines())
			}
			return fmt.Errorf("after %s, answer %d of %d: %w", while, i+1, f.lines(), err)
		}
		want := t.answer(f.payload(i))
		if !bytes.Equal(append(a, '\n'), want) {
			return fmt.Errorf("after %s, answer %d: got %s, want %s", while, i+1, quote(a), quote(want))
		}
	}
	if _, err := r.ReadLine(); err != io.EOF {
		return fmt.Errorf("after %s and its %d answers: want the close, got %v", while, f.lines(), err)
	}
	return nil
}

// maxAnswer bounds an answer line the suite will read: an echo of the
// longest request, or a fetched body of at most 1 MiB.
const maxAnswer = 1<<20 + 64

// flood is the never-reads client's stream: numbered lines of one length,
// long in echo mode (fewer answers to check), short in fetch mode (more
// requests for a server to hold). Nothing sent is kept: line i is made
// again from i.
type flood struct {
	size int   // bytes per line, LF included
	sent int64 // bytes the server took
	buf  []byte
}

func newFlood(short bool) *flood {
	f := &flood{size: 1000}
	if short {
		f.size = 40
	}
	return f
}

// payload is line i without its LF.
func (f *flood) payload(i int) []byte {
	p := fmt.Appendf(nil, "never read %08d ", i)
	return append(p, bytes.Repeat([]byte("."), f.size-1-len(p))...)
}

// next is the next 64 KiB of the stream from where the server stopped.
func (f *flood) next() []byte {
	f.buf = f.buf[:0]
	i, off := int(f.sent/int64(f.size)), int(f.sent%int64(f.size))
	for len(f.buf) < 64<<10 {
		line := append(f.payload(i), '\n')
		f.buf = append(f.buf, line[off:]...)
		i, off = i+1, 0
	}
	return f.buf
}

func (f *flood) advance(n int) { f.sent += int64(n) }

// lines is how many complete lines the server took.
func (f *flood) lines() int { return int(f.sent / int64(f.size)) }

func (f *flood) String() string {
	return fmt.Sprintf("%.1f MiB (%d lines)", float64(f.sent)/(1<<20), f.lines())
}

// memWatch samples Target.Memory every 100 ms and keeps the largest growth
// over the first reading; without Memory it reads nothing and the case
// judges by what the server took alone.
type memWatch struct {
	mu   sync.Mutex
	base int64
	peak int64
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func watchMemory(t Target) *memWatch {
	m := &memWatch{done: make(chan struct{})}
	if t.Memory == nil {
		return m
	}
	base, err := t.Memory()
	if err != nil {
		return m
	}
	m.base, m.peak = base, base
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-tick.C:
			}
			if v, err := t.Memory(); err == nil {
				m.mu.Lock()
				m.peak = max(m.peak, v)
				m.mu.Unlock()
			}
		}
	}()
	return m
}

func (m *memWatch) growth() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak - m.base
}

func (m *memWatch) stop() {
	m.once.Do(func() { close(m.done) })
	m.wg.Wait()
}

// PidLimit opens Target.Pids+100 connections and holds them, each asking
// one line: a server that runs a thread per connection meets its task
// limit on the way. Every connection must be answered or closed within
// ten seconds (none left hanging), some must be answered, and once they
// are closed a new connection must be served: what a server cannot serve
// it refuses, and it keeps serving the rest. The Docker test runs it with
// a low limit; the lab's containers have lab.Hardened.Pids.
func PidLimit(ctx context.Context, t Target) error {
	if t.Pids <= 0 {
		return errors.New("pid-limit: the target names no task limit (Target.Pids)")
	}
	n := t.Pids + 100
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := t.dial(ctx)
		if err != nil {
			return fmt.Errorf("connection %d of %d: %w (the server must keep accepting at its task limit)", i+1, n, err)
		}
		conns = append(conns, c)
		c.Write(fmt.Appendf(nil, "connection %d\n", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	answered, closed, hung := 0, 0, 0
	for i, c := range conns {
		c.SetReadDeadline(deadline)
		a, err := lineproto.NewReader(c, maxAnswer).ReadLine()
		switch {
		case err == nil:
			if want := t.answer(fmt.Appendf(nil, "connection %d", i)); !bytes.Equal(append(a, '\n'), want) {
				return fmt.Errorf("connection %d of %d: got %s, want %s", i+1, n, quote(a), quote(want))
			}
			answered++
		case isTimeout(err):
			hung++
		default:
			closed++ // refused: EOF or a reset
		}
	}
	if hung > 0 {
		return fmt.Errorf("%d of %d connections (task limit %d) were neither answered nor closed within 10 s: what a server cannot serve it must refuse", hung, n, t.Pids)
	}
	if answered == 0 {
		return fmt.Errorf("none of %d connections was answered (task limit %d); %d were closed", n, t.Pids, closed)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	// The refused connections' tasks end as they close; give them a moment.
	var last error
	for range 50 {
		if last = bystander(ctx, t, "after the limit", fmt.Sprintf("%d connections met a task limit of %d (%d answered, %d refused) and closed", n, t.Pids, answered, closed)); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last
}
