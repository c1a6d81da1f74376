// Command go-server serves the linelab line protocol with one of the Go
// concurrency models, chosen by MODEL=goroutine|eventloop, and fetches with
// HTTP_CLIENT=net/http (the default) or fasthttp (go-lean). Everything else
// is the contract's environment: PORT, MODE, UPSTREAM_URL,
// UPSTREAM_TIMEOUT_MS, UPSTREAM_CLIENT.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/linelab/linelab/go-server/eventloop"
	"github.com/linelab/linelab/go-server/goroutine"
	"github.com/linelab/linelab/go-server/lean"
	"github.com/linelab/linelab/go-server/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintf(os.Stderr, "go-server: %v\n", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, if not nil, gets the bound address.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(net.Addr)) error {
	cfg, err := server.FromEnv(getenv)
	if err != nil {
		return err
	}
	var fetcher server.Upstream = server.NewFetcher(cfg.UpstreamURL, cfg.UpstreamTimeout, cfg.UpstreamClient)
	if cfg.HTTPClient == server.FastHTTP {
		if fetcher, err = lean.New(ctx, cfg.UpstreamURL, cfg.UpstreamTimeout, cfg.UpstreamClient); err != nil {
			return err
		}
	}
	defer fetcher.Close()
	addr := net.JoinHostPort("", strconv.Itoa(cfg.Port))
	announce := func(a net.Addr) {
		fmt.Fprintf(stdout, "go-server: model %s, mode %s, listening on %s\n", cfg.Model, cfg.Mode, a)
		if ready != nil {
			ready(a)
		}
	}
	if cfg.Model == server.EventLoop {
		return eventloop.Serve(ctx, addr, cfg.Mode, fetcher, announce)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	announce(ln.Addr())
	return goroutine.Serve(ctx, ln, cfg.Mode, fetcher)
}
