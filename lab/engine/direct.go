package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// directBackend does what testcontainers does for a local engine with the
// Docker client alone, for a remote one: testcontainers-go cannot reach an
// ssh:// engine (its issue #614), and the Docker client can, through the
// CLI's connection helper.
type directBackend struct{ cli *client.Client }

// newNetwork creates a labelled bridge network for the run.
func (b directBackend) newNetwork(ctx context.Context, labels map[string]string, internal bool) (*Network, error) {
	id := make([]byte, 6)
	rand.Read(id)
	name := "linelab-" + hex.EncodeToString(id)
	if _, err := b.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Internal: internal, Labels: labels}); err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	remove := func(ctx context.Context) error {
		_, err := b.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
		return err
	}
	return &Network{Name: name, remove: remove}, nil
}

// start creates and starts a container as tcBackend does. Without
// testcontainers nothing asks to publish a port: only a driver on another
// machine needs it.
func (b directBackend) start(ctx context.Context, s Spec, labels map[string]string, harden func(*container.HostConfig)) (*Container, error) {
	var env []string
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	hc := &container.HostConfig{}
	harden(hc)
	if s.Publish == "" {
		hc.PortBindings = nil
	}
	var nc *network.NetworkingConfig
	if s.Network != nil {
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network.Name: {Aliases: s.Aliases}}}
	}
	created, err := b.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: s.Image, Env: env, Cmd: s.Cmd, Labels: labels},
		HostConfig: hc, NetworkingConfig: nc,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Image, err)
	}
	c := &Container{Name: s.Name, ID: created.ID, h: directHandle{b.cli, created.ID}, cli: b.cli}
	if _, err := b.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		c.Terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Image, err)
	}
	return c, nil
}

// directHandle is a container the Docker client started.
type directHandle struct {
	cli *client.Client
	id  string
}

// terminate stops the container (SIGTERM, SIGKILL after d) and removes it.
func (h directHandle) terminate(ctx context.Context, d time.Duration) error {
	h.stop(ctx, d)
	_, err := h.cli.ContainerRemove(ctx, h.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return err
}

func (h directHandle) stop(ctx context.Context, d time.Duration) error {
	secs := int(d.Seconds())
	_, err := h.cli.ContainerStop(ctx, h.id, client.ContainerStopOptions{Timeout: &secs})
	return err
}

// logs is the container's output so far, standard output and error in
// one, as testcontainers gives it.
func (h directHandle) logs(ctx context.Context) (io.ReadCloser, error) {
	rc, err := h.cli.ContainerLogs(ctx, h.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 64<<20)); err != nil {
		return nil, err
	}
	return io.NopCloser(&out), nil
}
