// Package upstream is the translator service of fetch mode: the demo's
// pirate-speak web service, served by the lab itself so that every server
// asks the same, controllable upstream.
//
// GET /translate?text=T answers T translated word by word with a fixed
// dictionary, after a configurable latency (fixed plus uniform jitter); a
// share of requests may be made slow, and a share answered with 503.
// GET /healthz answers "ok".
//
// Three prefixes break the contract on purpose, so that the conformance
// suite can check what a server does with a broken upstream: a server whose
// UPSTREAM_URL ends in /redirect gets a 302 to the real translation, /huge a
// 200 whose body is one byte over MaxBody, /drip a body announced with its
// length and sent one byte every DripEvery, far slower than any timeout.
// GET /stats reports what was served, and
// POST /stats/reset zeroes it. GET /control shows the behaviour and
// POST /control changes it while the service runs (query parameters latency,
// jitter, slow_latency as Go durations; error_rate and slow_rate from 0 to 1);
// POST /control?refuse=500ms takes the service down for that long (its
// listening socket and open connections closed, so connecting is refused)
// before it listens again by itself.
package upstream

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Behaviour is what the translator does besides translating.
type Behaviour struct {
	Latency     time.Duration `json:"latency"`      // fixed delay of every answer
	Jitter      time.Duration `json:"jitter"`       // plus a uniform delay in [-Jitter, +Jitter]
	ErrorRate   float64       `json:"error_rate"`   // share answered 503
	SlowRate    float64       `json:"slow_rate"`    // share delayed by SlowLatency instead
	SlowLatency time.Duration `json:"slow_latency"` // delay of a slow answer
}

// MaxDelay bounds every delay the service can be told to take (latency,
// jitter, slow latency, an outage): a control request, from whatever
// sent it, cannot hold the service's requests or its port for longer.
const MaxDelay = time.Minute

// Validate reports values out of range, naming the setting.
func (b Behaviour) Validate() error {
	switch {
	case b.Latency < 0 || b.Latency > MaxDelay:
		return fmt.Errorf("latency %v: want 0 to %v", b.Latency, MaxDelay)
	case b.Jitter < 0 || b.Jitter > MaxDelay:
		return fmt.Errorf("jitter %v: want 0 to %v", b.Jitter, MaxDelay)
	case b.SlowLatency < 0 || b.SlowLatency > MaxDelay:
		return fmt.Errorf("slow_latency %v: want 0 to %v", b.SlowLatency, MaxDelay)
	case !(b.ErrorRate >= 0 && b.ErrorRate <= 1):
		return fmt.Errorf("error_rate %v: want 0 to 1", b.ErrorRate)
	case !(b.SlowRate >= 0 && b.SlowRate <= 1):
		return fmt.Errorf("slow_rate %v: want 0 to 1", b.SlowRate)
	}
	return nil
}

// Stats counts what the service did since start or the last reset.
type Stats struct {
	Requests   int64 `json:"requests"`        // /translate requests received
	Translated int64 `json:"translated"`      // answered 200
	Errors     int64 `json:"errors_injected"` // answered 503 on purpose
	Slow       int64 `json:"slow"`            // given the slow latency
	BadRequest int64 `json:"bad_requests"`    // no text parameter
}

// Service is the translator. It serves HTTP/1.1 with fasthttp rather than
// net/http, which cost several times the CPU per request (docs/FINDINGS.md):
// the upstream shares the driver's core on a two-core machine, so its cost
// is the lab's.
type Service struct {
	mu  sync.Mutex
	b   Behaviour
	rnd *rand.Rand

	requests, translated, errors, slow, bad atomic.Int64
	srv                                     *fasthttp.Server
	gate                                    atomic.Pointer[gate] // set by Serve
}

