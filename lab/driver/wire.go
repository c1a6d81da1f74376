package driver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/upstream"
)

// Job is one step for a driver in another process, `agent drive` in the
// linelab/agent image: the part of a Config that can cross a process boundary. The lab
// writes it as JSON on the driver's command line; the driver answers with
// Events, one JSON object per line of its output.
type Job struct {
	Addr        string        `json:"addr"`
	Mode        lab.Mode      `json:"mode"` // echo, fetch or work: which lines to send and which answers the server owes
	Step        lab.Step      `json:"step"`
	Warmup      time.Duration `json:"warmup_ns"`
	Duration    time.Duration `json:"duration_ns"`
	Grace       time.Duration `json:"grace_ns,omitempty"`
	Timeline    time.Duration `json:"timeline_ns,omitempty"`
	DialTimeout time.Duration `json:"dial_timeout_ns,omitempty"`
}

// Answers gives the exact answer line a server owes for a payload in mode.
// A work answer is computed here once per distinct payload (a step sends
// only a few), so checking it costs the driver a compare, not the work.
func Answers(mode lab.Mode) func(payload []byte) []byte {
	switch mode {
	case lab.Fetch:
		return func(p []byte) []byte { return lineproto.AppendEcho(nil, []byte(upstream.Translate(string(p)))) }
	case lab.Work:
		return func(p []byte) []byte { return lineproto.AppendWork(nil, p) }
	}
	return func(p []byte) []byte { return lineproto.AppendEcho(nil, p) }
}

// Variants gives the i-th of a step's distinct payloads in mode: the
// step's payload numbered, so that an answer to another line is told from
// a wrong one. In work mode the payloads must cost alike, so N itself
// varies as little as it can: first in its leading zeros (which change
// the digest, not the work), then by one per round of widths.
func Variants(mode lab.Mode) func(payload string, i int) []byte {
	if mode == lab.Work {
		return func(payload string, i int) []byte {
			n, _ := strconv.Atoi(payload) // the loader checked it
			digits := len(strconv.Itoa(n))
			widths := 8 - digits // digits to 7
			v := n + i/widths
			if len(strconv.Itoa(v)) > digits || v > lineproto.MaxWork {
				v = max(n-i/widths, 0)
			}
			return fmt.Appendf(nil, "%0*d", digits+i%widths, v)
		}
	}
	return func(payload string, i int) []byte { return fmt.Appendf(nil, "%s #%d", payload, i) }
}

// HoldFor is how long a driver in another process holds an idle step's
// connections before its trickle; the lab reads the server's memory in that
// span afterwards (Wire.HeldFrom, HeldTo), from its own samples.
const HoldFor = 500 * time.Millisecond

// Config is the job as the driver runs it; hold is called as Config.Hold.
func (j Job) Config(hold func()) Config {
	return Config{
		Addr: j.Addr, Step: j.Step, Warmup: j.Warmup, Duration: j.Duration, Answer: Answers(j.Mode), Variant: Variants(j.Mode),
		Grace: j.Grace, Timeline: j.Timeline, DialTimeout: j.DialTimeout, Hold: hold,
	}
}

// Event is one line of a driver process's output: exactly one field is set.
type Event struct {
	Result *Wire  `json:"result,omitempty"`
	Error  string `json:"error,omitempty"` // the step could not run
}

// Wire is a Result as it crosses the boundary: histograms in HdrHistogram's
// compressed encoding, durations in nanoseconds.
type Wire struct {
	Lines       int64           `json:"lines"`
	Late        int64           `json:"late"`
	InFlight    int64           `json:"in_flight"`
	Elapsed     time.Duration   `json:"elapsed_ns"`
	Errors      map[Class]int64 `json:"errors,omitempty"`
	Latency     []byte          `json:"latency"`
	Uncorrected []byte          `json:"uncorrected,omitempty"`
	SendLag     []byte          `json:"send_lag,omitempty"`
	Connected   int             `json:"connected,omitempty"`
	DriverCPU   time.Duration   `json:"driver_cpu_ns"`
	Offered     float64         `json:"offered,omitempty"`
	From        time.Time       `json:"from"`
	To          time.Time       `json:"to"`
	FirstError  string          `json:"first_error,omitempty"`
	Reconnects  int64           `json:"reconnects,omitempty"`
	PerConn     []int64         `json:"per_conn,omitempty"`
	Timeline    *lab.Timeline   `json:"timeline,omitempty"`
	Hog         *Wire           `json:"hog,omitempty"`
	// HeldFrom and HeldTo: an idle step's hold, on the driver's clock.
	HeldFrom time.Time `json:"held_from,omitzero"`
	HeldTo   time.Time `json:"held_to,omitzero"`
}

