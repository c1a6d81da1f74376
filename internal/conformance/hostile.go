package conformance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
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
	{Name: "never-reads", Applies: echoOnly, Alone: true, Timeout: 30 * time.Second, Run: neverReads},
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
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		if isTimeout(err) {
			return fmt.Errorf("a bystander's line waited over %v while %s: one client holds up the others", Bystander, while)
		}
		return fmt.Errorf("bystander read while %s: %w (got %s)", while, err, quote(line))
	}
	return same(line, t.answer([]byte(p)))
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
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read after the last byte: %w (got %s)", err, quote(got))
	}
	return same(got, t.answer([]byte("ok")))
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

// neverReads pipelines lines without reading any answer until the server
// stops taking them (its buffers and the socket's are full: a write blocks
// for 300 ms) or 8 MB have gone, asks a bystander meanwhile, then reads:
// every complete line sent gets its answer, in order. A server that
// blocks its whole loop on one client's full socket fails the bystander.
func neverReads(ctx context.Context, t Target) error {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return err
	}
	defer c.Close()
	const limit = 8 << 20
	var sent []byte
	var chunk []byte
	blocked := false
	for n := 0; len(sent) < limit && !blocked; n++ {
		chunk = chunk[:0]
		for i := range 100 {
			chunk = fmt.Appendf(chunk, "never read %07d %s\n", n*100+i, bytes.Repeat([]byte("."), 60))
		}
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		w, err := c.Write(chunk)
		sent = append(sent, chunk[:w]...)
		if err != nil {
			if !isTimeout(err) {
				return fmt.Errorf("write after %s without reading: %w", describe(sent), err)
			}
			blocked = true
		}
	}
	while := fmt.Sprintf("a client has sent %s and read nothing", describe(sent))
	if !blocked {
		while = fmt.Sprintf("a client has sent %s and read nothing, and the server still takes more", describe(sent))
	}
	if err := bystander(ctx, t, "bystander", while); err != nil {
		return err
	}
	var want []byte
	for rest := sent; ; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break // the torn last line is no request
		}
		want = append(want, t.answer(rest[:i])...)
		rest = rest[i+1:]
	}
	var got bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(&got, c)
		done <- err
	}()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return fmt.Errorf("half-close: %w", err)
	}
	if err := <-done; err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return fmt.Errorf("after %s, no close within the case's time (got %s)", while, describe(got.Bytes()))
		}
		return fmt.Errorf("reading the answers after %s: %w (got %s)", while, err, describe(got.Bytes()))
	}
	if err := same(got.Bytes(), want); err != nil {
		return fmt.Errorf("after %s: %w", while, err)
	}
	return nil
}
