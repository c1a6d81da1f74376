package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
)

// MaxBody is the contract's limit on an upstream body, 1 MiB.
const MaxBody = 1 << 20

// Upstream answers fetch-mode lines: Fetcher here, on net/http, or the lean
// entry's client on fasthttp (package lean). Every model takes either.
type Upstream interface {
	// AppendAnswer appends the whole answer line for payload p to dst: the
	// "echo: " line on a 2xx, otherwise an "error: upstream…" line. It
	// never fails: every upstream problem becomes an answer. It gives up
	// when ctx ends (the server is shutting down).
	AppendAnswer(ctx context.Context, dst, p []byte) []byte
	// Close drops the idle upstream connections.
	Close()
}

// Fetcher asks the upstream translator for fetch-mode answers, with net/http:
// keep-alive connections pooled (at most PoolSize idle) or a new connection
// per fetch, as the client discipline says. It never follows a redirect, and
// its timeout covers the whole call, body included.
type Fetcher struct {
	client  *http.Client
	base    string
	timeout time.Duration
}

// NewFetcher returns a Fetcher for the upstream at base (UPSTREAM_URL) that
// gives up on one call after timeout.
func NewFetcher(base string, timeout time.Duration, discipline Client) *Fetcher {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        PoolSize,
		MaxIdleConnsPerHost: PoolSize,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DisableKeepAlives:   discipline == PerRequest,
	}
	return &Fetcher{
		client: &http.Client{
			Transport: tr,
			Timeout:   timeout, // connect to the last byte of the body
			// A redirect is an error, not a second request.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base:    strings.TrimSuffix(base, "/"),
		timeout: timeout,
	}
}

func (f *Fetcher) Close() { f.client.CloseIdleConnections() }

func (f *Fetcher) AppendAnswer(ctx context.Context, dst, p []byte) []byte {
	body, err := f.get(ctx, p)
	if err != nil {
		return lineproto.AppendUpstreamError(dst, err.Error())
	}
	return lineproto.AppendEcho(dst, body)
}

func (f *Fetcher) get(ctx context.Context, p []byte) ([]byte, error) {
	u := f.base + "/translate?text=" + url.QueryEscape(string(p))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var ne net.Error
		if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("timeout after %v", f.timeout)
		}
		return nil, fmt.Errorf("unreachable (%v)", unwrapURL(err))
	}
	defer resp.Body.Close()
	// The contract limits requests, not answers; a body past MaxBody is a
	// broken upstream, not a translation.
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+3))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the body: %v", unwrapURL(err))
	}
	return CheckBody(body)
}

// CheckBody returns a 2xx body without its trailing CR/LF, or why it cannot
// be an answer. A body may be MaxBody bytes and a CRLF; body may also be
// the first bytes of a longer one, MaxBody+3 of them or more.
func CheckBody(body []byte) ([]byte, error) {
	if len(body) > MaxBody+2 {
		return nil, fmt.Errorf("body over %d bytes", MaxBody)
	}
	body = bytes.TrimRight(body, "\r\n")
	switch {
	case len(body) > MaxBody:
		return nil, fmt.Errorf("body over %d bytes", MaxBody)
	case bytes.IndexByte(body, '\n') >= 0:
		// An answer line with an LF inside would be two answers.
		return nil, fmt.Errorf("body holds a line break")
	}
	return body, nil
}

// unwrapURL drops net/url's `Get "http://…":` prefix: the upstream's address
// is configuration, not news.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
