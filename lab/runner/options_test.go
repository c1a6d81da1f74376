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
