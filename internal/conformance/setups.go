package conformance

import (
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/upstream"
)

// Setup is one way to run a server for the suite: its mode, the upstream it
// is given, and the settings that go with it. Setups lists them all, so the
// in-process test of the Go servers and the Docker test of every container
// judge the same situations.
type Setup struct {
	Target
	// Behaviour is what the upstream does (fetch mode); Broken upstreams
	// share the healthy behaviour and differ by Path.
	Behaviour upstream.Behaviour
	// Path is appended to the upstream's base URL: /redirect, /huge, /drip.
	Path string
	// RefusedPort: the server is given a port where nothing listens.
	Refused bool
	// TimeoutMS is UPSTREAM_TIMEOUT_MS.
	TimeoutMS string
	// Client is UPSTREAM_CLIENT.
	Client string
}

// Clients are the upstream-client disciplines of the protocol.
var Clients = []string{lab.Pooled, lab.PerRequest}

// Healthy behaviour: jitter, so that fetches finish out of order.
var healthyBehaviour = upstream.Behaviour{Latency: time.Millisecond, Jitter: time.Millisecond}

// Setups returns echo mode once, work mode once, then every upstream of
// fetch mode with each client discipline.
func Setups() []Setup {
	out := []Setup{
		{Target: Target{Mode: lab.Echo}, TimeoutMS: "5000", Client: lab.Pooled, Refused: true},
		{Target: Target{Mode: lab.Work}, TimeoutMS: "5000", Client: lab.Pooled, Refused: true},
	}
	for _, client := range Clients {
		for _, s := range []Setup{
			{Target: Target{Upstream: Healthy}, Behaviour: healthyBehaviour},
			{Target: Target{Upstream: Failing}, Behaviour: upstream.Behaviour{ErrorRate: 1}},
			{Target: Target{Upstream: Refused}, Refused: true},
			{Target: Target{Upstream: TooSlow}, Behaviour: upstream.Behaviour{Latency: 3 * time.Second}, TimeoutMS: "300"},
			{Target: Target{Upstream: Redirect}, Behaviour: healthyBehaviour, Path: "/redirect"},
			{Target: Target{Upstream: Huge}, Behaviour: healthyBehaviour, Path: "/huge"},
			{Target: Target{Upstream: Drip}, Behaviour: healthyBehaviour, Path: "/drip", TimeoutMS: "300"},
		} {
			s.Mode, s.Client, s.Target.Client = lab.Fetch, client, client
			if s.TimeoutMS == "" {
				s.TimeoutMS = "5000"
			}
			out = append(out, s)
		}
	}
	return out
}

// Name is a short label such as "fetch/drip/per-request".
func (s Setup) Name() string {
	if s.Mode == lab.Fetch {
		return s.Target.Name() + "/" + s.Client
	}
	return s.Target.Name()
}

// Env is the server's environment for this setup, given the upstream's
// base URL for its behaviour and a URL where nothing listens.
func (s Setup) Env(upstreamURL, refusedURL string) map[string]string {
	u := upstreamURL + s.Path
	if s.Refused {
		u = refusedURL
	}
	return map[string]string{"MODE": string(s.Mode), "UPSTREAM_URL": u, "UPSTREAM_TIMEOUT_MS": s.TimeoutMS, "UPSTREAM_CLIENT": s.Client}
}
