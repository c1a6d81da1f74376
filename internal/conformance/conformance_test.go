package conformance

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/linetest"
)

// liar serves a protocol with one deliberate flaw.
func liar(t *testing.T, answer func(line []byte) []byte) string {
	return linetest.Serve(t, func(c net.Conn, _ int, line []byte) bool {
		_, err := c.Write(answer(line))
		return err == nil
	})
}

// TestTheSuiteCatchesLiars runs the suite against servers that break one
// rule each: every one must fail the cases about that rule.
func TestTheSuiteCatchesLiars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer func([]byte) []byte
		fails  string
	}{
		{"keeps the CR", func(l []byte) []byte { return append(append([]byte("echo: "), l...), '\n') }, "crlf"},
		{"answers twice", func(l []byte) []byte {
			a := append(append([]byte("echo: "), l...), '\n')
			return append(a, a...)
		}, "one-line"},
		{"no limit", func(l []byte) []byte {
			if n := len(l); n > 0 && l[n-1] == '\r' {
				l = l[:n-1]
			}
			return append(append([]byte("echo: "), l...), '\n')
		}, "too-long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i := slices.IndexFunc(Cases(), func(c Case) bool { return c.Name == tt.fails })
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			r := runCase(ctx, Cases()[i], Target{Addr: liar(t, tt.answer), Mode: "echo"})
			if r.Passed {
				t.Errorf("case %s passed a server that %s", tt.fails, tt.name)
			}
		})
	}
}
