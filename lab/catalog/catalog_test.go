package catalog

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
)

// TestComposeFileMatchesTheTree loads the real compose.yaml with compose-go
// and checks that it lists exactly the folders under reference/ and the Go
// models under go-server/ (besides variants of a Go model, such as go-lean:
// a model's code with another HTTP_CLIENT), and that every source file it
// names exists.
func TestComposeFileMatchesTheTree(t *testing.T) {
	root := filepath.Join("..", "..")
	c, err := Load(context.Background(), filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	refs, err := os.ReadDir(filepath.Join(root, "reference"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range refs {
		if e.IsDir() && e.Name() != "base" && e.Name() != "common" {
			want = append(want, e.Name())
		}
	}
	models, err := os.ReadDir(filepath.Join(root, "go-server"))
	if err != nil {
		t.Fatal(err)
	}
	isModel := map[string]bool{}
	for _, e := range models {
		// A model is a package with a Serve function (STYLE.md, point 4).
		if e.IsDir() && declaresServe(t, filepath.Join(root, "go-server", e.Name())) {
			want = append(want, "go-"+e.Name())
			isModel[e.Name()] = true
		}
	}
	var got []string
	for _, s := range c.Servers {
		if strings.HasPrefix(s.Name, "go-") && !isModel[strings.TrimPrefix(s.Name, "go-")] {
			if !isModel[s.Env["MODEL"]] || s.Env["HTTP_CLIENT"] == "" {
				t.Errorf("service %s: neither a Go model's own service nor a variant of one (MODEL=%q, HTTP_CLIENT=%q)", s.Name, s.Env["MODEL"], s.Env["HTTP_CLIENT"])
			}
		} else {
			got = append(got, s.Name)
		}
		for _, src := range s.Source {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("service %s: source %s: %v", s.Name, src, err)
			}
		}
		if s.HostPort == "" {
			t.Errorf("service %s: no port published on 127.0.0.1", s.Name)
		}
		// The upstream by address: no fetch waits on Docker's DNS.
		if u, err := url.Parse(s.Env["UPSTREAM_URL"]); s.Role == lab.RoleServer && (err != nil || net.ParseIP(u.Hostname()) == nil || u.Port() != "8080") {
			t.Errorf("service %s: UPSTREAM_URL = %q, want the upstream's fixed address, http://<ip>:8080", s.Name, s.Env["UPSTREAM_URL"])
		}
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("compose.yaml servers:\n  %s\nfolders and Go models:\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if c.Upstream.Name != "upstream" {
		t.Errorf("upstream service = %q", c.Upstream.Name)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	const upstream = `
  upstream:
    image: linelab/upstream
    build: {context: .}
    x-lab: {role: upstream, language: go, runtime: Go, model: net/http, source: [a.go]}
`
	tests := []struct {
		name, yaml, want string
	}{
		{"not compose", "services:\n  a:\n    imagee: x\n" + upstream, "services.a.imagee"},
		{"no x-lab", "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n" + upstream, "service a: no x-lab metadata"},
		{"missing fields", "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n    x-lab: {role: server}\n" + upstream, "x-lab lacks language, model, runtime, source"},
		{"public port", "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n    ports: [\"7001:7000\"]\n    x-lab: {role: server, language: go, runtime: Go, model: m, source: [a.go]}\n" + upstream, "publish on 127.0.0.1 only"},
		{"source outside", "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n    x-lab: {role: server, language: go, runtime: Go, model: m, source: [../../etc/passwd]}\n" + upstream, "want a path inside the repository"},
		{"no scheduling", "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n    x-lab: {role: server, language: go, runtime: Go, model: m, source: [a.go], flow: in-order}\n" + upstream, `x-lab scheduling "": want cooperative`},
		{"bad flow", "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n    x-lab: {role: server, language: go, runtime: Go, model: m, source: [a.go], scheduling: preemptive, flow: sideways}\n" + upstream, `x-lab flow "sideways": want callbacks or in-order`},
		{"no upstream", "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n    x-lab: {role: server, language: go, runtime: Go, model: m, source: [a.go]}\n", "no service has x-lab role upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(context.Background(), p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func declaresServe(t *testing.T, dir string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f, "_test.go") && strings.Contains(string(b), "\nfunc Serve(") {
			return true
		}
	}
	return false
}

// TestLoadReleases: with two releases every reference server appears once
// per release, on that release's image, and the Go servers (the same image
// on every release) once; with one release the names stay plain.
func TestLoadReleases(t *testing.T) {
	path := filepath.Join("..", "..", "compose.yaml")
	one, err := LoadReleases(context.Background(), path, []string{"bookworm"})
	if err != nil {
		t.Fatal(err)
	}
	two, err := LoadReleases(context.Background(), path, []string{"bookworm", "trixie"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]lab.Implementation{}
	for _, s := range two.Servers {
		byName[s.Name] = s
	}
	for _, s := range one.Servers {
		if strings.Contains(s.Name, "@") {
			t.Errorf("one release: name %q has a release", s.Name)
		}
		if s.Release == "" {
			if _, ok := byName[s.Name]; !ok || strings.HasSuffix(s.Image, ":bookworm") {
				t.Errorf("%s (image %s, the same on every release): want it once under its own name", s.Name, s.Image)
			}
			continue
		}
		for _, rel := range []string{"bookworm", "trixie"} {
			got, ok := byName[s.Name+"@"+rel]
			if !ok {
				t.Errorf("no %s@%s among %d servers", s.Name, rel, len(two.Servers))
				continue
			}
			if got.Image != "linelab/"+s.Name+":"+rel || got.Release != rel || got.Service() != s.Name {
				t.Errorf("%s: image %s, release %q, service %q", got.Name, got.Image, got.Release, got.Service())
			}
		}
	}
	if _, err := LoadReleases(context.Background(), path, []string{"potato"}); err == nil {
		t.Error("release potato: want an error")
	}
}

// FuzzXLab puts anything in a service's x-lab block. compose-go and the
// catalogue must not panic; a service the catalogue accepts has everything
// the lab reads from it; a refusal names the file. Seeds: a good block,
// the rejects above, and testdata/fuzz/FuzzXLab.
func FuzzXLab(f *testing.F) {
	for _, s := range []string{
		"{role: server, language: go, runtime: Go, model: m, source: [a.go]}",
		"{role: server}",
		"{role: upstream, language: go, runtime: Go, model: m, source: [a.go]}",
		"{role: floor, language: c, runtime: gcc, model: epoll, source: [floor.c], version: runtime.gcc}",
		"{role: server, language: go, runtime: Go, model: m, source: a.go}",
		"[1, 2]",
		"\"${RELEASE}\"",
		"{role: server, language: go, runtime: Go, model: m, source: [\"\"]}",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, xlab string) {
		if strings.ContainsAny(xlab, "\n\r") {
			return // one flow value; lines of their own are the YAML parser's business, not the catalogue's
		}
		doc := "services:\n  a:\n    image: linelab/a\n    build: {context: .}\n    x-lab: " + xlab + "\n" +
			"  upstream:\n    image: linelab/upstream\n    build: {context: .}\n    x-lab: {role: upstream, language: go, runtime: Go, model: net/http, source: [u.go]}\n"
		p := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(context.Background(), p)
		if err != nil {
			if !strings.HasPrefix(err.Error(), p) {
				t.Fatalf("an error that does not name the file: %v", err)
			}
			return
		}
		if c.Upstream.Name == "" {
			t.Fatal("accepted without an upstream")
		}
		for _, s := range c.Servers {
			if s.Language == "" || s.Runtime == "" || s.Model == "" || len(s.Source) == 0 || !strings.HasPrefix(s.Image, "linelab/") || s.Context == "" ||
				(s.Role != lab.RoleServer && s.Role != lab.RoleFloor) {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}
