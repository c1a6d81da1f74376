package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/linelab/linelab/lab/upstream"
)

// upstreamClient drives the translator's control and stats endpoints.
type upstreamClient struct {
	base string
	hc   *http.Client
}

// newUpstreamClient reaches the translator at addr through dial.
func newUpstreamClient(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *upstreamClient {
	return &upstreamClient{base: "http://" + addr, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial}}}
}

func (u *upstreamClient) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func (u *upstreamClient) set(ctx context.Context, b upstream.Behaviour) error {
	q := url.Values{}
	q.Set("latency", b.Latency.String())
	q.Set("jitter", b.Jitter.String())
	q.Set("error_rate", fmt.Sprint(b.ErrorRate))
	q.Set("slow_rate", fmt.Sprint(b.SlowRate))
	q.Set("slow_latency", b.SlowLatency.String())
	return u.do(ctx, http.MethodPost, "/control?"+q.Encode(), nil)
}

// refuse takes the upstream down for d (connects refused, its connections
// closed); it comes back by itself. The outage begins before the answer
// is sent, so an upstream that still answers did not take it: an image
// built before it knew how, which ignores the parameter.
func (u *upstreamClient) refuse(ctx context.Context, d time.Duration) error {
	if err := u.do(ctx, http.MethodPost, "/control?refuse="+d.String(), nil); err != nil {
		return err
	}
	if u.do(ctx, http.MethodGet, "/healthz", nil) == nil {
		return fmt.Errorf("the upstream still answers after POST /control?refuse=%v: its image predates outages; rebuild it with `make images`", d)
	}
	return nil
}

func (u *upstreamClient) reset(ctx context.Context) error {
	return u.do(ctx, http.MethodPost, "/stats/reset", nil)
}

func (u *upstreamClient) stats(ctx context.Context) (upstream.Stats, error) {
	var s upstream.Stats
	err := u.do(ctx, http.MethodGet, "/stats", &s)
	return s, err
}

// waitHealthy returns once the upstream answers /healthz, asking every
// `every` (10 ms where the moment it came back is measured).
func (u *upstreamClient) waitHealthy(ctx context.Context, every time.Duration) error {
	for {
		err := u.do(ctx, http.MethodGet, "/healthz", nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("upstream never became healthy: %w", err)
		case <-time.After(every):
		}
	}
}
