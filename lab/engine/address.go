package engine

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	"github.com/moby/moby/client"
)

// Address is a Docker engine as the docker command names it.
type Address struct {
	Host    string // its endpoint (unix://, tcp://, ssh://); "" for this machine's socket
	Context string // the Docker context it came from; "" for none
	ep      *docker.Endpoint
}

// Locate resolves spec the way `docker --host` and `docker --context` do:
// a spec with "://" is an engine's address, any other a context's name,
// and "" what the docker command would use: DOCKER_HOST, else
// DOCKER_CONTEXT, else the current context of its configuration
// (~/.docker/config.json, or DOCKER_CONFIG), else this machine's socket.
// Contexts are read with the Docker CLI's own store, TLS material included.
func Locate(spec string) (Address, error) {
	switch {
	case strings.Contains(spec, "://"):
		return Address{Host: spec}, nil
	case spec != "":
		return fromContext(spec)
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return Address{Host: h}, nil
	}
	name := os.Getenv("DOCKER_CONTEXT")
	if name == "" {
		if cf, err := config.Load(config.Dir()); err == nil {
			name = cf.CurrentContext
		}
	}
	if name == "" || name == "default" {
		return Address{}, nil
	}
	return fromContext(name)
}

func fromContext(name string) (Address, error) {
	if name == "default" {
		return Address{Context: name}, nil
	}
	endpoint := func() any { return &docker.EndpointMeta{} }
	s := store.New(config.ContextStoreDir(), store.NewConfig(func() any { return &map[string]any{} }, store.EndpointTypeGetter(docker.DockerEndpoint, endpoint)))
	meta, err := s.GetMetadata(name)
	if err != nil {
		return Address{}, fmt.Errorf("Docker context %q: %w; `docker context ls` lists them", name, err)
	}
	em, err := docker.EndpointFromContext(meta)
	if err != nil {
		return Address{}, fmt.Errorf("Docker context %q: %w", name, err)
	}
	ep, err := docker.WithTLSData(s, name, em)
	if err != nil {
		return Address{}, fmt.Errorf("Docker context %q: %w", name, err)
	}
	return Address{Host: em.Host, Context: name, ep: &ep}, nil
}

// Remote says whether the engine may be another machine's (IsRemote).
func (a Address) Remote() bool { return IsRemote(a.Host) }

func (a Address) String() string {
	host := a.Host
	if host == "" {
		host = "this machine's socket"
	}
	if a.Context != "" {
		return fmt.Sprintf("%s (Docker context %s)", host, a.Context)
	}
	return host
}

// clientOpts are the Docker client's options for the engine. ssh:// goes
// through the Docker CLI's own connection helper (it runs `ssh …
// docker system dial-stdio`, as `docker -H ssh://…` does), with
// LINELAB_SSH_FLAGS; a context's tcp:// with its TLS material as the CLI
// loads it; a tcp:// address with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
func (a Address) clientOpts() ([]client.Opt, error) {
	switch {
	case strings.HasPrefix(a.Host, "ssh://"):
		return sshOpts(a.Host)
	case a.ep != nil:
		opts, err := a.ep.ClientOpts()
		return append(opts, client.WithAPIVersionNegotiation()), err
	case a.Host != "":
		return []client.Opt{client.FromEnv, client.WithHost(a.Host), client.WithAPIVersionNegotiation()}, nil
	}
	return []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}, nil
}
