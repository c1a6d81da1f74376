package main

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab/upstream"
)

// TestConformance judges both models, and the goroutine model with the
// lean client (go-lean), in every mode, with the same suite that judges the
// containers, against in-process upstreams.
func TestConformance(t *testing.T) {
	refused := refusedURL(t)
	upstreams := map[upstream.Behaviour]string{}
	for _, s := range conformance.Setups() {
		if _, ok := upstreams[s.Behaviour]; !ok && !s.Refused {
			upstreams[s.Behaviour] = startUpstream(t, s.Behaviour)
		}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for _, s := range conformance.Setups() {
				url := upstreams[s.Behaviour]
				t.Run(s.Name(), func(t *testing.T) {
					env := s.Env(url, refused)
					env["MODEL"], env["HTTP_CLIENT"] = v.model, v.client
					target := s.Target
					target.Addr = startServer(t, env)
					conformance.Run(t, target)
				})
			}
		})
	}
}

// variants are the Go entries of compose.yaml: a model and an HTTP client.
var variants = []struct{ name, model, client string }{
	{"goroutine", "goroutine", "net/http"},
	{"eventloop", "eventloop", "net/http"},
	{"lean", "goroutine", "fasthttp"},
}

func TestBadConfigurationIsAClearError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MODE": "shout"}, `MODE="shout": want echo, fetch or work`},
		{map[string]string{"MODEL": "fibers"}, `MODEL="fibers": want goroutine or eventloop`},
		{map[string]string{"PORT": "seven"}, `PORT="seven": not a number`},
		{map[string]string{"HTTP_CLIENT": "curl"}, `HTTP_CLIENT="curl": want net/http or fasthttp`},
		{map[string]string{"UPSTREAM_TIMEOUT_MS": "5s"}, `UPSTREAM_TIMEOUT_MS="5s": not a number`},
		{map[string]string{"UPSTREAM_URL": "upstream:8080"}, `UPSTREAM_URL="upstream:8080": want an http:// URL`},
	}
	for _, tt := range tests {
		err := run(context.Background(), getenv(tt.env), io.Discard, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("env %v: err = %v, want %q", tt.env, err, tt.want)
		}
	}
}

// TestShutdown checks that the server stops within the contract's 2 s with
// a connection open mid-line and a fetch in flight.
func TestShutdown(t *testing.T) {
	slow := startUpstream(t, upstream.Behaviour{Latency: 10 * time.Second})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan net.Addr, 1)
			done := make(chan error, 1)
			env := map[string]string{"PORT": "0", "MODEL": v.model, "HTTP_CLIENT": v.client, "MODE": "fetch", "UPSTREAM_URL": slow}
			go func() { done <- run(ctx, getenv(env), io.Discard, func(a net.Addr) { ready <- a }) }()
			addr := dialAddr(<-ready)
			c1, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			c1.Write([]byte("in flight\nhalf a"))
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run returned %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("still running 2 s after shutdown began")
			}
			t.Logf("stopped in %v", time.Since(start))
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Fatal("still accepting after shutdown")
			}
		})
	}
}

func startUpstream(t *testing.T, b upstream.Behaviour) string {
	t.Helper()
	svc, err := upstream.New(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	url, err := svc.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown() })
	return url
}

// refusedURL is an address on loopback where nothing listens.
func refusedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// startServer runs the command in-process on a free port and stops it when
// the test ends, failing the test if it does not stop cleanly.
func startServer(t *testing.T, env map[string]string) string {
	t.Helper()
	env["PORT"] = "0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, getenv(env), io.Discard, func(a net.Addr) { ready <- a }) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server stopped with %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Error("server did not stop within 3 s")
		}
	})
	return dialAddr(addr)
}

func dialAddr(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(port)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n))
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[strings.ToUpper(k)] }
}
