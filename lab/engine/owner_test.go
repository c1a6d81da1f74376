package engine

import (
	"os/exec"
	"testing"
)

func TestOwner(t *testing.T) {
	t.Parallel()
	self := Self()
	if self.Start == 0 {
		t.Fatalf("no start time for this process: %+v", self)
	}
	back, ok := ParseOwner(self.String())
	if !ok || back != self {
		t.Fatalf("ParseOwner(%q) = %+v, %v", self.String(), back, ok)
	}
	// A finished child's pid is free: its owner is gone.
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	gone := Owner{Host: self.Host, PID: child.Process.Pid, Start: 1}
	reused := self
	reused.Start++ // the same pid, started at another time: another process
	elsewhere := Owner{Host: self.Host + "-elsewhere", PID: 1, Start: 1}
	for _, tt := range []struct {
		name  string
		o     Owner
		alive bool
	}{
		{"this process", self, true},
		{"a process that ended", gone, false},
		{"a pid given to another process", reused, false},
		{"another host, which cannot be asked", elsewhere, true},
	} {
		if got := tt.o.Alive(); got != tt.alive {
			t.Errorf("%s: Alive() = %v, want %v", tt.name, got, tt.alive)
		}
	}
	for _, bad := range []string{"", "host", "host/x/1", "host/1/x", "a/1/2/3"} {
		if _, ok := ParseOwner(bad); ok {
			t.Errorf("ParseOwner(%q) accepted", bad)
		}
	}
}

func TestRunLeftSays(t *testing.T) {
	t.Parallel()
	x := RunLeft{RunID: "20261202-170000", Owner: "box/4242/99", Containers: 3, Networks: 1, Removed: true}
	if got, want := x.String(), "removed 3 containers and 1 network of run 20261202-170000 (lab process 4242 on box is gone)"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	x.Removed, x.Alive = false, true
	if got, want := x.String(), "run 20261202-170000 is still going (lab process 4242 on box): its 3 containers and 1 network left alone"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestIsRemote(t *testing.T) {
	t.Parallel()
	for host, remote := range map[string]bool{
		"": false, "unix:///var/run/docker.sock": false, "tcp://127.0.0.1:2375": false, "tcp://localhost:2376": false, "tcp://[::1]:2375": false,
		"tcp://10.0.0.5:2376": true, "ssh://root@build-box": true, "ssh://root@127.0.0.1:2222": true, "not a url\x7f": true,
	} {
		if got := IsRemote(host); got != remote {
			t.Errorf("IsRemote(%q) = %v, want %v", host, got, remote)
		}
	}
}

// FuzzParseOwner: a container's owner label is anyone's to set; what
// ParseOwner accepts prints back as the same label.
func FuzzParseOwner(f *testing.F) {
	for _, s := range []string{"box/123/456", "box/-1/0", "a/b/c", "", "//", "h/1/18446744073709551615", "h/1/2/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		o, ok := ParseOwner(label)
		if !ok {
			return
		}
		if again, ok := ParseOwner(o.String()); !ok || again != o {
			t.Errorf("ParseOwner(%q) = %+v, which prints as %q and reads back as %+v, %v", label, o, o.String(), again, ok)
		}
	})
}