// New returns a Service with behaviour b and a random source seeded with
// seed, so a run's draws are repeatable.
func New(b Behaviour, seed uint64) (*Service, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	s := &Service{b: b, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	s.srv = &fasthttp.Server{
		Handler:              s.Handle,
		Name:                 "linelab-upstream",
		NoDefaultDate:        true,
		NoDefaultContentType: true,
		ReadTimeout:          time.Minute, // a request's headers; idle kept-alive connections may wait longer
		IdleTimeout:          5 * time.Minute,
		Concurrency:          1 << 16,
		// A request line holds a whole payload percent-encoded: up to three
		// times 65,536 bytes. fasthttp's buffer is fixed, so it is sized for
		// that; only the bytes a request uses are ever touched.
		ReadBufferSize:                256 << 10,
		DisableHeaderNamesNormalizing: true,
	}
	return s, nil
}

// Start listens on addr (host:port; port 0 for any), serves there in the
// background until Shutdown, and returns the base URL, http://host:port.
func (s *Service) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	g := newGate(ln)
	s.gate.Store(g)
	go s.srv.Serve(g)
	return "http://" + ln.Addr().String(), nil
}

// Serve answers on ln until Shutdown.
func (s *Service) Serve(ln net.Listener) error {
	g := newGate(ln)
	s.gate.Store(g)
	return s.srv.Serve(g)
}

// Outage takes the service down for d: connecting is refused and every
// open connection but keep is closed; then it listens again by itself.
func (s *Service) Outage(d time.Duration, keep net.Conn) error {
	g := s.gate.Load()
	if g == nil {
		return errors.New("the service is not serving")
	}
	return g.outage(d, keep)
}

// Shutdown stops accepting and closes idle connections, waiting for
// requests in progress.
func (s *Service) Shutdown() error { return s.srv.Shutdown() }

// Handle routes one request.
func (s *Service) Handle(ctx *fasthttp.RequestCtx) {
	get, post := ctx.IsGet(), ctx.IsPost()
	switch path := string(ctx.Path()); {
	case get && path == "/translate":
		s.translate(ctx)
	case get && path == "/redirect/translate":
		ctx.Response.Header.Set("Location", "/translate?"+string(ctx.URI().QueryString()))
		ctx.SetStatusCode(fasthttp.StatusFound)
	case get && path == "/huge/translate":
		huge(ctx)
	case get && path == "/drip/translate":
		drip(ctx)
	case get && path == "/healthz":
		ctx.WriteString("ok")
	case get && path == "/stats":
		s.stats(ctx)
	case post && path == "/stats/reset":
		s.reset(ctx)
	case (get || post) && path == "/control":
		s.control(ctx)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}

// Behaviour returns the behaviour in force.
func (s *Service) Behaviour() Behaviour {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b
}

// SetBehaviour changes the behaviour for the requests that arrive from now on.
func (s *Service) SetBehaviour(b Behaviour) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.b = b
	s.mu.Unlock()
	return nil
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{
		Requests: s.requests.Load(), Translated: s.translated.Load(),
		Errors: s.errors.Load(), Slow: s.slow.Load(), BadRequest: s.bad.Load(),
	}
}

// draw decides one request's fate under the lock that guards the random source.
func (s *Service) draw() (delay time.Duration, fail, slow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b
	delay = b.Latency
	if b.Jitter > 0 {
		delay += time.Duration(s.rnd.Int64N(int64(2*b.Jitter)+1)) - b.Jitter
	}
	if b.SlowRate > 0 && s.rnd.Float64() < b.SlowRate {
		delay, slow = b.SlowLatency, true
	}
	fail = b.ErrorRate > 0 && s.rnd.Float64() < b.ErrorRate
	return max(delay, 0), fail, slow
}

func (s *Service) translate(ctx *fasthttp.RequestCtx) {
	s.requests.Add(1)
	text, ok := textParam(string(ctx.URI().QueryString()))
	if !ok {
		s.bad.Add(1)
		ctx.Error("missing text parameter", fasthttp.StatusBadRequest)
		return
	}
	delay, fail, slow := s.draw()
	if slow {
		s.slow.Add(1)
	}
	if delay > 0 {
		time.Sleep(delay) // a fasthttp worker per request; the delays are bounded
	}
	if fail {
		s.errors.Add(1)
		ctx.Error("injected failure", fasthttp.StatusServiceUnavailable)
		return
	}
	s.translated.Add(1)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.WriteString(Translate(text))
}

// MaxBody is the largest upstream body the contract lets a server accept.
const MaxBody = 1 << 20

