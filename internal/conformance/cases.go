package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
)

// contract is the cases that check PROTOCOL.md rule by rule.
var contract = []Case{
	{Name: "one-line", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("hello my friend")
		return expect(ctx, t, t.answers(ps...), in)
	}},
	{Name: "crlf", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("hello\r", "where is the treasure\r", "a\r\r")
		return expect(ctx, t, t.answers(ps...), in)
	}},
	{Name: "empty-line", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("", "\r", "after empty")
		return expect(ctx, t, t.answers(ps...), in)
	}},
	{Name: "nul-and-invalid-utf8", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("a\x00b", "\xff\xfe\xc3(", "mixed \x00 hello \x80\r", "é ü ✓ +%20&=?;#")
		return expect(ctx, t, t.answers(ps...), in)
	}},
	{Name: "max-line", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		long := strings.Repeat("x", lineproto.MaxLine)
		crlf := strings.Repeat("y", lineproto.MaxLine-1) + "\r"
		in, ps := lines(long, crlf, "after")
		return expect(ctx, t, t.answers(ps...), in)
	}},
	{Name: "too-long", Run: func(ctx context.Context, t Target) error {
		return tooLong(ctx, t, nil, bytes.Repeat([]byte("z"), lineproto.MaxLine+1), false)
	}},
	{Name: "too-long-after-answers", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("first", "second")
		return tooLong(ctx, t, t.answers(ps...), append(in, bytes.Repeat([]byte("z"), lineproto.MaxLine+1)...), false)
	}},
	{Name: "too-long-then-more", Run: func(ctx context.Context, t Target) error {
		// One write of a far longer line and more requests behind it: the
		// server must still say why, and close in order (FIN, not a reset
		// from closing on unread input, which can destroy the error line).
		in := append(bytes.Repeat([]byte("w"), 3*lineproto.MaxLine), "\nhello\n"...)
		return tooLong(ctx, t, nil, in, false)
	}},
	{Name: "too-long-lets-go", Timeout: 15 * time.Second, Run: tooLongLetsGo},
	{Name: "pipelined-1000", Applies: healthyOrEcho, Timeout: 30 * time.Second, Run: func(ctx context.Context, t Target) error {
		var in []byte
		var ps [][]byte
		for i := range 1000 {
			p := fmt.Appendf(nil, "hello %d my friend", i)
			in = append(append(in, p...), '\n')
			ps = append(ps, p)
		}
		return expect(ctx, t, t.answers(ps...), in)
	}},
	{Name: "trickle-one-byte", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("hello there\r", "ok")
		var chunks [][]byte
		for i := range in {
			chunks = append(chunks, in[i:i+1])
		}
		want := t.answers(ps...)
		got, err := exchangeNoDelay(ctx, t, len(want), 2*time.Millisecond, chunks)
		if err != nil {
			return err
		}
		return same(got, want)
	}},
	{Name: "split-anyhow", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("stop", "look at the ship\r", "", "yes you are", "treasure\x00map")
		var chunks [][]byte
		for i, n := 0, 1; i < len(in); n = n%7 + 3 {
			j := min(i+n, len(in))
			chunks = append(chunks, in[i:j])
			i = j
		}
		want := t.answers(ps...)
		got, err := exchangeNoDelay(ctx, t, len(want), time.Millisecond, chunks)
		if err != nil {
			return err
		}
		return same(got, want)
	}},
	{Name: "half-close-partial", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("a", "b")
		return expect(ctx, t, t.answers(ps...), append(in, "partial, never answered"...))
	}},
	{Name: "reset-mid-line", Applies: healthyOrEcho, Run: resetMidLine},
	{Name: "concurrent-200", Applies: healthyOrEcho, Timeout: 30 * time.Second, Run: func(ctx context.Context, t Target) error {
		return concurrently(200, func(i int) error {
			var ps []string
			for j := range 5 {
				ps = append(ps, fmt.Sprintf("hello %d friend %d", i, j))
			}
			in, want := lines(ps...)
			return expect(ctx, t, t.answers(want...), in)
		})
	}},
	{Name: "upstream-error-keeps-connection", Applies: broken, Timeout: 20 * time.Second, Run: upstreamError},
	{Name: "warm-bursts-no-stall", Applies: echoOnly, Alone: true, Timeout: 30 * time.Second, Run: warmBursts},
}

