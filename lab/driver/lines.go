package driver

import (
	"bytes"
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/linelab/linelab/lab"
)

// variants is how many distinct lines a step sends in turn. Each carries its
// number, so an answer that belongs to another line is told apart from
// wrong bytes; precomputing them keeps the hot path to a compare.
const variants = 64

// lines holds the requests a step sends and the answers they are owed.
type lines struct {
	req    [][]byte // payload + LF
	answer [][]byte // the full answer line, LF included
	index  map[string]int
}

func newLines(payload string, variant func(string, int) []byte, answer func([]byte) []byte) *lines {
	if variant == nil {
		variant = Variants(lab.Echo)
	}
	l := &lines{index: map[string]int{}}
	known := map[string][]byte{} // a work answer costs the work: once per payload
	for i := range variants {
		p := variant(payload, i)
		l.req = append(l.req, append(p, '\n'))
		a, ok := known[string(p)]
		if !ok {
			a = answer(p)
			known[string(p)] = a
		}
		l.answer = append(l.answer, a)
		l.index[string(a)] = i
	}
	return l
}

// check classifies the answer got (without its LF) to request seq.
func (l *lines) check(seq int, got []byte) (Class, bool) {
	want := l.answer[seq%variants]
	if len(got)+1 == len(want) && bytes.Equal(got, want[:len(want)-1]) {
		return "", true
	}
	if bytes.HasPrefix(got, []byte("error: ")) {
		return ErrErrorLine, false
	}
	if _, ok := l.index[string(got)+"\n"]; ok {
		return ErrOrder, false
	}
	return ErrWrong, false
}

// recorder collects latencies from many goroutines into a few shards, each
// a full-precision histogram; a goroutine batches its values locally first,
// so a thousand connections do not need a thousand histograms.
type recorder struct {
	shards [8]struct {
		sync.Mutex
		h *hdrhistogram.Histogram
	}
}

func newRecorder() *recorder {
	r := &recorder{}
	for i := range r.shards {
		r.shards[i].h = NewHistogram()
	}
	return r
}

func (r *recorder) merged() *hdrhistogram.Histogram {
	h := NewHistogram()
	for i := range r.shards {
		r.shards[i].Lock()
		h.Merge(r.shards[i].h)
		r.shards[i].Unlock()
	}
	return h
}

// batch is one goroutine's buffer of latencies in µs.
type batch struct {
	r     *recorder
	shard int
	vals  []int64
}

func (r *recorder) batch(id int) *batch {
	return &batch{r: r, shard: id % len(r.shards), vals: make([]int64, 0, 256)}
}

func (b *batch) add(us int64) {
	b.vals = append(b.vals, max(us, histMin))
	if len(b.vals) == cap(b.vals) {
		b.flush()
	}
}

func (b *batch) flush() {
	if len(b.vals) == 0 {
		return
	}
	s := &b.r.shards[b.shard]
	s.Lock()
	for _, v := range b.vals {
		s.h.RecordValue(min(v, histMax))
	}
	s.Unlock()
	b.vals = b.vals[:0]
}
