// Package engine runs the lab's containers. It is the only importer of
// testcontainers-go, of the Docker client (github.com/moby/moby/client,
// the SDK testcontainers itself uses) and of the Docker CLI's connection
// helper and context store (github.com/docker/cli), which reach an engine
// on another machine (address.go, engine.go). One backend makes the
// containers and networks of an engine (backend.go): testcontainers-go on
// this machine's, the Docker client alone on another's (direct.go), where
// the lab reaches the run's network and the machine's cgroups through a
// gate container (gate.go).
//
// What it believes, each checked on the lab's machines: Ryuk cannot be
// pulled, so it is off and everything the lab creates carries the label
// org.linelab.managed, which Sweep removes once the lab process that made
// it (org.linelab.owner) is gone;
// testcontainers' Host() answers with the default gateway here, so the lab
// never uses it and dials container addresses on its own network instead;
// every call has a deadline, since a missing image would otherwise mean
// minutes of pull retries.
package engine

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Labels the lab puts on what it creates. They must not start with
// org.testcontainers, which testcontainers keeps for itself.
const (
	LabelManaged = "org.linelab.managed"
	LabelRun     = "org.linelab.run"
)

var setupOnce sync.Once

// setup sets what testcontainers reads once, before its first call.
func setup() {
	setupOnce.Do(func() {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true") // exactly "true"; "1" leaves Ryuk on
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
		// One line per container start and stop would bury the lab's own
		// progress; errors still come back as errors.
		tclog.SetDefault(tclog.NewNoopLogger())
	})
}

// ErrNoEngine is returned by New when no Docker engine answers.
var ErrNoEngine = errors.New("no Docker engine answers")

// Runtime creates and removes the containers and networks of one run.
type Runtime struct {
	cli   *client.Client
	runID string
	owner Owner // this process, on every label
	// remote: the engine is not this machine's (IsRemote): its containers
	// and networks are made with the Docker client alone (backend), its
	// network and cgroups reached through the gate.
	remote bool
	be     backend
	addr   Address
	gate   atomic.Pointer[Container] // the way onto a remote run's network
}

// New connects to the Docker engine the docker command would use (Locate)
// and checks that it answers. runID labels everything this Runtime creates.
func New(ctx context.Context, runID string) (*Runtime, error) {
	addr, err := Locate("")
	if err != nil {
		return nil, err
	}
	return NewOn(ctx, runID, addr, Self())
}

// NewAs is New for a Runtime whose containers and networks name owner as
// the lab process that made them: a test plays an earlier lab with it.
func NewAs(ctx context.Context, runID string, owner Owner) (*Runtime, error) {
	addr, err := Locate("")
	if err != nil {
		return nil, err
	}
	return NewOn(ctx, runID, addr, owner)
}

// NewOn connects to the engine at addr.
func NewOn(ctx context.Context, runID string, addr Address, owner Owner) (*Runtime, error) {
	setup()
	opts, err := addr.clientOpts()
	if err != nil {
		return nil, err
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", addr, err)
	}
	// ssh starts a process and logs in before the first answer.
	wait := 5 * time.Second
	if addr.Remote() {
		wait = 30 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w at %s (%v)", ErrNoEngine, addr, err)
	}
	r := &Runtime{cli: cli, runID: runID, owner: owner, remote: addr.Remote(), addr: addr}
	r.be = tcBackend{r}
	if r.remote {
		r.be = directBackend{cli}
	}
	return r, nil
}

// Close releases the client.
func (r *Runtime) Close() error { return r.cli.Close() }

