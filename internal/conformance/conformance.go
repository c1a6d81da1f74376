// Package conformance is the one judge of PROTOCOL.md: a list of cases that
// take a server's address and mode and say whether it keeps the contract.
// The same cases judge the Go servers in-process and every container; Run
// adapts them to go test, Check to the lab's conformance step.
//
// Most cases send their whole input, half-close, and compare everything the
// server sent until it closed with what the contract says, byte for byte. So
// a missing, extra, reordered or altered answer fails, and so does a server
// that does not close after a half-close.
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/upstream"
)

// Upstream says what the server's upstream does, so that the cases know what
// fetch mode must answer.
type Upstream string

const (
	Healthy  Upstream = "healthy"  // answers every translation
	Failing  Upstream = "failing"  // answers 503 to everything
	Refused  Upstream = "refused"  // refuses connections
	TooSlow  Upstream = "too-slow" // answers later than UPSTREAM_TIMEOUT_MS
	Redirect Upstream = "redirect" // answers 302 to the real translation
	Huge     Upstream = "huge"     // answers a body one byte over 1 MiB
	Drip     Upstream = "drip"     // sends its body a byte at a time, past any timeout
	NotFetch Upstream = ""         // echo mode
)

// Target is a server under judgement.
type Target struct {
	Addr     string   `json:"addr"` // host:port
	Mode     lab.Mode `json:"mode"`
	Upstream Upstream `json:"upstream,omitempty"` // in fetch mode, how its upstream behaves
	// Client is the server's UPSTREAM_CLIENT, where the caller knows it.
	Client string `json:"client,omitempty"`
	// Dial, if set, replaces net.Dialer (a container's network, say).
	Dial func(ctx context.Context, addr string) (net.Conn, error) `json:"-"`
	// Memory, if set, reads the server's memory in use, in bytes (its
	// container's working set): never-reads samples it while a client
	// floods the server. Without it that case judges by what the server
	// took alone.
	Memory func() (int64, error) `json:"-"`
	// Pids is the server's task limit, for PidLimit; 0 where none was set
	// low on purpose.
	Pids int `json:"pids,omitempty"`
	// ContractOnly leaves the hostile clients out: for a server judged
	// again when only its upstream client changed, whose reading and
	// writing the hostile clients already tried.
	ContractOnly bool `json:"contract_only,omitempty"`
}

// Name is a short label such as "fetch/failing".
func (t Target) Name() string {
	if t.Mode == lab.Fetch {
		return string(lab.Fetch) + "/" + string(t.Upstream)
	}
	return string(t.Mode)
}

// Case is one rule of the contract, checked against a target.
type Case struct {
	Name string
	// Alone: the case measures time, so Run gives it the target to itself
	// before the other cases start.
	Alone   bool
	Applies func(Target) bool // nil: every target
	Timeout time.Duration     // the whole case's deadline
	Run     func(ctx context.Context, t Target) error
}

// Result is one case's verdict.
type Result struct {
	Case    string        `json:"case"`
	Passed  bool          `json:"passed"`
	Skipped bool          `json:"skipped,omitempty"`
	Detail  string        `json:"detail,omitempty"` // why it failed
	Elapsed time.Duration `json:"elapsed_ns"`
}

// cases is every case, in a fixed order: the contract, work mode's, then
// hostile clients.
var cases = slices.Concat(contract, workCases, hostile)

// Cases returns every case, in a fixed order.
func Cases() []Case { return cases }

// Check runs every case that applies to t and returns every verdict in
// the cases' order (the cases that do not apply are marked skipped): the
// cases that measure time one after another, each with the target to
// itself, then the others at once, as Run does.
func Check(ctx context.Context, t Target) []Result {
	out := make([]Result, len(cases))
	for i, c := range cases {
		if c.Alone {
			out[i] = runCase(ctx, c, t)
		}
	}
	var wg sync.WaitGroup
	for i, c := range cases {
		if !c.Alone {
			wg.Go(func() { out[i] = runCase(ctx, c, t) })
		}
	}
	wg.Wait()
	return out
}

// Run runs every case that applies to target as a subtest of t.
func Run(t *testing.T, target Target) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if !c.Alone {
				t.Parallel()
			}
			r := runCase(context.Background(), c, target)
			if r.Skipped {
				t.Skip("does not apply to " + target.Name())
			}
			if !r.Passed {
				t.Errorf("%s on %s (%s): %s", c.Name, target.Addr, target.Name(), r.Detail)
			}
		})
	}
}

