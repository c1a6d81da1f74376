//go:build docker

package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab/engine"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
)

// sshEngine starts linelab/sshd (lab/engine/sshd/build.sh) on 127.0.0.1
// with this engine's socket inside and a key made for the test, and
// returns DOCKER_HOST and LINELAB_SSH_FLAGS that reach this engine the way
// a remote one is reached: ssh, then `docker system dial-stdio` there. It
// uses the docker command, as a user would.
func sshEngine(t *testing.T) (host, flags string) {
	t.Helper()
	if out, err := exec.Command("docker", "image", "inspect", "linelab/sshd").CombinedOutput(); err != nil {
		t.Fatalf("the image linelab/sshd is missing (%s): build it with make sshd", strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "linelab-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("docker", "run", "-d", "--rm", "-p", "127.0.0.1::22",
		"-v", "/var/run/docker.sock:/var/run/docker.sock", "-e", "AUTHORIZED_KEY="+strings.TrimSpace(string(pub)),
		"--label", "org.linelab.test=sshd", "linelab/sshd").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run linelab/sshd: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	out, err = exec.Command("docker", "port", id, "22/tcp").Output()
	if err != nil {
		t.Fatalf("docker port: %v", err)
	}
	addr := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	_, port, _ := strings.Cut(addr, ":")
	if !strings.HasPrefix(addr, "127.0.0.1:") || port == "" {
		t.Fatalf("sshd published on %q, want 127.0.0.1:<port>", addr)
	}
	// One ssh connection carries every request (ControlMaster): each new
	// connection of the Docker client is otherwise a new login.
	flags = strings.Join([]string{
		"-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "ControlMaster=auto", "-o", "ControlPath=" + filepath.Join(dir, "cm-%C"), "-o", "ControlPersist=60",
	}, " ")
	host = "ssh://root@127.0.0.1:" + port
	// sshd takes a moment to make its host keys.
	deadline := time.Now().Add(30 * time.Second)
	for {
		args := append(strings.Fields(flags), "-p", port, "root@127.0.0.1", "docker", "version", "--format", "{{.Server.Version}}")
		out, err := exec.Command("ssh", args...).CombinedOutput()
		if err == nil {
			t.Logf("the engine through ssh: Docker %s", strings.TrimSpace(string(out)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh to %s never answered: %v: %s", host, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		exec.Command("ssh", "-o", "ControlPath="+filepath.Join(dir, "cm-%C"), "-p", port, "-O", "exit", "root@127.0.0.1").Run()
	})
	return host, flags
}

// TestDockerRemoteSSH runs two short lab runs through an ssh:// engine,
// as the lab would steer another machine's. Everything a run needs must go
// through the engine: the containers made with the Docker client
// (testcontainers has no ssh), readiness probes and the upstream's control
// through the gate container, the conformance suite, the load and the
// canary from driver containers, CPU and memory read from that machine's
// cgroups by the gate. A fault scenario is skipped with why.
//
// Then the servers on the ssh:// engine and the driver on this machine's
// socket, as if they were two machines: the servers publish their port on
// --server-address (127.0.0.1 here) and the driver container dials it
// from its host's network.
func TestDockerRemoteSSH(t *testing.T) {
	host, flags := sshEngine(t)
	t.Setenv(engine.SSHFlagsEnv, flags)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	remoteRun := func(t *testing.T, opts Options) *results.File {
		t.Helper()
		// One server: these runs check the path, not a comparison, and
		// make test is long enough.
		opts.Impls = []string{"go-goroutine"}
		start := time.Now()
		_, dir, err := Run(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the run took %s", time.Since(start).Round(time.Second))
		f, err := results.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.Interrupted != "" || len(f.Failures) > 0 {
			t.Fatalf("interrupted %q, failures %+v", f.Interrupted, f.Failures)
		}
		if f.Environment.Driver != DriverContainer {
			t.Errorf("driver %q, want the container", f.Environment.Driver)
		}
		for _, c := range f.Conformance {
			if !c.Passed {
				t.Errorf("%s failed conformance (%s)", c.Impl, c.Target)
			}
		}
		for _, s := range f.Steps {
			for _, tr := range s.Trials {
				if tr.Driver != DriverContainer || tr.Lines <= 0 || tr.CPUSeconds <= 0 || tr.Canary <= 0 {
					t.Errorf("%s %s/%s trial %d: driver %q, %d lines, %.3f server CPU-s, canary %.0f: want all measured",
						s.Impl, s.Scenario, s.Step, tr.Trial, tr.Driver, tr.Lines, tr.CPUSeconds, tr.Canary)
				}
			}
		}
		rt, err := engine.New(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		if n, m, err := rt.Leftovers(ctx, f.RunID); err != nil || n+m > 0 {
			t.Errorf("left %d containers and %d networks (%v)", n, m, err)
		}
		return f
	}

	t.Run("one engine", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", host)
		opts := dockerOptions(t, t.TempDir())
		opts.Scenarios = []string{"echo-pipelined", "fetch-sweep", "fault-crash"}
		if err := opts.Validate(); err != nil {
			t.Fatal(err)
		}
		local := opts
		local.Driver = DriverLocal
		if err := local.Validate(); err == nil || !strings.Contains(err.Error(), "another machine's") {
			t.Errorf("--driver local on an ssh:// engine: %v, want it refused", err)
		}
		f := remoteRun(t, opts)
		if e := f.Environment.Engine; e == nil || e.Host != host || e.Cores < 1 || f.Environment.DriverEngine != nil {
			t.Errorf("environment: engine %+v, driver engine %+v: want %s recorded, alone", e, f.Environment.DriverEngine, host)
		}
		if len(f.Conformance) != 3 {
			t.Errorf("%d conformance verdicts, want 3 (echo, fetch healthy, fetch failing)", len(f.Conformance))
		}
		trials := map[string]int{}
		for _, s := range f.Steps {
			trials[s.Scenario] += len(s.Trials)
		}
		if want := planned(f); trials["echo-pipelined"] != want["echo-pipelined"] || trials["fetch-sweep"] != want["fetch-sweep"] {
			t.Errorf("trials by scenario %v: want the plan's %v", trials, want)
		}
		if !slices.ContainsFunc(f.Skipped, func(sk results.Skip) bool {
			return sk.Scenario == "fault-crash" && strings.Contains(sk.Why, "remote engine")
		}) {
			t.Errorf("fault-crash not skipped with a reason: %+v", f.Skipped)
		}
	})

	t.Run("two engines", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "")
		opts := dockerOptions(t, t.TempDir())
		opts.Scenarios = []string{"echo-pipelined"}
		opts.ServerEngine, opts.DriverEngine = host, "unix:///var/run/docker.sock"
		if err := opts.Validate(); err == nil || !strings.Contains(err.Error(), "--server-address") {
			t.Errorf("two engines without --server-address: %v, want it asked for", err)
		}
		opts.ServerAddress = "127.0.0.1"
		f := remoteRun(t, opts)
		env := f.Environment
		if env.Engine == nil || env.Engine.Host != host || env.DriverEngine == nil || env.DriverEngine.Host != opts.DriverEngine || env.ServerAddress != "127.0.0.1" {
			t.Errorf("environment: engine %+v, driver engine %+v, server address %q: want both engines and the address recorded", env.Engine, env.DriverEngine, env.ServerAddress)
		}
		if n := len(f.Steps); n != 1 {
			t.Errorf("%d steps, want echo-pipelined's", n)
		}
	})
}

// planned is the plan's trials of each scenario of a run, for one server.
func planned(f *results.File) map[string]int {
	out := map[string]int{}
	for _, sc := range f.Scenarios {
		for _, st := range sc.Steps {
			out[sc.Name] += plan.BaseTrials(sc, st.Name, f.Profile)
		}
	}
	return out
}
