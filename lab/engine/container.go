package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Container is a started container.
type Container struct {
	Name    string
	ID      string
	ip      atomic.Pointer[string] // on the run's network; a restart may change it
	network string
	h       handle // as its backend stops, removes and reads it
	cli     *client.Client
}

// IP is the container's address on the run's network ("" if it has none).
func (c *Container) IP() string {
	if p := c.ip.Load(); p != nil {
		return *p
	}
	return ""
}

// Addr is host:port of the container on the run's network.
func (c *Container) Addr(port int) string {
	return net.JoinHostPort(c.IP(), fmt.Sprint(port))
}

func (c *Container) readIP(ctx context.Context) error {
	ins, err := c.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ip := ""
	if ep, ok := ins.Container.NetworkSettings.Networks[c.network]; ok && ep.IPAddress.IsValid() {
		ip = ep.IPAddress.String()
	}
	c.ip.Store(&ip)
	return nil
}

// Published is where the container's port is published on its engine's
// host (Spec.Publish): host:port.
func (c *Container) Published(ctx context.Context, port int) (string, error) {
	ins, err := c.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", c.Name, err)
	}
	p, err := network.ParsePort(fmt.Sprintf("%d/tcp", port))
	if err != nil {
		return "", err
	}
	for _, b := range ins.Container.NetworkSettings.Ports[p] {
		if b.HostPort != "" && b.HostIP.IsValid() {
			return net.JoinHostPort(b.HostIP.String(), b.HostPort), nil
		}
	}
	return "", fmt.Errorf("%s publishes no port %d (its image must EXPOSE it)", c.Name, port)
}

// Crash kills every process of the container with SIGKILL, as a crash
// would, waits until Docker has seen it stop, and starts it again at once,
// as a supervisor would (same container: its settings, cgroup and name;
// its address may change). It returns the address the container has now.
func (c *Container) Crash(ctx context.Context) (string, error) {
	if _, err := c.cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return "", fmt.Errorf("kill %s: %w", c.Name, err)
	}
	for {
		st, err := c.State(ctx)
		if err != nil {
			return "", err
		}
		if !st.Running {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("kill %s: still running: %w", c.Name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, err := c.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("start %s again: %w", c.Name, err)
	}
	if err := c.readIP(ctx); err != nil {
		return "", fmt.Errorf("inspect %s after its restart: %w", c.Name, err)
	}
	if c.IP() == "" {
		return "", fmt.Errorf("%s has no address on %s after its restart", c.Name, c.network)
	}
	return c.IP(), nil
}

// Pid is the container's first process as the host sees it (0 when it
// is not running).
func (c *Container) Pid(ctx context.Context) (int, error) {
	st, err := c.State(ctx)
	if err != nil {
		return 0, err
	}
	return st.Pid, nil
}

// Terminate stops (SIGTERM, then SIGKILL after 5 s) and removes the container.
func (c *Container) Terminate(ctx context.Context) error {
	if st, err := c.State(ctx); err == nil && st.Paused {
		// A frozen container cannot take the signal that stops it.
		c.Unpause(ctx)
	}
	d := 5 * time.Second
	if err := c.h.terminate(ctx, d); err != nil {
		return fmt.Errorf("remove container %s: %w", c.Name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to timeout; it returns how long the stop
// took and the exit code.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) (time.Duration, int, error) {
	start := time.Now()
	if err := c.h.stop(ctx, timeout); err != nil {
		return 0, 0, fmt.Errorf("stop %s: %w", c.Name, err)
	}
	took := time.Since(start)
	st, err := c.State(ctx)
	if err != nil {
		return took, 0, err
	}
	return took, st.ExitCode, nil
}

// Pause freezes every process of the container (Docker's pause, the
// cgroup freezer): it keeps its memory and sockets and uses no CPU.
func (c *Container) Pause(ctx context.Context) error {
	if _, err := c.cli.ContainerPause(ctx, c.ID, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", c.Name, err)
	}
	return nil
}

// Unpause lets a paused container run again.
func (c *Container) Unpause(ctx context.Context) error {
	if _, err := c.cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %w", c.Name, err)
	}
	return nil
}

// State is the container's state as Docker inspects it.
func (c *Container) State(ctx context.Context) (*container.State, error) {
	ins, err := c.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", c.Name, err)
	}
	return ins.Container.State, nil
}

// Logs returns the container's output so far (stdout and stderr together).
func (c *Container) Logs(ctx context.Context) (string, error) {
	rc, err := c.h.logs(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", c.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	return string(b), err
}
