package engine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// backend is how one engine's containers and networks are made:
// testcontainers-go on this machine's engine (tcBackend), the Docker
// client alone on a remote one (directBackend, direct.go), which
// testcontainers cannot reach (it has no ssh://, its issue #614). A
// Runtime picks one when it connects and asks nothing else about it.
type backend interface {
	newNetwork(ctx context.Context, labels map[string]string, internal bool) (*Network, error)
	// start creates and starts the container of s; hc sets its host
	// settings (hardened).
	start(ctx context.Context, s Spec, labels map[string]string, hc func(*container.HostConfig)) (*Container, error)
}

// handle is one container's lifecycle as its backend does it.
type handle interface {
	terminate(ctx context.Context, d time.Duration) error
	stop(ctx context.Context, d time.Duration) error
	logs(ctx context.Context) (io.ReadCloser, error)
}

// tcBackend makes containers and networks with testcontainers-go.
type tcBackend struct{ r *Runtime }

func (b tcBackend) newNetwork(ctx context.Context, labels map[string]string, internal bool) (*Network, error) {
	opts := []tcnetwork.NetworkCustomizer{tcnetwork.WithLabels(labels)}
	if internal {
		opts = append(opts, tcnetwork.WithInternal())
	}
	nw, err := tcnetwork.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	return &Network{Name: nw.Name, tc: nw, remove: func(ctx context.Context) error { return nw.Remove(ctx) }}, nil
}

func (b tcBackend) start(ctx context.Context, s Spec, labels map[string]string, hc func(*container.HostConfig)) (*Container, error) {
	var cmd []testcontainers.ContainerCustomizer
	if s.Cmd != nil {
		cmd = append(cmd, testcontainers.WithCmd(s.Cmd...))
	}
	if !s.HostNetwork {
		cmd = append(cmd, tcnetwork.WithNetwork(s.Aliases, s.Network.tc))
	}
	// All host settings in one modifier: the request's own fields are
	// ignored once a modifier is set.
	ctr, err := testcontainers.Run(ctx, s.Image, append(cmd,
		testcontainers.WithEnv(s.Env),
		testcontainers.WithLabels(labels),
		testcontainers.WithHostConfigModifier(hc),
	)...)
	if err != nil {
		if ctr != nil {
			ctr.Terminate(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Image, err)
	}
	return &Container{Name: s.Name, ID: ctr.GetContainerID(), h: tcHandle{ctr}, cli: b.r.cli}, nil
}

// tcHandle is a container testcontainers-go started.
type tcHandle struct{ c testcontainers.Container }

func (h tcHandle) terminate(ctx context.Context, d time.Duration) error {
	return h.c.Terminate(ctx, testcontainers.StopTimeout(d))
}

func (h tcHandle) stop(ctx context.Context, d time.Duration) error { return h.c.Stop(ctx, &d) }

func (h tcHandle) logs(ctx context.Context) (io.ReadCloser, error) { return h.c.Logs(ctx) }
