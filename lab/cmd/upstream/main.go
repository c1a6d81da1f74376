// Command upstream serves the pirate-speak translator of fetch mode.
// Environment: PORT (default 8080), LATENCY and JITTER (Go durations),
// ERROR_RATE (0 to 1, answered 503), SLOW_RATE and SLOW_LATENCY (a share of
// requests made slow), SEED (of the random draws). All but PORT and SEED can
// be changed while it runs with POST /control.
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

	"github.com/linelab/linelab/lab/upstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	port, seed := 8080, uint64(1)
	if v := getenv("PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("PORT=%q: want a port number", v)
		}
		port = n
	}
	if v := getenv("SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("SEED=%q: want a whole number", v)
		}
		seed = n
	}
	b, err := upstream.ParseBehaviour(upstream.Behaviour{}, getenv)
	if err != nil {
		return err
	}
	svc, err := upstream.New(b, seed)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "upstream: translator on %s, latency %v ± %v, error rate %v\n", ln.Addr(), b.Latency, b.Jitter, b.ErrorRate)
	go func() {
		<-ctx.Done()
		svc.Shutdown()
	}()
	return svc.Serve(ln)
}
