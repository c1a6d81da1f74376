package runner

import (
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
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
		if _, err := o.engines(); err == nil || !strings.Contains(err.Error(), "every interface") {
			t.Errorf("--server-address %s: %v; want it refused", addr, err)
		}
	}
	o := Options{DriverEngine: "tcp://198.51.100.7:2376", ServerAddress: "10.0.0.5"}
	if e, err := o.engines(); err != nil || e.ServerAddress != "10.0.0.5" {
		t.Errorf("--server-address 10.0.0.5: %+v, %v", e, err)
	}
}