// DripEvery is the pace of /drip: one body byte per tick.
const DripEvery = 100 * time.Millisecond

func huge(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.WriteString(strings.Repeat("arr", MaxBody/3+1)[:MaxBody+1])
}

// drip sends its body one byte a tick, each flushed on its own; chunked, as
// a streaming upstream's would be.
func drip(ctx *fasthttp.RequestCtx) {
	const body = "ahoy, this answer takes its time"
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		for i := range len(body) {
			w.WriteByte(body[i])
			if w.Flush() != nil {
				return // the client gave up
			}
			time.Sleep(DripEvery)
		}
	})
}

// textParam finds text= in a raw query and decodes it form-style (+ is a
// space). It reads the raw query itself because net/url rejects a query with
// a literal ';', which some clients leave unescaped.
func textParam(raw string) (string, bool) {
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k != "text" {
			continue
		}
		t, err := url.QueryUnescape(v)
		if err != nil {
			return "", false
		}
		return t, true
	}
	return "", false
}

func (s *Service) stats(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	json.NewEncoder(ctx).Encode(s.Stats())
}

func (s *Service) reset(ctx *fasthttp.RequestCtx) {
	for _, c := range []*atomic.Int64{&s.requests, &s.translated, &s.errors, &s.slow, &s.bad} {
		c.Store(0)
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (s *Service) control(ctx *fasthttp.RequestCtx) {
	if ctx.IsPost() {
		args := ctx.QueryArgs()
		b, err := ParseBehaviour(s.Behaviour(), func(k string) string { return string(args.Peek(k)) })
		if err == nil {
			err = s.SetBehaviour(b)
		}
		if v := string(args.Peek("refuse")); err == nil && v != "" {
			var d time.Duration
			if d, err = time.ParseDuration(v); err != nil || d <= 0 || d > MaxDelay {
				err = fmt.Errorf("refuse=%q: want a Go duration such as 500ms, above 0 and at most %v", v, MaxDelay)
			} else if err = s.Outage(d, ctx.Conn()); err == nil {
				ctx.SetConnectionClose() // this answer is the last on its connection
			}
		}
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadRequest)
			return
		}
	}
	ctx.SetContentType("application/json")
	json.NewEncoder(ctx).Encode(s.Behaviour())
}

// ParseBehaviour reads the settings that get returns (environment variables
// or query parameters) on top of b. Names are the JSON names; get is asked in
// upper case first (LATENCY, ERROR_RATE, …), then in lower case.
func ParseBehaviour(b Behaviour, get func(string) string) (Behaviour, error) {
	lookup := func(name string) string {
		if v := get(strings.ToUpper(name)); v != "" {
			return v
		}
		return get(name)
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"latency", &b.Latency}, {"jitter", &b.Jitter}, {"slow_latency", &b.SlowLatency}} {
		if v := lookup(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil {
				return b, fmt.Errorf("%s=%q: want a Go duration such as 50ms", d.name, v)
			}
			*d.dst = x
		}
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"error_rate", &b.ErrorRate}, {"slow_rate", &b.SlowRate}} {
		if v := lookup(f.name); v != "" {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return b, fmt.Errorf("%s=%q: want a number from 0 to 1", f.name, v)
			}
			*f.dst = x
		}
	}
	return b, b.Validate()
}

// Translate is the dictionary translation: each run of ASCII letters found
// in the dictionary (ignoring case) is replaced, keeping a leading capital;
// everything else passes unchanged, except CR and LF, which become spaces so
// that the body is always one line.
func Translate(text string) string {
	var out strings.Builder
	out.Grow(len(text) + 16)
	for i := 0; i < len(text); {
		c := text[i]
		if !isLetter(c) {
			if c == '\r' || c == '\n' {
				c = ' '
			}
			out.WriteByte(c)
			i++
			continue
		}
		j := i
		for j < len(text) && isLetter(text[j]) {
			j++
		}
		word := text[i:j]
		if t, ok := pirate[strings.ToLower(word)]; ok {
			if word[0] >= 'A' && word[0] <= 'Z' {
				t = strings.ToUpper(t[:1]) + t[1:]
			}
			word = t
		}
		out.WriteString(word)
		i = j
	}
	return out.String()
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
