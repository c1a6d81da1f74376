package report

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

func environment(f *results.File) []KV {
	e := f.Environment
	return []KV{
		{"CPU", fmt.Sprintf("%s, %d cores", e.CPUModel, e.Cores)},
		{"kernel", e.Kernel},
		{"Docker", e.DockerVersion + ", cgroup v" + e.CgroupVersion},
		{"lab built with", e.GoVersion},
		{"pinning", pinning(e)},
		{"driver", driverKind(e)},
		{"engine", engineKind(e)},
		{"server memory limit", units.Bytes(float64(e.MemoryLimit))},
		{"profile", string(f.Profile)},
		{"started", f.Started.UTC().Format("2006-01-02 15:04:05 UTC")},
		{"finished", f.Finished.UTC().Format("2006-01-02 15:04:05 UTC")},
	}
}

func definition(sc lab.Scenario) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nmode: %s\n", sc.Name, sc.Mode)
	if sc.LatencyBound > 0 {
		fmt.Fprintf(&b, "latency_bound: %s\n", sc.LatencyBound)
	}
	if u := sc.Upstream; u != nil {
		fmt.Fprintf(&b, "upstream: {latency: %s, jitter: %s, error_rate: %g, slow_rate: %g, slow_latency: %s}\n", u.Latency, u.Jitter, u.ErrorRate, u.SlowRate, u.SlowLatency)
	}
	b.WriteString("profiles:\n")
	for _, p := range []lab.Profile{lab.Quick, lab.Standard} {
		s := sc.Profiles[p]
		fmt.Fprintf(&b, "  %s: {duration: %s, warmup: %s, trials: %d}\n", p, s.Duration, s.Warmup, s.Trials)
	}
	b.WriteString("steps:\n")
	for _, st := range sc.Steps {
		fmt.Fprintf(&b, "  - {name: %s, loop: %s, connections: %d", st.Name, st.Loop, st.Connections)
		if st.Depth > 1 {
			fmt.Fprintf(&b, ", depth: %d", st.Depth)
		}
		if st.Rate > 0 {
			fmt.Fprintf(&b, ", rate: %d", st.Rate)
		}
		if st.Quick != nil && st.Quick.Connections > 0 {
			fmt.Fprintf(&b, ", quick: {connections: %d}", st.Quick.Connections)
		}
		if u := st.Upstream; u != nil {
			fmt.Fprintf(&b, ", upstream: {latency: %s, slow_rate: %g, slow_latency: %s}", u.Latency, u.SlowRate, u.SlowLatency)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// pinning says which cores did what, and on which machine when there
// were two.
func pinning(e results.Environment) string {
	p := e.Pinning
	if e.DriverEngine != nil {
		return fmt.Sprintf("servers on %s and upstream on %s of the servers' machine; driver on %s of its own", units.Cores(p.Server), units.Cores(p.Upstream), units.Cores(p.Driver))
	}
	return fmt.Sprintf("servers on %s; driver on %s; upstream on %s", units.Cores(p.Server), units.Cores(p.Driver), units.Cores(p.Upstream))
}

// engineKind says where the containers ran.
func engineKind(e results.Environment) string {
	g, d := e.Engine, e.DriverEngine
	switch {
	case g == nil:
		return "this machine's Docker engine"
	case d != nil:
		return fmt.Sprintf("two machines: the servers and the upstream on %s, the driver and the canary's load on %s, dialling the servers at %s: the figures crossed a real network, and include it. The lab could not read the driver machine's cores: driver-bound is judged by the driver's own CPU and its calibrated ceiling, and a network that held the load is not flagged (a server whose cores idled was held by it or by the driver)",
			machine(g), machine(d), e.ServerAddress)
	}
	return fmt.Sprintf("%s, steered from another machine: the servers, the upstream, the driver and the canary all ran there, and their CPU and memory were read there. The lab could not read that machine's cores: driver-bound is judged by the driver's own CPU and its calibrated ceiling", machine(g))
}

func machine(g *results.Engine) string {
	return fmt.Sprintf("%s, the engine of %s (%s, %d cores, %s)", g.Host, g.Machine, g.OS, g.Cores, units.Bytes(float64(g.Memory)))
}

// driverKind says where the load came from.
func driverKind(e results.Environment) string {
	// Runs before the image was named for its every role called it
	// linelab/driver.
	img, ok := e.Images["agent"]
	if !ok {
		img = e.Images["driver"]
	}
	ref := cmp.Or(img.Ref, "linelab/agent")
	switch {
	case e.DriverEngine != nil:
		return fmt.Sprintf("a %s container per trial and per canary (image %.19s), on its machine's host network", ref, img.ID)
	case e.Engine != nil:
		return fmt.Sprintf("a %s container per trial and per canary (image %.19s), on the run's network", ref, img.ID)
	}
	if e.Driver == "container" {
		return fmt.Sprintf("a %s container per trial (image %.19s), on the run's network; the canary, and any fault step, from the lab process", ref, img.ID)
	}
	return "the lab process (in-process driver)"
}
