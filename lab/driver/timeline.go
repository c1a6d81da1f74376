package driver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linelab/linelab/lab"
)

// Action is something done to the server or its surroundings at a moment
// of the measured window: a fault scenario's fault.
type Action struct {
	What string
	At   time.Duration // from the opening of the window
	// Do does it and returns when it is done; its error is kept with the
	// mark. It must return by the time ctx ends.
	Do func(ctx context.Context) error
}

// timeline counts correct answers and failures per bucket of the window,
// with counters that the load goroutines bump without a lock.
type timeline struct {
	from    time.Time
	bucket  time.Duration
	answers []atomic.Int64
	errs    [len(Classes)][]atomic.Int64

	// began and ended are when the first action began and ended (Unix
	// ns, 0 before); first is when the first correct answer to a line
	// sent after it ended arrived.
	began, ended atomic.Int64
	first        atomic.Int64

	mu    sync.Mutex
	marks []lab.Mark
}

func newTimeline(from time.Time, window, bucket time.Duration) *timeline {
	n := int((window + bucket - 1) / bucket)
	t := &timeline{from: from, bucket: bucket, answers: make([]atomic.Int64, n)}
	for i := range t.errs {
		t.errs[i] = make([]atomic.Int64, n)
	}
	return t
}

// at is the bucket of moment x, or -1 outside the window.
func (t *timeline) at(x time.Time) int {
	d := x.Sub(t.from)
	if d < 0 {
		return -1
	}
	i := int(d / t.bucket)
	if i >= len(t.answers) {
		return -1
	}
	return i
}

func (t *timeline) answer(sent, now time.Time) {
	if i := t.at(now); i >= 0 {
		t.answers[i].Add(1)
	}
	if s := t.ended.Load(); s != 0 && sent.UnixNano() >= s {
		n := now.UnixNano()
		for {
			f := t.first.Load()
			if f != 0 && f <= n || t.first.CompareAndSwap(f, n) {
				break
			}
		}
	}
}

func (t *timeline) fail(class int, now time.Time) {
	if i := t.at(now); i >= 0 {
		t.errs[class][i].Add(1)
	}
}

// act runs a at its moment and marks when it began and ended.
func (t *timeline) act(ctx context.Context, a Action) {
	sleepUntil(ctx, t.from.Add(a.At))
	if ctx.Err() != nil {
		return
	}
	began := time.Now()
	err := a.Do(ctx)
	ended := time.Now()
	if t.began.CompareAndSwap(0, began.UnixNano()) {
		t.ended.Store(ended.UnixNano())
	}
	m := lab.Mark{What: a.What, FromMS: ms(began.Sub(t.from)), ToMS: ms(ended.Sub(t.from))}
	if err != nil {
		m.Error = err.Error()
	}
	t.mu.Lock()
	t.marks = append(t.marks, m)
	t.mu.Unlock()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// result is the timeline as results.json keeps it.
func (t *timeline) result() *lab.Timeline {
	out := &lab.Timeline{BucketMS: int(t.bucket.Milliseconds()), Answers: make([]int64, len(t.answers)), FirstAnswerMS: -1}
	for i := range t.answers {
		out.Answers[i] = t.answers[i].Load()
	}
	for c := range t.errs {
		var row []int64
		for i := range t.errs[c] {
			if n := t.errs[c][i].Load(); n > 0 {
				if row == nil {
					row = make([]int64, len(t.answers))
				}
				row[i] = n
			}
		}
		if row != nil {
			if out.Errors == nil {
				out.Errors = map[lab.FailClass][]int64{}
			}
			out.Errors[Classes[c]] = row
		}
	}
	if s, f := t.began.Load(), t.first.Load(); s != 0 && f != 0 {
		out.FirstAnswerMS = ms(time.Duration(f - s))
	}
	t.mu.Lock()
	out.Faults = append([]lab.Mark(nil), t.marks...)
	t.mu.Unlock()
	return out
}
