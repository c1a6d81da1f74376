//go:build docker

package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDockerFaults crashes a real container and starts it again, and
// makes its link lossy where this machine can (or says exactly why not).
func TestDockerFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt, err := New(ctx, "test-faults")
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	nw, err := rt.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Remove(context.WithoutCancel(ctx))
	c, err := rt.Start(ctx, Spec{Image: "linelab/go-server", Name: "go-goroutine", Network: nw,
		Env: map[string]string{"MODEL": "goroutine", "MODE": "echo", "PORT": "7000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Terminate(context.WithoutCancel(ctx))
	if err := WaitProtocol(ctx, c.Addr(7000)); err != nil {
		t.Fatal(err)
	}
	pid, _ := c.Pid(ctx)
	began := time.Now()
	ip, err := c.Crash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	if ip != c.IP() || ip == "" {
		t.Fatalf("crash returned %q, the container says %q", ip, c.IP())
	}
	if err := WaitProtocol(ctx, c.Addr(7000)); err != nil {
		t.Fatalf("not answering after the restart: %v", err)
	}
	if again, _ := c.Pid(ctx); again == pid || again == 0 {
		t.Errorf("pid %d before the crash, %d after: want a new process", pid, again)
	}
	t.Logf("killed and started again in %v, address %s", took.Round(time.Millisecond), ip)

	undo, err := c.Netem(ctx, 0.01, 5*time.Millisecond)
	var no *NetemUnavailable
	switch {
	case errors.As(err, &no):
		t.Logf("lossy link unavailable here, as the lab will say: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
