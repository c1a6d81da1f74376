package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
)

// TestLocate: an engine is found as the docker command finds it: an
// address as given, DOCKER_HOST first, then DOCKER_CONTEXT, then the
// current context of the configuration, else this machine's socket; a
// context's endpoint comes from the CLI's own store.
func TestLocate(t *testing.T) {
	dir, was := t.TempDir(), config.Dir()
	config.SetDir(dir)
	t.Cleanup(func() { config.SetDir(was) })
	endpoint := func() any { return &docker.EndpointMeta{} }
	s := store.New(config.ContextStoreDir(), store.NewConfig(func() any { return &map[string]any{} }, store.EndpointTypeGetter(docker.DockerEndpoint, endpoint)))
	if err := s.CreateOrUpdate(store.Metadata{Name: "box", Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: "ssh://root@build-box"}}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	check := func(spec, host, ctxName string, remote bool) {
		t.Helper()
		a, err := Locate(spec)
		if err != nil {
			t.Fatalf("Locate(%q): %v", spec, err)
		}
		if a.Host != host || a.Context != ctxName || a.Remote() != remote {
			t.Errorf("Locate(%q) = %+v (remote %v), want host %q, context %q, remote %v", spec, a, a.Remote(), host, ctxName, remote)
		}
	}
	check("", "", "", false)
	check("tcp://10.0.0.5:2376", "tcp://10.0.0.5:2376", "", true)
	check("box", "ssh://root@build-box", "box", true)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext": "box"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	check("", "ssh://root@build-box", "box", true)
	t.Setenv("DOCKER_CONTEXT", "default")
	check("", "", "", false)
	t.Setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
	check("", "unix:///var/run/docker.sock", "", false)
	if _, err := Locate("nowhere"); err == nil || !strings.Contains(err.Error(), "docker context ls") {
		t.Errorf("an unknown context: %v, want the way to list them", err)
	}
}
