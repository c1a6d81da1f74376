// Package server holds what every Go concurrency model shares: the
// configuration read from the contract's environment variables, and the
// upstream client of fetch mode. The models themselves (one package each)
// own only how connections are scheduled.
package server

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
)

// Mode is what a server answers: an echo, the upstream's translation, or
// the digest of a computation (v1.2).
type Mode string

const (
	Echo  Mode = "echo"
	Fetch Mode = "fetch"
	Work  Mode = "work"
)

// Answer appends the answer of an echo or work line to dst (fetch mode's
// answers come from an Upstream).
func (m Mode) Answer(dst, p []byte) []byte {
	if m == Work {
		return lineproto.AppendWork(dst, p)
	}
	return lineproto.AppendEcho(dst, p)
}

// Client is the upstream-client discipline (UPSTREAM_CLIENT).
type Client string

const (
	// PerRequest opens a new upstream connection for every fetch, as the
	// talk's code did.
	PerRequest Client = "per-request"
	// Pooled keeps up to PoolSize idle keep-alive connections for the whole
	// process: the idiomatic client of today.
	Pooled Client = "pooled"
)

// PoolSize is the contract's cap on idle upstream connections, the same in
// every server.
const PoolSize = 1024

// HTTPClient is the library that makes fetch mode's upstream calls
// (HTTP_CLIENT): net/http, what an ordinary Go programmer reaches for, or
// fasthttp's client, the lean path of the go-lean entry.
type HTTPClient string

const (
	NetHTTP  HTTPClient = "net/http"
	FastHTTP HTTPClient = "fasthttp"
)

// Model names a Go concurrency model.
type Model string

const (
	Goroutine Model = "goroutine"
	EventLoop Model = "eventloop"
)

// Config is the contract's configuration plus MODEL.
type Config struct {
	Port            int
	Mode            Mode
	Model           Model
	UpstreamURL     string
	UpstreamTimeout time.Duration
	UpstreamClient  Client
	HTTPClient      HTTPClient
}

// DefaultConfig is the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Port:            7000,
		Mode:            Echo,
		Model:           Goroutine,
		UpstreamURL:     "http://upstream:8080",
		UpstreamTimeout: 5 * time.Second,
		UpstreamClient:  Pooled,
		HTTPClient:      NetHTTP,
	}
}

// FromEnv reads the configuration through getenv (os.Getenv in main), on top
// of DefaultConfig, and validates it.
func FromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	if v := getenv("PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("PORT=%q: not a number", v))
		}
		c.Port = n
	}
	if v := getenv("MODE"); v != "" {
		c.Mode = Mode(v)
	}
	if v := getenv("MODEL"); v != "" {
		c.Model = Model(v)
	}
	if v := getenv("UPSTREAM_URL"); v != "" {
		c.UpstreamURL = v
	}
	if v := getenv("UPSTREAM_TIMEOUT_MS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("UPSTREAM_TIMEOUT_MS=%q: not a number", v))
		}
		c.UpstreamTimeout = time.Duration(n) * time.Millisecond
	}
	if v := getenv("UPSTREAM_CLIENT"); v != "" {
		c.UpstreamClient = Client(v)
	}
	if v := getenv("HTTP_CLIENT"); v != "" {
		c.HTTPClient = HTTPClient(v)
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Validate reports the first thing wrong with c, naming the variable.
func (c Config) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("PORT=%d: want 0 to 65535", c.Port)
	case c.Mode != Echo && c.Mode != Fetch && c.Mode != Work:
		return fmt.Errorf("MODE=%q: want echo, fetch or work", c.Mode)
	case c.Model != Goroutine && c.Model != EventLoop:
		return fmt.Errorf("MODEL=%q: want goroutine or eventloop", c.Model)
	case c.UpstreamClient != PerRequest && c.UpstreamClient != Pooled:
		return fmt.Errorf("UPSTREAM_CLIENT=%q: want per-request or pooled", c.UpstreamClient)
	case c.HTTPClient != NetHTTP && c.HTTPClient != FastHTTP:
		return fmt.Errorf("HTTP_CLIENT=%q: want net/http or fasthttp", c.HTTPClient)
	case c.UpstreamTimeout <= 0:
		return fmt.Errorf("UPSTREAM_TIMEOUT_MS=%d: want a positive number", c.UpstreamTimeout.Milliseconds())
	}
	u, err := url.Parse(c.UpstreamURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("UPSTREAM_URL=%q: want an http:// URL", c.UpstreamURL)
	}
	return nil
}
