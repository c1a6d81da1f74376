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

// What testcontainers does for a local engine, done with the Docker
// client alone for a remote one: testcontainers-go cannot reach an ssh://
// engine (its issue #614), and the Docker client can, through the CLI's
// connection helper.

// newNetworkDirect creates a labelled bridge network for the run.
func (r *Runtime) newNetworkDirect(ctx context.Context, internal bool) (*Network, error) {
	b := make([]byte, 6)
	rand.Read(b)
	name := "linelab-" + hex.EncodeToString(b)
	if _, err := r.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Internal: internal, Labels: r.labels(nil)}); err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	return &Network{Name: name, cli: r.cli}, nil
}

// startDirect creates and starts a container as startTC does.
func (r *Runtime) startDirect(ctx context.Context, s Spec, bindings network.PortMap) (*Container, error) {
	var env []string
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	hc := &container.HostConfig{}
	hardened(hc, s, bindings)
	var nc *network.NetworkingConfig
	if s.Network != nil {
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network.Name: {Aliases: s.Aliases}}}
	}
	created, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: s.Image, Env: env, Cmd: s.Cmd,
			Labels: r.labels(map[string]string{"org.linelab.impl": s.Name}),
		},
		HostConfig: hc, NetworkingConfig: nc,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Image, err)
	}
	c := &Container{Name: s.Name, ID: created.ID, cli: r.cli}
	if s.Network != nil {
		c.network = s.Network.Name
	}
	if _, err := r.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		c.Terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Image, err)
	}
	return c, nil
}

// terminateDirect stops the container (SIGTERM, SIGKILL after d) and
// removes it.
func (c *Container) terminateDirect(ctx context.Context, d time.Duration) error {
	secs := int(d.Seconds())
	c.cli.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs})
	_, err := c.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return err
}

func (c *Container) stopDirect(ctx context.Context, d time.Duration) error {
	secs := int(d.Seconds())
	_, err := c.cli.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs})
	return err
}

// logsDirect is the container's output so far, standard output and
// error in one, as testcontainers gives it.
func (c *Container) logsDirect(ctx context.Context) (io.ReadCloser, error) {
	rc, err := c.cli.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
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
