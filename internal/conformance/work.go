package conformance

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
)

// workCases check work mode (v1.2): digests, the limit, bad numbers, and
// order when a heavy line comes before light ones. The expected digests
// come from lineproto.AppendWork, whose own tests hold it to digests
// computed apart from Go.
var workCases = []Case{
	{Name: "work-digests", Applies: workOnly, Timeout: 30 * time.Second, Run: func(ctx context.Context, t Target) error {
		// Pipelined in one write; leading zeros hash as sent.
		in, ps := lines("0", "1", "12", "012", "1000\r", "0000005", "31337")
		return expect(ctx, t, t.answers(ps...), in)
	}},
	{Name: "work-limit", Applies: workOnly, Timeout: 40 * time.Second, Run: func(ctx context.Context, t Target) error {
		return workExchange(ctx, t, "1000000", "1000001", "00000000", "7")
	}},
	{Name: "work-bad-numbers", Applies: workOnly, Run: func(ctx context.Context, t Target) error {
		return workExchange(ctx, t, "", "-1", "+1", " 1", "1 ", "1e3", "0x10", "١", "3", "\x00", "12345678", "2")
	}},
	{Name: "work-heavy-then-light", Applies: workOnly, Timeout: 30 * time.Second, Run: func(ctx context.Context, t Target) error {
		// One heavy line ahead of light ones on the same connection: the
		// light answers wait for it (the contract's order), and none is lost.
		ps := []string{"200000"}
		for i := range 50 {
			ps = append(ps, fmt.Sprint(i))
		}
		in, pb := lines(ps...)
		return expect(ctx, t, t.answers(pb...), in)
	}},
}

func workOnly(t Target) bool { return t.Mode == lab.Work }

// workExchange sends the payloads on one connection, pipelined, and holds
// every answer to the contract: a valid N gets its digest byte for byte,
// anything else a line starting "error: work", and the connection stays
// open for what follows.
func workExchange(ctx context.Context, t Target, ps ...string) error {
	in, pb := lines(ps...)
	var want [][]byte
	for _, p := range pb {
		want = append(want, lineproto.AppendWork(nil, p))
	}
	got, err := exchange(ctx, t, len(bytes.Join(want, nil))+len(ps)*200, 0, in)
	if err != nil {
		return err
	}
	gl := splitKeep(got)
	if len(gl) != len(want) {
		return fmt.Errorf("got %d answers to %d work lines: %s", len(gl), len(want), describe(got))
	}
	for i, w := range want {
		if _, ok := lineproto.ParseWork(pb[i]); ok {
			if !bytes.Equal(gl[i], w) {
				return fmt.Errorf("answer %d, to %s: got %s, want %s", i+1, quote(pb[i]), quote(gl[i]), quote(w))
			}
			continue
		}
		if !strings.HasPrefix(string(gl[i]), lineproto.WorkErrorTag) || !bytes.HasSuffix(gl[i], []byte("\n")) {
			return fmt.Errorf("answer %d, to %s (not a number from 0 to %d): got %s, want a line starting %q", i+1, quote(pb[i]), lineproto.MaxWork, quote(gl[i]), lineproto.WorkErrorTag)
		}
	}
	return nil
}