func (r *Runtime) labels(extra map[string]string) map[string]string {
	l := map[string]string{LabelManaged: "true", LabelRun: r.runID, LabelOwner: r.owner.String()}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// Network is a private bridge network of the run.
type Network struct {
	Name   string
	tc     *testcontainers.DockerNetwork // testcontainers' own, on this machine's engine
	remove func(context.Context) error
}

// NewNetwork creates a labelled bridge network for the run, internal:
// nothing on it needs to reach past it (the servers' upstream is on it
// too), so Docker gives it no route out. On Docker 20.10 this machine
// still reaches an internal network's containers by their address, which
// is all the lab needs.
func (r *Runtime) NewNetwork(ctx context.Context) (*Network, error) {
	return r.newNetwork(ctx, true)
}

// NewPublishingNetwork is NewNetwork for servers that publish their port
// to another machine's driver (two engines): Docker publishes no port of a
// container on an internal network.
func (r *Runtime) NewPublishingNetwork(ctx context.Context) (*Network, error) {
	return r.newNetwork(ctx, false)
}

func (r *Runtime) newNetwork(ctx context.Context, internal bool) (*Network, error) {
	return r.be.newNetwork(ctx, r.labels(nil), internal)
}

// Remove removes the network.
func (n *Network) Remove(ctx context.Context) error {
	if err := n.remove(ctx); err != nil {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	return nil
}

// Spec is a container to start.
type Spec struct {
	Image   string
	Name    string            // a readable label; the container name stays Docker's
	Env     map[string]string // environment
	Network *Network          // required: the run's network
	Aliases []string          // names on that network
	Cpuset  string            // cores, e.g. "1"; empty for any
	Memory  int64             // bytes; 0 for lab.Hardened.Memory
	Pids    int64             // task limit; 0 for lab.Hardened.Pids
	Cmd     []string          // arguments after the image's entrypoint; nil for its own
	Binds   []string          // host paths to mount, "src:dst:ro"
	// Publish is the host address to publish the image's ports on (the
	// servers', for a driver on another machine); "" for loopback, and
	// nothing at all on a remote engine.
	Publish string
	// HostNetwork: the host's network instead of Network (a driver that
	// dials another machine's published port).
	HostNetwork bool
	// Exits: the process is expected to stop by itself (a bad
	// configuration under test), so a container that is already gone
	// from its network is returned without an address instead of as an
	// error: a C server refusing MODE exits before it can be inspected.
	Exits bool
}

// Start starts a container from an image that must already exist (nothing
// is pulled) and returns once Docker reports it running.
func (r *Runtime) Start(ctx context.Context, s Spec) (*Container, error) {
	if s.Network == nil && !s.HostNetwork {
		return nil, errors.New("start container: no network given")
	}
	if ok, err := r.ImageExists(ctx, s.Image); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("image %s does not exist; build it with `make images`", s.Image)
	}
	img, err := r.cli.ImageInspect(ctx, s.Image)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", s.Image, err)
	}
	// testcontainers publishes every port the image exposes, on all
	// interfaces by default. The lab dials containers on its own network
	// and needs none, but cannot turn that off; so each is published on
	// loopback only. On 0.0.0.0 a random host port collides with the
	// source ports of the lab's own connections (c10k leaves thousands),
	// and Docker fails the start with "address already in use".
	host := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if s.Publish != "" {
		if host, err = netip.ParseAddr(s.Publish); err != nil {
			return nil, fmt.Errorf("start %s: publish on %q: %w", s.Name, s.Publish, err)
		}
	}
	bindings := network.PortMap{}
	if img.Config != nil && !s.HostNetwork {
		for text := range img.Config.ExposedPorts {
			if p, err := network.ParsePort(text); err == nil {
				bindings[p] = []network.PortBinding{{HostIP: host, HostPort: "0"}}
			}
		}
	}
	labels := r.labels(map[string]string{"org.linelab.impl": s.Name})
	c, err := r.be.start(ctx, s, labels, func(hc *container.HostConfig) { hardened(hc, s, bindings) })
	if err != nil {
		return nil, err
	}
	if s.Network != nil {
		c.network = s.Network.Name
	}
	if s.HostNetwork {
		return c, nil
	}
	err = c.readIP(ctx)
	if c.IP() == "" && !s.Exits {
		c.Terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start %s: no address on network %s (%v)", s.Name, s.Network.Name, err)
	}
	return c, nil
}

// hardened sets the host settings of every container the lab starts:
// lab.Hardened, the cpuset, the memory limit, and ports on loopback only.
func hardened(hc *container.HostConfig, s Spec, bindings network.PortMap) {
	init := true
	hc.Init = &init
	hc.PortBindings = bindings
	hc.CpusetCpus = s.Cpuset
	hc.Memory = cmp.Or(s.Memory, lab.Hardened.Memory)
	hc.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 20000, Hard: 20000}}
	hc.ReadonlyRootfs = lab.Hardened.ReadOnlyRoot
	hc.CapDrop = lab.Hardened.CapDrop
	if s.HostNetwork {
		hc.NetworkMode = "host"
	}
	if lab.Hardened.NoNewPrivileges {
		hc.SecurityOpt = []string{"no-new-privileges:true"}
	}
	hc.Tmpfs = map[string]string{}
	for _, t := range lab.Hardened.Tmpfs {
		path, opts, _ := strings.Cut(t, ":")
		hc.Tmpfs[path] = opts
	}
	pids := cmp.Or(s.Pids, lab.Hardened.Pids)
	hc.PidsLimit = &pids
	hc.Binds = s.Binds
}

