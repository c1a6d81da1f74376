//go:build docker

package conformance_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/catalog"
	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/metrics"
	"github.com/linelab/linelab/lab/upstream"
)

// TestDockerConformance judges every server of compose.yaml, each in its own
// container, in every setup of the suite (echo; work; fetch against a healthy,
// failing, refusing, slow, redirecting, oversized and dripping upstream, with
// each client discipline), with the suite that judges the Go servers
// in-process. It needs the images (`make images`); a missing engine fails it.
// LINELAB_RELEASE picks the Debian release of the reference images (trixie
// by default): LINELAB_RELEASE=bookworm after `make images RELEASE=bookworm`.
func TestDockerConformance(t *testing.T) {
	env := newDockerEnv(t)
	for _, impl := range env.catalog.Servers {
		t.Run(impl.Name, func(t *testing.T) {
			// The servers are judged a few at once (go test -parallel): most
			// of a setup is waiting, on a container's start or on a case's
			// clock, and each server has its own containers.
			t.Parallel()
			for _, s := range conformance.Setups() {
				if s.Mode != "echo" && impl.Role == lab.RoleFloor {
					continue // the floor only echoes
				}
				t.Run(s.Name(), func(t *testing.T) {
					target := s.Target
					c := env.start(t, impl, s.Env(env.upstreams[s.Behaviour], env.refused), 0)
					target.Addr, target.Memory = c.Addr(7000), memory(t, c)
					conformance.Run(t, target)
				})
			}
			t.Run("pid-limit", func(t *testing.T) {
				const pids = 200
				c := env.start(t, impl, map[string]string{"MODE": "echo"}, pids)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := conformance.PidLimit(ctx, conformance.Target{Addr: c.Addr(7000), Mode: "echo", Pids: pids}); err != nil {
					logs, _ := c.Logs(context.Background())
					t.Errorf("%v\nits output:\n%s", err, logs)
				}
			})
			t.Run("sigterm", func(t *testing.T) {
				c := env.start(t, impl, map[string]string{"MODE": "echo"}, 0)
				took, code, err := c.Stop(context.Background(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if code != 0 || took > 2*time.Second {
					t.Errorf("SIGTERM: exit code %d after %v; want 0 within 2 s", code, took.Round(time.Millisecond))
				}
			})
			t.Run("bad-mode", func(t *testing.T) {
				env.badMode(t, impl)
			})
		})
	}
}

type dockerEnv struct {
	rt      *engine.Runtime
	nw      *engine.Network
	catalog *catalog.Catalog
	// upstreams are the base URLs of the upstream containers by behaviour,
	// by IP: a server resolves nothing (PROTOCOL.md).
	upstreams map[upstream.Behaviour]string
	refused   string // a URL where nothing listens
}

func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cat, err := catalog.LoadReleases(ctx, filepath.Join("..", "..", "compose.yaml"), []string{cmp.Or(os.Getenv("LINELAB_RELEASE"), lab.DefaultRelease)})
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	rt, err := engine.New(ctx, runID)
	if err != nil {
		t.Fatalf("%v\nThe Docker tests need a running engine: start it (systemctl start docker) or run `make test-unit`.", err)
	}
	env := &dockerEnv{rt: rt, catalog: cat}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if env.nw != nil {
			if err := env.nw.Remove(ctx); err != nil {
				t.Error(err)
			}
		}
		if c, n, err := rt.Leftovers(ctx, runID); err != nil || c+n > 0 {
			t.Errorf("left behind %d containers and %d networks (%v)", c, n, err)
		}
		rt.Close()
	})
	if env.nw, err = rt.NewNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	env.upstreams = map[upstream.Behaviour]string{}
	for _, su := range conformance.Setups() {
		if _, ok := env.upstreams[su.Behaviour]; ok || su.Refused {
			continue
		}
		b := su.Behaviour
		c, err := rt.Start(ctx, engine.Spec{Image: cat.Upstream.Image, Name: "upstream", Network: env.nw, Env: map[string]string{
			"LATENCY": b.Latency.String(), "JITTER": b.Jitter.String(), "ERROR_RATE": fmt.Sprint(b.ErrorRate),
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Terminate(context.Background()); err != nil {
				t.Error(err)
			}
		})
		env.upstreams[b] = "http://" + c.Addr(8080)
		env.refused = "http://" + c.Addr(9)
	}
	return env
}

// memory reads c's working set from its cgroup, for the case that floods
// it.
func memory(t *testing.T, c *engine.Container) func() (int64, error) {
	m, err := metrics.Open("/sys/fs/cgroup", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return func() (int64, error) {
		smp, err := m.Read()
		return smp.WorkingSet, err
	}
}

// start starts impl with env added to its own, and pids as its task limit
// (0: the lab's).
func (e *dockerEnv) start(t *testing.T, impl lab.Implementation, env map[string]string, pids int64) *engine.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := map[string]string{}
	for k, v := range impl.Env {
		full[k] = v
	}
	for k, v := range env {
		full[k] = v
	}
	c, err := e.rt.Start(ctx, engine.Spec{Image: impl.Image, Name: impl.Name, Env: full, Network: e.nw, Pids: pids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if err := engine.WaitProtocol(ctx, c.Addr(7000)); err != nil {
		logs, _ := c.Logs(context.Background())
		t.Fatalf("%s: %v\nits output:\n%s", impl.Name, err, logs)
	}
	return c
}

// badMode starts the server with MODE=shout: it must exit non-zero with one
// clear line naming MODE.
func (e *dockerEnv) badMode(t *testing.T, impl lab.Implementation) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := map[string]string{}
	for k, v := range impl.Env {
		full[k] = v
	}
	full["MODE"] = "shout"
	c, err := e.rt.Start(ctx, engine.Spec{Image: impl.Image, Name: impl.Name, Env: full, Network: e.nw, Exits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Terminate(context.Background())
	for {
		st, err := c.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			logs, _ := c.Logs(ctx)
			if st.ExitCode == 0 {
				t.Errorf("MODE=shout: exit code 0, want non-zero")
			}
			if !strings.Contains(logs, "MODE") || !strings.Contains(logs, "shout") {
				t.Errorf("MODE=shout: output %q does not name MODE and the bad value", logs)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("MODE=shout: still running after a minute; a bad MODE must stop the server")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
