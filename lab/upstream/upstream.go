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
// jitter, slow_latency as Go durations; error_rate and slow_rate from 0 to 1).
package upstream

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behaviour is what the translator does besides translating.
type Behaviour struct {
	Latency     time.Duration `json:"latency"`      // fixed delay of every answer
	Jitter      time.Duration `json:"jitter"`       // plus a uniform delay in [-Jitter, +Jitter]
	ErrorRate   float64       `json:"error_rate"`   // share answered 503
	SlowRate    float64       `json:"slow_rate"`    // share delayed by SlowLatency instead
	SlowLatency time.Duration `json:"slow_latency"` // delay of a slow answer
}

// Validate reports values out of range, naming the setting.
func (b Behaviour) Validate() error {
	switch {
	case b.Latency < 0:
		return fmt.Errorf("latency %v: must not be negative", b.Latency)
	case b.Jitter < 0:
		return fmt.Errorf("jitter %v: must not be negative", b.Jitter)
	case b.SlowLatency < 0:
		return fmt.Errorf("slow_latency %v: must not be negative", b.SlowLatency)
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

// Service is the translator's http.Handler.
type Service struct {
	mu  sync.Mutex
	b   Behaviour
	rnd *rand.Rand

	requests, translated, errors, slow, bad atomic.Int64
	mux                                     *http.ServeMux
}

// New returns a Service with behaviour b and a random source seeded with
// seed, so a run's draws are repeatable.
func New(b Behaviour, seed uint64) (*Service, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	s := &Service{b: b, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /translate", s.translate)
	s.mux.HandleFunc("GET /redirect/translate", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/translate?"+r.URL.RawQuery, http.StatusFound)
	})
	s.mux.HandleFunc("GET /huge/translate", huge)
	s.mux.HandleFunc("GET /drip/translate", drip)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	s.mux.HandleFunc("GET /stats", s.stats)
	s.mux.HandleFunc("POST /stats/reset", s.reset)
	s.mux.HandleFunc("GET /control", s.control)
	s.mux.HandleFunc("POST /control", s.control)
	return s, nil
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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

func (s *Service) translate(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	text, ok := textParam(r.URL.RawQuery)
	if !ok {
		s.bad.Add(1)
		http.Error(w, "missing text parameter", http.StatusBadRequest)
		return
	}
	delay, fail, slow := s.draw()
	if slow {
		s.slow.Add(1)
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fail {
		s.errors.Add(1)
		http.Error(w, "injected failure", http.StatusServiceUnavailable)
		return
	}
	s.translated.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(Translate(text)))
}

// MaxBody is the largest upstream body the contract lets a server accept.
const MaxBody = 1 << 20

// DripEvery is the pace of /drip: one body byte per tick.
const DripEvery = 100 * time.Millisecond

func huge(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(MaxBody+1))
	w.Write([]byte(strings.Repeat("arr", MaxBody/3+1)[:MaxBody+1]))
}

func drip(w http.ResponseWriter, r *http.Request) {
	const body = "ahoy, this answer takes its time"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	tick := time.NewTicker(DripEvery)
	defer tick.Stop()
	for i := range len(body) {
		w.Write([]byte{body[i]})
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		}
	}
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

func (s *Service) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Stats())
}

func (s *Service) reset(w http.ResponseWriter, _ *http.Request) {
	for _, c := range []*atomic.Int64{&s.requests, &s.translated, &s.errors, &s.slow, &s.bad} {
		c.Store(0)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) control(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		b, err := ParseBehaviour(s.Behaviour(), r.URL.Query().Get)
		if err == nil {
			err = s.SetBehaviour(b)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Behaviour())
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