// RunToEnd starts a container that ends by itself (Spec.Cmd its job),
// waits for it to end, and returns its output and exit code; the container
// is removed in any case. Ending ctx stops it.
func (r *Runtime) RunToEnd(ctx context.Context, s Spec) (out []byte, code int, err error) {
	s.Exits = true
	c, err := r.Start(ctx, s)
	if err != nil {
		return nil, -1, err
	}
	defer c.Terminate(context.WithoutCancel(ctx))
	wait := r.cli.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-wait.Result:
		code = int(res.StatusCode)
	case err := <-wait.Error:
		return nil, -1, fmt.Errorf("wait for %s to end: %w", s.Name, err)
	}
	rc, err := c.h.logs(context.WithoutCancel(ctx))
	if err != nil {
		return nil, code, fmt.Errorf("output of %s: %w", s.Name, err)
	}
	defer rc.Close()
	out, err = io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return out, code, fmt.Errorf("output of %s: %w", s.Name, err)
	}
	return out, code, nil
}

// ImageExists reports whether ref is in the engine's image store.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := r.cli.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if strings.Contains(strings.ToLower(err.Error()), "no such image") {
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// KillRunning sends SIGKILL to the lab's running (not paused) containers
// of implementation impl, of this Runtime's run ("" for any run), and
// returns how many it killed: a crash on purpose.
func (r *Runtime) KillRunning(ctx context.Context, impl string) (int, error) {
	f := client.Filters{}.Add("label", LabelManaged+"=true").Add("label", "org.linelab.impl="+impl).Add("status", "running")
	if r.runID != "" {
		f = f.Add("label", LabelRun+"="+r.runID)
	}
	cs, err := r.cli.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	n := 0
	for _, c := range cs.Items {
		if _, err := r.cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			return n, fmt.Errorf("kill container %.12s: %w", c.ID, err)
		}
		n++
	}
	return n, nil
}

// Leftovers counts the lab's containers and networks of run runID ("" for
// any run) that still exist.
func (r *Runtime) Leftovers(ctx context.Context, runID string) (containers, networks int, err error) {
	f := client.Filters{}.Add("label", LabelManaged+"=true")
	if runID != "" {
		f = f.Add("label", LabelRun+"="+runID)
	}
	cs, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, 0, err
	}
	ns, err := r.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return 0, 0, err
	}
	return len(cs.Items), len(ns.Items), nil
}

// WaitProtocol waits until addr answers one line: "ready\n" must come back
// as an echo, or as the error line the contract gives it in fetch mode (an
// upstream error) or work mode (not a number). It is the readiness probe:
// an open port alone does not mean a server that speaks.
func WaitProtocol(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	return waitProtocol(ctx, addr, d.DialContext)
}

// WaitProtocol is the readiness probe through Dialer: it reaches a remote
// engine's containers too.
func (r *Runtime) WaitProtocol(ctx context.Context, addr string) error {
	return waitProtocol(ctx, addr, r.Dialer())
}

func waitProtocol(ctx context.Context, addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	var last error
	for {
		last = probe(ctx, addr, dial)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never answered a line: %w", addr, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func probe(ctx context.Context, addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := dial(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("ready\n")); err != nil {
		return err
	}
	// The answer to "ready" is short: a server that streams without end
	// gets no more of the lab's memory than this.
	line, err := bufio.NewReader(io.LimitReader(c, 64<<10)).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, lineproto.EchoPrefix) && !strings.HasPrefix(line, lineproto.UpstreamErrorTag) && !strings.HasPrefix(line, lineproto.WorkErrorTag) {
		return fmt.Errorf("answered %q", line)
	}
	return nil
}

// ImageInfo is what the results record of an image.
type ImageInfo struct {
	ID     string
	Size   int64
	Labels map[string]string
}

// Image inspects ref.
func (r *Runtime) Image(ctx context.Context, ref string) (ImageInfo, error) {
	ins, err := r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	info := ImageInfo{ID: ins.ID, Size: ins.Size}
	if ins.Config != nil {
		info.Labels = ins.Config.Labels
	}
	return info, nil
}

// Engine is the Docker engine's version and cgroup version.
func (r *Runtime) Engine(ctx context.Context) (version, cgroup string, err error) {
	v, err := r.cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", "", fmt.Errorf("docker version: %w", err)
	}
	info, err := r.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return v.Version, "", fmt.Errorf("docker info: %w", err)
	}
	return v.Version, info.Info.CgroupVersion, nil
}
