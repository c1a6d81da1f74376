package analysis

import "github.com/linelab/linelab/lab"

// BackShare is the share of the rate before a fault that counts as back.
const BackShare = 0.9

// Recovery reads a fault trial's timeline: the rate before the fault
// (median answers per bucket, over the buckets wholly before it), and
// within how long after the fault's end the rate was back at BackShare of
// it, in ms: to the end of the first of two buckets in a row at that rate
// (one, if it is the window's last). Read to the bucket, it is never 0: a
// server whose rate never dipped is back within the bucket the fault ended
// in. valid is false when the timeline
// cannot say (no fault was done, it failed, fewer than three buckets
// before it, or no answers before it); back is false when the rate was not
// back by the window's end.
func Recovery(tl *lab.Timeline) (ms float64, back, valid bool) {
	if tl == nil || len(tl.Faults) == 0 || tl.BucketMS <= 0 {
		return 0, false, false
	}
	from, to := tl.Faults[0].FromMS, tl.Faults[0].ToMS
	for _, m := range tl.Faults {
		if m.Error != "" {
			return 0, false, false
		}
		from, to = min(from, m.FromMS), max(to, m.ToMS)
	}
	b := float64(tl.BucketMS)
	var before []float64
	for i, n := range tl.Answers {
		if float64(i+1)*b <= from {
			before = append(before, float64(n))
		}
	}
	rate := Median(before)
	if len(before) < 3 || rate <= 0 {
		return 0, false, false
	}
	want := BackShare * rate
	n := len(tl.Answers)
	for j := 0; j < n; j++ {
		start := float64(j) * b
		if start+b <= to {
			continue // the bucket ends before the fault does
		}
		if float64(tl.Answers[j]) >= want && (j+1 == n || float64(tl.Answers[j+1]) >= want) {
			return start + b - to, true, true
		}
	}
	return 0, false, true
}

// LostLines are a trial's lines that never got their answer: the failures
// of every class but connect (a refused connect is an attempt, not a
// line) and error-line (an answer, if not the right one).
func LostLines(errors map[lab.FailClass]int64) int64 {
	var n int64
	for c, k := range errors {
		if c != lab.FailConnect && c != lab.FailErrorLine {
			n += k
		}
	}
	return n
}
