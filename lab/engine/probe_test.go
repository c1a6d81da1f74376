package engine

import (
	"bufio"
	"context"
	"net"
	"testing"
)

// TestProbe: a server is ready when it answers "ready" as the contract
// says in some mode (an echo, an upstream error, a work error), not with
// anything else.
func TestProbe(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		answer string
		ready  bool
	}{
		{"echo: ready\n", true},
		{"error: upstream: refused\n", true},
		{"error: work: want a decimal number from 0 to 1000000\n", true},
		{"hello\n", false},
		{"error: line too long\n", false},
	} {
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				bufio.NewReader(server).ReadString('\n')
				server.Write([]byte(c.answer))
			}()
			return client, nil
		}
		if err := probe(context.Background(), "pipe", dial); (err == nil) != c.ready {
			t.Errorf("answer %q: probe said %v, want ready %v", c.answer, err, c.ready)
		}
	}
}
