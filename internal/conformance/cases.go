package conformance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
)

var cases = []Case{
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
		// server must still say why before it closes.
		in := append(bytes.Repeat([]byte("w"), 3*lineproto.MaxLine), "\nhello\n"...)
		return tooLong(ctx, t, nil, in, true)
	}},
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
		got, err := exchangeNoDelay(ctx, t, 2*time.Millisecond, chunks)
		if err != nil {
			return err
		}
		return same(got, t.answers(ps...))
	}},
	{Name: "split-anyhow", Applies: healthyOrEcho, Run: func(ctx context.Context, t Target) error {
		in, ps := lines("stop", "look at the ship\r", "", "yes you are", "treasure\x00map")
		var chunks [][]byte
		for i, n := 0, 1; i < len(in); n = n%7 + 3 {
			j := min(i+n, len(in))
			chunks = append(chunks, in[i:j])
			i = j
		}
		got, err := exchangeNoDelay(ctx, t, time.Millisecond, chunks)
		if err != nil {
			return err
		}
		return same(got, t.answers(ps...))
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
}

// expect sends in as one write and wants exactly want back before the close.
func expect(ctx context.Context, t Target, want, in []byte) error {
	got, err := exchange(ctx, t, 0, in)
	if err != nil {
		return err
	}
	return same(got, want)
}

// exchangeNoDelay is exchange with Nagle off, so each chunk is its own segment.
func exchangeNoDelay(ctx context.Context, t Target, pause time.Duration, chunks [][]byte) ([]byte, error) {
	nt := t
	nt.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := t.dial(ctx)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		return c, err
	}
	return exchange(ctx, nt, pause, chunks...)
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
	br := bufio.NewReader(b)
	ask := func(p string) error {
		if _, err := b.Write([]byte(p + "\n")); err != nil {
			return fmt.Errorf("B write: %w", err)
		}
		line, err := br.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("B read: %w", err)
		}
		return same(line, t.answer([]byte(p)))
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
	r := bufio.NewReader(c)
	for _, p := range []string{"hello", "still there?"} {
		if _, err := c.Write([]byte(p + "\n")); err != nil {
			return fmt.Errorf("write %q: %w", p, err)
		}
		line, err := r.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("after %q: %w (got %s); the connection must stay open", p, err, quote(line))
		}
		if !bytes.HasPrefix(line, []byte(lineproto.UpstreamErrorTag)) {
			return fmt.Errorf("after %q with a %s upstream: got %s, want a line starting %q", p, t.Upstream, quote(line), lineproto.UpstreamErrorTag)
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	rest, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("after half-close: %w", err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("extra bytes after the answers: %s", quote(rest))
	}
	return nil
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
