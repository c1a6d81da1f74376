// Package catalog reads compose.yaml, the one list of implementations, with
// compose-go (the loader of `docker compose` v2 itself), so the file the lab
// trusts is exactly the file compose accepts. It is the only importer of
// compose-go.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/linelab/linelab/lab"
)

// Catalog is the implementations of compose.yaml.
type Catalog struct {
	Servers  []lab.Implementation // sorted by name; the floor among them
	Upstream lab.Implementation
}

// xLab is the x-lab extension of a service.
type xLab struct {
	Role        string   `mapstructure:"role"`
	Language    string   `mapstructure:"language"`
	Runtime     string   `mapstructure:"runtime"`
	Model       string   `mapstructure:"model"`
	Source      []string `mapstructure:"source"`
	Version     string   `mapstructure:"version"`
	Description string   `mapstructure:"description"`
	Scheduling  string   `mapstructure:"scheduling"`
	Flow        string   `mapstructure:"flow"`
}

// Load reads and validates the compose file at path against the Compose
// Specification, and the x-lab fields against what the lab needs, with the
// images of the default release.
func Load(ctx context.Context, path string) (*Catalog, error) {
	return load(ctx, path, lab.DefaultRelease)
}

// LoadReleases is Load with the reference images of each release. With one
// release the servers keep their names; with more, a server whose image
// depends on the release (its tag is the release, as compose.yaml's
// ${RELEASE} makes it) appears once per release as "<name>@<release>", and
// one whose image is the same on every release (the Go servers) appears
// once.
func LoadReleases(ctx context.Context, path string, releases []string) (*Catalog, error) {
	if len(releases) == 0 {
		return Load(ctx, path)
	}
	var out *Catalog
	for _, rel := range releases {
		if !slices.Contains(lab.Releases, rel) {
			return nil, fmt.Errorf("release %q: want one of %s", rel, strings.Join(lab.Releases, ", "))
		}
		c, err := load(ctx, path, rel)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &Catalog{Upstream: c.Upstream}
		}
		for _, s := range c.Servers {
			switch {
			case s.Release == "" && slices.ContainsFunc(out.Servers, func(o lab.Implementation) bool { return o.Name == s.Name }):
				continue // the same image on every release: once
			case s.Release != "" && len(releases) > 1:
				s.Name += "@" + rel
			}
			out.Servers = append(out.Servers, s)
		}
	}
	sort.SliceStable(out.Servers, func(i, j int) bool { return out.Servers[i].Name < out.Servers[j].Name })
	return out, nil
}

func load(ctx context.Context, path, release string) (*Catalog, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		// Defaults in the file, not this shell's MODE; RELEASE picks the
		// reference images.
		Environment: types.Mapping{"RELEASE": release},
	}
	project, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName("linelab", true)
		o.ResolvePaths = false
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &Catalog{}
	var errs []error
	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		impl, err := fromService(project.Services[name], release)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: service %s: %w", path, name, err))
			continue
		}
		switch impl.Role {
		case lab.RoleServer, lab.RoleFloor:
			c.Servers = append(c.Servers, impl)
		case lab.RoleUpstream:
			if c.Upstream.Name != "" {
				errs = append(errs, fmt.Errorf("%s: services %s and %s both have role upstream", path, c.Upstream.Name, name))
			}
			c.Upstream = impl
		}
	}
	if c.Upstream.Name == "" {
		errs = append(errs, fmt.Errorf("%s: no service has x-lab role upstream", path))
	}
	return c, errors.Join(errs...)
}

func fromService(s types.ServiceConfig, release string) (lab.Implementation, error) {
	var x xLab
	ok, err := s.Extensions.Get("x-lab", &x)
	if err != nil {
		return lab.Implementation{}, fmt.Errorf("x-lab: %w", err)
	}
	if !ok {
		return lab.Implementation{}, errors.New("no x-lab metadata (role, language, runtime, model, source)")
	}
	impl := lab.Implementation{
		Name: s.Name, Role: lab.Role(x.Role), Image: s.Image,
		Language: x.Language, Runtime: x.Runtime, Model: x.Model,
		Source: x.Source, Description: x.Description, Env: map[string]string{},
		Version: x.Version, Scheduling: lab.Scheduling(x.Scheduling), Flow: lab.Flow(x.Flow),
	}
	if strings.HasSuffix(s.Image, ":"+release) {
		impl.Release = release
	}
	if s.Build != nil {
		impl.Context, impl.Dockerfile = s.Build.Context, s.Build.Dockerfile
	}
	for k, v := range s.Environment {
		if v != nil {
			impl.Env[k] = *v
		}
	}
	for _, p := range s.Ports {
		if p.HostIP != "127.0.0.1" {
			return impl, fmt.Errorf("port %s is published on %q; publish on 127.0.0.1 only", p.Published, p.HostIP)
		}
		impl.HostPort = p.Published
	}
	var missing []string
	for field, v := range map[string]string{"role": x.Role, "language": x.Language, "runtime": x.Runtime, "model": x.Model} {
		if v == "" {
			missing = append(missing, field)
		}
	}
	if len(x.Source) == 0 {
		missing = append(missing, "source")
	}
	sort.Strings(missing)
	outside := slices.IndexFunc(x.Source, func(p string) bool { return !filepath.IsLocal(p) })
	switch {
	case len(missing) > 0:
		return impl, fmt.Errorf("x-lab lacks %s", strings.Join(missing, ", "))
	case outside >= 0:
		return impl, fmt.Errorf("x-lab source %q: want a path inside the repository, relative to compose.yaml", x.Source[outside])
	case impl.Role != lab.RoleServer && impl.Role != lab.RoleUpstream && impl.Role != lab.RoleFloor:
		return impl, fmt.Errorf("x-lab role %q: want server, floor or upstream", x.Role)
	case impl.Role != lab.RoleUpstream && impl.Scheduling != lab.Cooperative && impl.Scheduling != lab.Preemptive:
		return impl, fmt.Errorf("x-lab scheduling %q: want cooperative (a handler runs until it would block) or preemptive (threads, goroutines)", x.Scheduling)
	case impl.Role != lab.RoleUpstream && impl.Flow != lab.Callbacks && impl.Flow != lab.InOrder:
		return impl, fmt.Errorf("x-lab flow %q: want callbacks or in-order", x.Flow)
	case !strings.HasPrefix(impl.Image, "linelab/"):
		return impl, fmt.Errorf("image %q: want linelab/<name>", impl.Image)
	case impl.Context == "":
		return impl, errors.New("no build section: every image is built here, nothing is pulled")
	}
	return impl, nil
}
