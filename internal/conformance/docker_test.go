//go:build docker

package conformance_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/catalog"
	"github.com/linelab/linelab/lab/runtime"
)

// TestDockerConformance judges every server of compose.yaml, each in its own
// container, in echo mode, in fetch mode, and against a failing, a refusing
// and a too slow upstream, with the suite that judges the Go servers
// in-process. It needs the images (`make images`); a missing engine fails it.
func TestDockerConformance(t *testing.T) {
	env := newDockerEnv(t)
	cat := env.catalog
	targets := []struct {
		up      conformance.Upstream
		mode    string
		url     string
		timeout string
	}{
		{conformance.NotFetch, "echo", "http://up-ok:8080", "5000"},
		{conformance.Healthy, "fetch", "http://up-ok:8080", "5000"},
		{conformance.Failing, "fetch", "http://up-503:8080", "5000"},
		{conformance.Refused, "fetch", "http://up-ok:9", "5000"},
		{conformance.TooSlow, "fetch", "http://up-slow:8080", "300"},
	}
	for _, impl := range cat.Servers {
		t.Run(impl.Name, func(t *testing.T) {
			for _, tg := range targets {
				target := conformance.Target{Mode: tg.mode, Upstream: tg.up}
				t.Run(target.Name(), func(t *testing.T) {
					c := env.start(t, impl, map[string]string{"MODE": tg.mode, "UPSTREAM_URL": tg.url, "UPSTREAM_TIMEOUT_MS": tg.timeout})
					target.Addr = c.Addr(7000)
					conformance.Run(t, target)
				})
			}
			t.Run("sigterm", func(t *testing.T) {
				c := env.start(t, impl, map[string]string{"MODE": "echo"})
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
	rt      *runtime.Runtime
	nw      *runtime.Network
	catalog *catalog.Catalog
}

func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cat, err := catalog.Load(ctx, filepath.Join("..", "..", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	rt, err := runtime.New(ctx, runID)
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
	for alias, env2 := range map[string]map[string]string{
		"up-ok":   {"LATENCY": "1ms", "JITTER": "1ms"}, // jitter: fetches finish out of order
		"up-503":  {"ERROR_RATE": "1"},
		"up-slow": {"LATENCY": "3s"},
	} {
		c, err := rt.Start(ctx, runtime.Spec{Image: cat.Upstream.Image, Name: alias, Env: env2, Network: env.nw, Aliases: []string{alias}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Terminate(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	return env
}

func (e *dockerEnv) start(t *testing.T, impl lab.Implementation, env map[string]string) *runtime.Container {
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
	c, err := e.rt.Start(ctx, runtime.Spec{Image: impl.Image, Name: impl.Name, Env: full, Network: e.nw})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if err := runtime.WaitProtocol(ctx, c.Addr(7000)); err != nil {
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
	c, err := e.rt.Start(ctx, runtime.Spec{Image: impl.Image, Name: impl.Name, Env: full, Network: e.nw})
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