// Stall is the longest a 4-line burst on a warm connection may wait. A
// delayed ACK meeting Nagle's algorithm costs 40 ms; a server answering
// from its loop with TCP_NODELAY takes well under a millisecond.
const Stall = 25 * time.Millisecond

// echoOnly: Nagle is a property of the accepted socket, the same in both
// modes, and only in echo mode is a burst's time the server's alone (in
// fetch mode it holds up to four upstream calls one after another).
func echoOnly(t Target) bool { return t.Mode == lab.Echo }

// warmBursts warms a connection past TCP's quick-ACK start with single
// round trips, then sends 40 bursts of 4 lines in one write each and wants
// every burst answered within Stall. A server that leaves Nagle's algorithm
// on sends the first answer, holds the rest until the client's delayed ACK,
// and fails here.
func warmBursts(ctx context.Context, t Target) error {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return err
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true) // the client's bursts leave at once
	}
	r := lineproto.NewReader(c, maxAnswer)
	ask := func(in []byte, n int) (time.Duration, error) {
		start := time.Now()
		if _, err := c.Write(in); err != nil {
			return 0, fmt.Errorf("write: %w", err)
		}
		for range n {
			if _, err := r.ReadLine(); err != nil {
				return 0, fmt.Errorf("read: %w", err)
			}
		}
		return time.Since(start), nil
	}
	for i := range 50 {
		if _, err := ask(fmt.Appendf(nil, "warm %d\n", i), 1); err != nil {
			return fmt.Errorf("warm-up %d: %w", i+1, err)
		}
	}
	var slow []string // the first few, for the message
	stalls := 0
	for i := range 40 {
		took, err := ask(fmt.Appendf(nil, "burst %d a\nburst %d b\nburst %d c\nburst %d d\n", i, i, i, i), 4)
		if err != nil {
			return fmt.Errorf("burst %d: %w", i+1, err)
		}
		if took >= Stall && len(slow) < 5 {
			slow = append(slow, fmt.Sprintf("#%d %v", i+1, took.Round(time.Millisecond)))
		}
		if took >= Stall {
			stalls++
		}
	}
	if stalls > 0 {
		return fmt.Errorf("%d of 40 bursts of 4 lines waited %v or more (%s): Nagle's algorithm meeting the delayed ACK; set TCP_NODELAY on accepted sockets", stalls, Stall, strings.Join(slow, ", "))
	}
	return nil
}

// tooLongLetsGo sends a too-long line and keeps sending: the server must say
// why, close its side in order, and stop reading within a few seconds. A
// drain that lasts as long as the client sends holds a server's thread or
// buffer for ever.
func tooLongLetsGo(ctx context.Context, t Target) error {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(bytes.Repeat([]byte("q"), lineproto.MaxLine+1)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got, err := readAll(c, len(lineproto.TooLongLine))
	if err != nil {
		return fmt.Errorf("reading to the close: %v (got %s): the close after too-long must be in order, FIN and not a reset", err, quote(got))
	}
	if err := same(got, []byte(lineproto.TooLongLine)); err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte("more "), 200)
	start := time.Now()
	for time.Since(start) < 4*time.Second {
		if _, err := c.Write(chunk); err != nil {
			return nil // the server let go
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("still reading what the client sends 4 s after %s: the drain after too-long must end (about 1 s)", quote([]byte(lineproto.TooLongLine)))
}

// expect sends in as one write and wants exactly want back before the close.
func expect(ctx context.Context, t Target, want, in []byte) error {
	got, err := exchange(ctx, t, len(want), 0, in)
	if err != nil {
		return err
	}
	return same(got, want)
}

// exchangeNoDelay is exchange with Nagle off, so each chunk is its own segment.
func exchangeNoDelay(ctx context.Context, t Target, limit int, pause time.Duration, chunks [][]byte) ([]byte, error) {
	nt := t
	nt.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := t.dial(ctx)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		return c, err
	}
	return exchange(ctx, nt, limit, pause, chunks...)
}

// tooLong sends in and wants the answers in want, then the too-long line,
// then the close. With maybeReset, a reset after the error line is accepted
// (the server closed with our unread input, as the contract allows).
func tooLong(ctx context.Context, t Target, want, in []byte, maybeReset bool) error {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return err
	}
	defer c.Close()
	go c.Write(in) // the server may stop reading; do not wait for the write
	// No half-close: the server must act on the length alone.
	want = append(want, lineproto.TooLongLine...)
	got := make([]byte, 0, len(want))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if len(got) > len(want)+64<<10 {
			return fmt.Errorf("no close after %s, and %s more: the server sends what no request asked for", quote(want[len(want)-len(lineproto.TooLongLine):]), describe(got[len(want):]))
		}
		if err != nil {
			if isTimeout(err) {
				return fmt.Errorf("no close after %s (got %s)", quote(want[len(want)-len(lineproto.TooLongLine):]), quote(got))
			}
			if maybeReset && bytes.HasSuffix(got, want) {
				return nil
			}
			return fmt.Errorf("read: %v (got %s)", err, quote(got))
		}
	}
	return same(got, want)
}

