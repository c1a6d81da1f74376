package runner

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/results"
)

// The sizing probe of a hog step: one connection of work lines of
// sizingRounds rounds, long enough that the server's CPU per line is
// almost all rounds (a line's own cost is tens of µs against
// milliseconds of hashing) and short enough to run before every trial.
const (
	sizingRounds   = 20_000
	sizingWarmup   = 50 * time.Millisecond
	sizingDuration = 300 * time.Millisecond
	sizingLines    = 3 // fewer answers than this size nothing
)

// sizeHog measures the server's CPU per SHA-256 round and returns the hog
// of def sized for it: the N whose line costs this server hog.CPU. It is
// measured before every trial, so the heavy line follows the machine's
// speed as the trial's other figures do.
func (r *runner) sizeHog(ctx context.Context, s *server, def lab.Step) (*lab.Hog, float64, error) {
	cfg := driver.Config{
		Addr: s.c.Addr(ServerPort), Warmup: sizingWarmup, Duration: sizingDuration, Grace: 2 * time.Second,
		Step:    lab.Step{Name: def.Name + "/sizing", Loop: lab.Closed, Connections: 1, Depth: 1, Payload: strconv.Itoa(sizingRounds)},
		Answer:  driver.Answers(lab.Work),
		Variant: driver.Unvaried,
	}
	res, _, err := r.drive(ctx, cfg, lab.Work, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("size the heavy line: %w", err)
	}
	s.sampler.Now()
	win, err := s.sampler.Window(res.From, res.To)
	if err != nil {
		return nil, 0, fmt.Errorf("size the heavy line: %w", err)
	}
	ns, err := roundCost(res.Lines, len(res.Errors), win.CPUSeconds)
	if err != nil {
		return nil, 0, fmt.Errorf("size the heavy line: %w (%s)", err, res.FirstError)
	}
	return &lab.Hog{CPU: def.Hog.CPU, Rounds: hogRounds(def.Hog.CPU.D(), ns)}, ns, nil
}

// roundCost is the server's CPU per round, in ns, from a sizing probe.
func roundCost(lines int64, failed int, cpuSeconds float64) (float64, error) {
	switch {
	case failed > 0:
		return 0, fmt.Errorf("the probe's work lines failed")
	case lines < sizingLines:
		return 0, fmt.Errorf("%d answers of %d rounds in %s, too few to size a line by", lines, sizingRounds, sizingDuration)
	case cpuSeconds <= 0:
		return 0, fmt.Errorf("the server used no CPU for %d lines of %d rounds", lines, sizingRounds)
	}
	return cpuSeconds * 1e9 / float64(lines*sizingRounds), nil
}

// hogRounds is the N whose line costs cpu at ns per round, within what
// the protocol allows.
func hogRounds(cpu time.Duration, ns float64) int {
	return int(min(max(math.Round(float64(cpu.Nanoseconds())/ns), 1), lineproto.MaxWork))
}

// hogTrial is what the heavy connection got in the trial, and adds its
// failures to the trial's: a wrong heavy answer is a wrong answer.
func hogTrial(res *driver.Result, hog *lab.Hog, roundNS, cpuSeconds float64, t *lab.Trial) *lab.HogTrial {
	h := &lab.HogTrial{
		Rounds: hog.Rounds, RoundNS: roundNS, LineMS: float64(hog.Rounds) * roundNS / 1e6,
		Lines: res.Lines, Latency: results.PercentilesOf(res.Latency),
	}
	if cpuSeconds > 0 {
		h.CPUShare = min(float64(res.Lines)*h.LineMS/1e3/cpuSeconds, 1)
	}
	for c, n := range res.Errors {
		h.Errors += n
		t.Errors[c] += n
	}
	if t.FirstError == "" && res.FirstError != "" {
		t.FirstError = "the heavy connection: " + res.FirstError
	}
	return h
}
