// Package lean is the go-lean entry's upstream client: fetch mode on
// fasthttp's HostClient instead of net/http. Profiled at 1,000 connections
// (see README.md), net/http spent most of a fetched line's server CPU on
// what a kept-alive HTTP/1.1 exchange does not need: two goroutines per
// upstream connection handing each request and response over channels,
// header maps, a context and a timer per call. fasthttp's client does the
// exchange on the caller's goroutine with pooled requests, responses and
// buffers, and its whole-call timeout is a deadline on the connection.
package lean

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/linelab/linelab/go-server/server"
	"github.com/linelab/linelab/internal/lineproto"
)

// Fetcher is a server.Upstream on fasthttp.
type Fetcher struct {
	hc       *fasthttp.HostClient
	prefix   []byte // http://host:port/translate?text=
	timeout  time.Duration
	perConn  bool // per-request: Connection: close on every request
	uris     sync.Pool
	live     sync.Map // net.Conn → struct{}: open upstream connections
	shutdown atomic.Bool
}

// New returns a Fetcher for the upstream at base (UPSTREAM_URL), with the
// whole call, waiting for a connection included, bounded by timeout. Under
// pooled it keeps at most server.PoolSize connections, the contract's cap;
// under per-request each call opens its own and closes it. When ctx ends,
// calls in flight fail at once and no new one connects (fasthttp's calls
// take no context; their connections are closed under them instead).
func New(ctx context.Context, base string, timeout time.Duration, discipline server.Client) (*Fetcher, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("UPSTREAM_URL=%q: want an http:// URL", base)
	}
	f := &Fetcher{
		prefix:  []byte(strings.TrimSuffix(base, "/") + "/translate?text="),
		timeout: timeout,
		perConn: discipline == server.PerRequest,
	}
	f.hc = &fasthttp.HostClient{
		Addr:                     u.Host,
		NoDefaultUserAgentHeader: true,
		MaxConns:                 server.PoolSize,
		MaxConnWaitTimeout:       timeout, // a call waits for a free connection, within its own timeout
		MaxIdleConnDuration:      90 * time.Second,
		// MaxBody and a CRLF; CheckBody trims and checks the rest.
		MaxResponseBodySize: server.MaxBody + 2,
		// One retry, for a kept-alive connection the upstream closed while
		// it was idle (net/http retries that case too); a refusing upstream
		// is an error line after two attempts, not five.
		MaxIdemponentCallAttempts:     2,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		DialTimeout:                   f.dial,
	}
	context.AfterFunc(ctx, f.abort)
	return f, nil
}

func (f *Fetcher) dial(addr string, timeout time.Duration) (net.Conn, error) {
	if f.shutdown.Load() {
		return nil, errShutdown
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	tc := &tracked{Conn: c, f: f}
	f.live.Store(tc, struct{}{})
	return tc, nil
}

var errShutdown = errors.New("the server is shutting down")

// abort closes every upstream connection, idle or in a call, and refuses
// new ones.
func (f *Fetcher) abort() {
	f.shutdown.Store(true)
	f.live.Range(func(c, _ any) bool {
		c.(net.Conn).Close()
		return true
	})
}

// tracked is an upstream connection that leaves f.live when closed.
type tracked struct {
	net.Conn
	f    *Fetcher
	once sync.Once
}

func (c *tracked) Close() error {
	c.once.Do(func() { c.f.live.Delete(c) })
	return c.Conn.Close()
}

// Close drops the idle upstream connections.
func (f *Fetcher) Close() { f.hc.CloseIdleConnections() }

// AppendAnswer is server.Upstream's: one GET, its answer line appended to
// dst. In the steady state it allocates nothing.
func (f *Fetcher) AppendAnswer(ctx context.Context, dst, p []byte) []byte {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	uri, _ := f.uris.Get().(*[]byte)
	if uri == nil {
		uri = new([]byte)
	}
	*uri = fasthttp.AppendQuotedArg(append((*uri)[:0], f.prefix...), p)
	req.SetRequestURIBytes(*uri)
	f.uris.Put(uri)
	if f.perConn {
		req.SetConnectionClose()
	}
	err := f.hc.DoTimeout(req, resp, f.timeout)
	if err != nil {
		return lineproto.AppendUpstreamError(dst, f.explain(ctx, err))
	}
	if code := resp.StatusCode(); code < 200 || code > 299 {
		return lineproto.AppendUpstreamError(dst, fmt.Sprintf("status %d", code))
	}
	body, err := server.CheckBody(resp.Body())
	if err != nil {
		return lineproto.AppendUpstreamError(dst, err.Error())
	}
	return lineproto.AppendEcho(dst, body)
}

// explain words a failed call as the net/http Fetcher does.
func (f *Fetcher) explain(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "unreachable (" + errShutdown.Error() + ")"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fmt.Sprintf("body over %d bytes", server.MaxBody)
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrNoFreeConns),
		errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timeout after %v", f.timeout)
	}
	return "unreachable (" + err.Error() + ")"
}