func resetMidLine(ctx context.Context, t Target) error {
	a, err := t.dial(ctx)
	if err != nil {
		return fmt.Errorf("connect A: %w", err)
	}
	defer a.Close()
	b, err := t.dialUntil(ctx, "connect B")
	if err != nil {
		return err
	}
	defer b.Close()
	br := lineproto.NewReader(b, maxAnswer)
	ask := func(p string) error {
		if _, err := b.Write([]byte(p + "\n")); err != nil {
			return fmt.Errorf("B write: %w", err)
		}
		line, err := br.ReadLine()
		if err != nil {
			return fmt.Errorf("B read: %w", err)
		}
		return same(append(line, '\n'), t.answer([]byte(p)))
	}
	if _, err := a.Write([]byte("half a li")); err != nil {
		return fmt.Errorf("A write: %w", err)
	}
	if err := ask("before the reset"); err != nil {
		return err
	}
	if tc, ok := a.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST
	}
	a.Close()
	time.Sleep(50 * time.Millisecond)
	if err := ask("after the reset"); err != nil {
		return err
	}
	in, ps := lines("a new connection")
	return expect(ctx, t, t.answers(ps...), in)
}

// upstreamError wants one "error: upstream…" line per request, the
// connection kept open between them, and then the close after half-close.
func upstreamError(ctx context.Context, t Target) error {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return err
	}
	defer c.Close()
	r := lineproto.NewReader(c, maxAnswer)
	for _, p := range []string{"hello", "still there?"} {
		start := time.Now()
		if _, err := c.Write([]byte(p + "\n")); err != nil {
			return fmt.Errorf("write %q: %w", p, err)
		}
		line, err := r.ReadLine()
		if err != nil {
			return fmt.Errorf("after %q: %w; the connection must stay open", p, err)
		}
		if !bytes.HasPrefix(line, []byte(lineproto.UpstreamErrorTag)) {
			return fmt.Errorf("after %q with a %s upstream: got %s, want a line starting %q", p, t.Upstream, quote(line), lineproto.UpstreamErrorTag)
		}
		// The drip's body would take 3 s; the timeout is for the whole call.
		if took := time.Since(start); t.Upstream == Drip && took > 2*time.Second {
			return fmt.Errorf("after %q with a %s upstream: the error came after %v; UPSTREAM_TIMEOUT_MS bounds the whole call, body included", p, t.Upstream, took.Round(time.Millisecond))
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	switch extra, err := r.ReadLine(); {
	case err == io.EOF:
		return nil
	case err == nil:
		return fmt.Errorf("an extra answer after the answers: %s", quote(extra))
	default:
		return fmt.Errorf("after half-close: %w", err)
	}
}

// dialUntil connects and gives the connection the case's deadline; what
// names the connection in the error.
func (t Target) dialUntil(ctx context.Context, what string) (net.Conn, error) {
	c, err := t.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return c, nil
}