func runCase(ctx context.Context, c Case, t Target) Result {
	if c.Applies != nil && !c.Applies(t) || t.ContractOnly && slices.ContainsFunc(hostile, func(h Case) bool { return h.Name == c.Name }) {
		return Result{Case: c.Name, Skipped: true, Passed: true}
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := c.Run(ctx, t)
	r := Result{Case: c.Name, Passed: err == nil, Elapsed: time.Since(start)}
	if err != nil {
		r.Detail = err.Error()
	}
	return r
}

// FailedCases lists the names of failed results.
func FailedCases(rs []Result) []string {
	var out []string
	for _, r := range rs {
		if !r.Passed {
			out = append(out, r.Case)
		}
	}
	return out
}

func (t Target) dial(ctx context.Context) (net.Conn, error) {
	if t.Dial != nil {
		return t.Dial(ctx, t.Addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", t.Addr)
}

func healthyOrEcho(t Target) bool { return t.Mode == lab.Echo || t.Upstream == Healthy }

// echoOrTooSlow: backpressure is the same code whatever the upstream
// client, so fetch mode is judged once, with the pooled one (or an unknown).
func echoOrTooSlow(t Target) bool {
	return t.Mode == lab.Echo || t.Upstream == TooSlow && t.Client != lab.PerRequest
}
func broken(t Target) bool { return t.Mode == lab.Fetch && t.Upstream != Healthy }

// answer is what the contract says a healthy target answers to payload p.
func (t Target) answer(p []byte) []byte {
	switch t.Mode {
	case lab.Fetch:
		return lineproto.AppendEcho(nil, []byte(upstream.Translate(string(p))))
	case lab.Work:
		return lineproto.AppendWork(nil, p)
	}
	return lineproto.AppendEcho(nil, p)
}

func (t Target) answers(ps ...[]byte) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, t.answer(p)...)
	}
	return out
}

// exchange dials, writes the chunks (pausing between them when pause > 0),
// half-closes, and returns all the server sent until it closed, reading no
// more than limit bytes and a margin.
func exchange(ctx context.Context, t Target, limit int, pause time.Duration, chunks ...[]byte) ([]byte, error) {
	c, err := t.dialUntil(ctx, "connect")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Read while writing: a server may answer before the input ends, and a
	// large input must not deadlock on full socket buffers.
	var got []byte
	readErr := make(chan error, 1)
	go func() {
		var err error
		got, err = readAll(c, limit)
		readErr <- err
	}()
	for i, ch := range chunks {
		if i > 0 && pause > 0 {
			time.Sleep(pause)
		}
		if _, err := c.Write(ch); err != nil {
			c.Close()
			<-readErr
			return got, fmt.Errorf("write: %w", err)
		}
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return nil, fmt.Errorf("half-close: %w", err)
	}
	if err := <-readErr; err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return got, fmt.Errorf("no close within the case's time after half-close (got %s so far)", describe(got))
		}
		return got, fmt.Errorf("read: %w", err)
	}
	return got, nil
}

// readAll reads to the end of input, but no more than want bytes and a
// margin: the suite never holds more than it expects of a server that
// streams without end.
func readAll(r io.Reader, want int) ([]byte, error) {
	limit := int64(want) + 64<<10
	got, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(got)) > limit {
		return got[:limit], fmt.Errorf("more than %d bytes, %d more than all the answers due: the server sends what no request asked for", limit, limit-int64(want))
	}
	return got, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// same compares all that came with all that should have, and describes the
// first difference by answer line.
func same(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	gl, wl := splitKeep(got), splitKeep(want)
	for i := 0; i < max(len(gl), len(wl)); i++ {
		switch {
		case i >= len(gl):
			return fmt.Errorf("answer %d missing: want %s; got %d answers, want %d", i+1, quote(wl[i]), len(gl), len(wl))
		case i >= len(wl):
			return fmt.Errorf("extra answer %d: %s; got %d answers, want %d", i+1, quote(gl[i]), len(gl), len(wl))
		case !bytes.Equal(gl[i], wl[i]):
			return fmt.Errorf("answer %d: got %s, want %s", i+1, quote(gl[i]), quote(wl[i]))
		}
	}
	return errors.New("output differs") // not reached
}

func splitKeep(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

func quote(b []byte) string {
	if len(b) > 60 {
		return fmt.Sprintf("%q… (%d bytes)", b[:60], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func describe(b []byte) string {
	return fmt.Sprintf("%d bytes, %d lines", len(b), bytes.Count(b, []byte{'\n'}))
}

func lines(ps ...string) (in []byte, payloads [][]byte) {
	for _, p := range ps {
		in = append(in, p...)
		in = append(in, '\n')
		payloads = append(payloads, []byte(strings.TrimSuffix(p, "\r")))
	}
	return in, payloads
}

// concurrently runs n copies of f and returns the first error.
func concurrently(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
	}
	return nil
}
