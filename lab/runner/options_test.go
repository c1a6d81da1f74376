package runner

import (
	"slices"
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/engine"
)

func TestPickImpls(t *testing.T) {
	all := []lab.Implementation{{Name: "gevent@bookworm"}, {Name: "gevent@trixie"}, {Name: "go-goroutine"}}
	names := func(is []lab.Implementation) string {
		var out []string
		for _, i := range is {
			out = append(out, i.Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct{ ask, want string }{
		{"", "gevent@bookworm,gevent@trixie,go-goroutine"},
		{"gevent", "gevent@bookworm,gevent@trixie"},
		{"gevent@trixie,go-goroutine", "gevent@trixie,go-goroutine"},
		{"gevent,gevent@trixie,gevent", "gevent@bookworm,gevent@trixie"},
	} {
		var ask []string
		if c.ask != "" {
			ask = strings.Split(c.ask, ",")
		}
		got, err := pickImpls(all, ask)
		if err != nil || names(got) != c.want {
			t.Errorf("pickImpls(%q) = %s, %v; want %s", c.ask, names(got), err, c.want)
		}
	}
	if _, err := pickImpls(all, []string{"gevent@sid"}); err == nil || !strings.Contains(err.Error(), "known: gevent@bookworm") {
		t.Errorf("an unknown name: %v; want an error listing the known ones", err)
	}
}

// TestServerAddressRefusesEveryInterface: the servers publish their port on
// --server-address, so an unspecified address is refused with why.
func TestServerAddressRefusesEveryInterface(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
	t.Setenv("DOCKER_CONTEXT", "")
	for _, addr := range []string{"0.0.0.0", "::", "224.0.0.1"} {
		o := Options{DriverEngine: "tcp://198.51.100.7:2376", ServerAddress: addr}
		if _, err := o.topology(); err == nil || !strings.Contains(err.Error(), "every interface") {
			t.Errorf("--server-address %s: %v; want it refused", addr, err)
		}
	}
	o := Options{DriverEngine: "tcp://198.51.100.7:2376", ServerAddress: "10.0.0.5"}
	if e, err := o.topology(); err != nil || e.ServerAddress != "10.0.0.5" {
		t.Errorf("--server-address 10.0.0.5: %+v, %v", e, err)
	}
}

// TestTopology: the options decide the topology once; a remote servers'
// engine or a driver apart loads from a container and pins nothing here.
func TestTopology(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
	t.Setenv("DOCKER_CONTEXT", "")
	for _, tc := range []struct {
		name                           string
		o                              Options
		load                           string
		steered, gated, apart, helpers bool // helpers: on the driver's cores
	}{
		{"this machine", Options{}, DriverLocal, false, false, false, true},
		{"this machine, driver container", Options{Driver: DriverContainer}, DriverContainer, false, false, false, true},
		{"remote engine", Options{ServerEngine: "ssh://lab@198.51.100.7"}, DriverContainer, true, true, false, true},
		{"driver apart", Options{DriverEngine: "tcp://198.51.100.7:2376", ServerAddress: "10.0.0.5"}, DriverContainer, true, false, true, false},
		{"both remote, apart", Options{ServerEngine: "ssh://lab@198.51.100.8", DriverEngine: "tcp://198.51.100.7:2376", ServerAddress: "10.0.0.5"}, DriverContainer, true, true, true, false},
	} {
		topo, err := tc.o.topology()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if topo.Load != tc.load || topo.steered() != tc.steered || topo.gated() != tc.gated || topo.apart() != tc.apart {
			t.Errorf("%s: load %s steered %v gated %v apart %v; want %s %v %v %v", tc.name, topo.Load, topo.steered(), topo.gated(), topo.apart(), tc.load, tc.steered, tc.gated, tc.apart)
		}
		l := Layout{Driver: []int{0}, Server: []int{1}, Upstream: []int{2}}
		if onDriver := slices.Equal(topo.helperCores(l), l.Driver); onDriver != tc.helpers {
			t.Errorf("%s: helpers on %v; want on the driver's cores: %v", tc.name, topo.helperCores(l), tc.helpers)
		}
		// The agent's image on the driver's engine, and on a remote
		// servers' engine too when the driver is apart from it.
		rt, drt := &engine.Runtime{}, &engine.Runtime{}
		if !topo.apart() {
			drt = rt
		}
		if on := topo.agentOn(rt, drt); on[0] != drt || len(on) != 1+btoi(topo.gated() && topo.apart()) || len(on) == 2 && on[1] != rt {
			t.Errorf("%s: the agent's image checked on %d engines", tc.name, len(on))
		}
		if (topo.String() == "") == tc.steered {
			t.Errorf("%s: says %q", tc.name, topo.String())
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
