package analysis

import "github.com/linelab/linelab/lab"

// Fairness reads how evenly a closed loop's connections were served from
// the answers each got in the window: Jain's index, (Σx)² ÷ (n·Σx²), and
// the least-served connection's count over the mean. nil for fewer than
// two connections or no answers, where evenness means nothing.
func Fairness(perConn []int64) *lab.Fairness {
	if len(perConn) < 2 {
		return nil
	}
	var sum, sq float64
	least := perConn[0]
	for _, x := range perConn {
		sum += float64(x)
		sq += float64(x) * float64(x)
		least = min(least, x)
	}
	if sum == 0 {
		return nil
	}
	n := float64(len(perConn))
	return &lab.Fairness{Jain: sum * sum / (n * sq), Slowest: float64(least) / (sum / n)}
}

// PerLine reads a trial's scheduler counters per answer of its window:
// context switches (voluntary and involuntary), microseconds its tasks
// waited to run, and the kernel's share of its CPU. ok is false without
// counters or answers.
func PerLine(t lab.Trial) (voluntary, involuntary, waitedUS, kernel float64, ok bool) {
	s := t.Sched
	if s == nil || t.Lines <= 0 {
		return 0, 0, 0, 0, false
	}
	n := float64(t.Lines)
	if cpu := s.User + s.System; cpu > 0 {
		kernel = s.System / cpu
	}
	return float64(s.Voluntary) / n, float64(s.Involuntary) / n, 1e6 * s.Waited / n, kernel, true
}