// ToWire encodes r.
func (r *Result) ToWire() (*Wire, error) {
	w := &Wire{
		Lines: r.Lines, Late: r.Late, InFlight: r.InFlight, Elapsed: r.Elapsed, Errors: r.Errors,
		Connected: r.Connected, DriverCPU: r.DriverCPU, Offered: r.Offered, From: r.From, To: r.To,
		FirstError: r.FirstError, Reconnects: r.Reconnects, PerConn: r.PerConn, Timeline: r.Timeline,
	}
	for _, h := range []struct {
		in  *hdrhistogram.Histogram
		out *[]byte
	}{{r.Latency, &w.Latency}, {r.Uncorrected, &w.Uncorrected}, {r.SendLag, &w.SendLag}} {
		if h.in == nil {
			continue
		}
		b, err := h.in.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("encode a histogram: %w", err)
		}
		*h.out = b
	}
	if r.Hog != nil {
		hw, err := r.Hog.ToWire()
		if err != nil {
			return nil, fmt.Errorf("the hog's result: %w", err)
		}
		w.Hog = hw
	}
	return w, nil
}

// Result decodes w.
func (w *Wire) Result() (*Result, error) {
	r := &Result{
		Lines: w.Lines, Late: w.Late, InFlight: w.InFlight, Elapsed: w.Elapsed, Errors: w.Errors,
		Connected: w.Connected, DriverCPU: w.DriverCPU, Offered: w.Offered, From: w.From, To: w.To,
		FirstError: w.FirstError, Reconnects: w.Reconnects, PerConn: w.PerConn, Timeline: w.Timeline,
	}
	if r.Errors == nil {
		r.Errors = map[Class]int64{}
	}
	for _, h := range []struct {
		in  []byte
		out **hdrhistogram.Histogram
	}{{w.Latency, &r.Latency}, {w.Uncorrected, &r.Uncorrected}, {w.SendLag, &r.SendLag}} {
		if len(h.in) == 0 {
			continue
		}
		d, err := hdrhistogram.Decode(h.in)
		if err != nil {
			return nil, fmt.Errorf("decode a histogram: %w", err)
		}
		*h.out = d
	}
	if r.Latency == nil {
		return nil, errors.New("the driver's result has no latency histogram")
	}
	if w.Hog != nil {
		h, err := w.Hog.Result()
		if err != nil {
			return nil, fmt.Errorf("the hog's result: %w", err)
		}
		r.Hog = h
	}
	return r, nil
}

// ReadEvents reads a driver process's output and returns its result, or why
// there is none: the driver's own error, or output that is not a driver's
// (its last lines quoted, so a crash or a wrong image explains itself).
func ReadEvents(out io.Reader) (*Wire, error) {
	var last []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Event
		if line[0] == '{' && json.Unmarshal(line, &e) == nil {
			switch {
			case e.Error != "":
				return nil, errors.New(e.Error)
			case e.Result != nil:
				return e.Result, nil
			}
		}
		last = append(last, string(line))
		if len(last) > 5 {
			last = last[1:]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the driver's output: %w", err)
	}
	if len(last) == 0 {
		return nil, errors.New("the driver wrote nothing: it died before it could run the step")
	}
	return nil, fmt.Errorf("the driver ended without a result; its last words: %q", last)
}

// What the agent's gate commands write on their standard error once under
// way (lab/cmd/agent, read by lab/engine): `dial` once it is
// connected, `sample` once it has found the container's cgroup files.
// Anything else there is why not.
const (
	GateConnected = "connected"
	GateSampling  = "sampling"
)
