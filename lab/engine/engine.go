package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/docker/cli/cli/connhelper"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/metrics"
	"github.com/moby/moby/client"
)

// SSHFlagsEnv names extra ssh flags (split on spaces) for an ssh://
// engine, for what ~/.ssh/config does not say: a key, a known-hosts file.
const SSHFlagsEnv = "LINELAB_SSH_FLAGS"

// IsRemote says whether host (a DOCKER_HOST value) names an engine that
// may be on another machine: anything but this machine's socket or a
// loopback tcp address. An ssh:// engine counts as remote even on
// 127.0.0.1: the lab reaches it only through ssh.
func IsRemote(host string) bool {
	u, err := url.Parse(host)
	if host == "" || err == nil && (u.Scheme == "unix" || u.Scheme == "npipe") {
		return false
	}
	if err == nil && u.Scheme == "tcp" {
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); h == "localhost" || err == nil && a.IsLoopback() {
			return false
		}
	}
	return true
}

// sshOpts are the Docker client's options for an ssh:// engine.
func sshOpts(host string) ([]client.Opt, error) {
	helper, err := connhelper.GetConnectionHelperWithSSHOpts(host, strings.Fields(os.Getenv(SSHFlagsEnv)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	// Every new connection is an ssh process: keep a few idle ones, so
	// that requests reuse them.
	hc := &http.Client{Transport: &http.Transport{DialContext: helper.Dialer, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}}
	return []client.Opt{
		client.WithHTTPClient(hc), client.WithHost(helper.Host), client.WithDialContext(helper.Dialer),
		client.WithAPIVersionNegotiation(),
	}, nil
}

// Remote says whether the engine is remote (IsRemote): then the lab can
// neither dial its containers nor read their cgroups, and Dialer and
// Sampler go through the gate container.
func (r *Runtime) Remote() bool { return r.remote }

// Address is the engine's address.
func (r *Runtime) Address() Address { return r.addr }

// Machine is what the engine says of the machine it runs on.
type Machine struct {
	Name, Kernel, OS string
	Cores            int
	Memory           int64
}

// Machine asks the engine.
func (r *Runtime) Machine(ctx context.Context) (Machine, error) {
	info, err := r.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Machine{}, fmt.Errorf("docker info: %w", err)
	}
	i := info.Info
	return Machine{Name: i.Name, Kernel: i.KernelVersion, OS: i.OperatingSystem, Cores: i.NCPU, Memory: i.MemTotal}, nil
}

// GateCgroup is where the gate container has the host's cgroup file
// system, read-only: GateBinds mounts it.
const GateCgroup = "/host/cgroup"

// GateBinds are the gate container's mounts (Spec.Binds).
var GateBinds = []string{"/sys/fs/cgroup:" + GateCgroup + ":ro"}

// Sampler samples a container's CPU, memory and threads from its cgroup
// files ten times a second: on a local engine from this machine's, on a
// remote one from that machine's, read by `sample` in the gate container
// and streamed here through the Docker API. (The engine's own stats
// endpoint needs no gate, but Docker collects its figures once a second,
// too coarse for a step of 300 ms, and answers each request only then.)
func (r *Runtime) Sampler(c *Container) (*metrics.Sampler, error) {
	if !r.remote {
		return metrics.Start(c.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := r.execGate(ctx, []string{"/agent", "sample", GateCgroup, c.ID}, driver.GateSampling, "sample "+c.Name)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(conn)
	return metrics.StartStream(func() (metrics.Sample, error) {
		var smp metrics.Sample
		err := dec.Decode(&smp)
		return smp, err
	}, func() { conn.Close() }), nil
}

// Dialer connects to addresses on the run's network: directly on a local
// engine; on a remote one through the gate container (SetGate), whose
// `dial` command the engine runs by exec, its standard input and output
// being the connection. It is for the lab's control connections only (the
// readiness probe, the upstream's control endpoint): load never goes
// through it, nor the conformance suite, which runs on the network itself.
func (r *Runtime) Dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if !r.remote {
		d := net.Dialer{Timeout: 5 * time.Second}
		return d.DialContext
	}
	return r.dialGate
}

// SetGate names the container on the run's network that carries the
// lab's connections to it on a remote engine (an image with `dial`).
func (r *Runtime) SetGate(c *Container) { r.gate.Store(c) }
