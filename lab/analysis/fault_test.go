package analysis

import (
	"testing"

	"github.com/linelab/linelab/lab"
)

func TestRecovery(t *testing.T) {
	t.Parallel()
	mark := []lab.Mark{{What: "crash", FromMS: 400, ToMS: 650}}
	tests := []struct {
		name        string
		answers     []int64
		faults      []lab.Mark
		ms          float64
		back, valid bool
	}{
		// 100 a bucket before; the fault ends at 650 ms, in bucket 6;
		// bucket 8 (800–900 ms) is the first of two at 90 or more.
		{"crash", []int64{100, 100, 100, 100, 40, 0, 0, 30, 95, 100, 100}, mark, 250, true, true},
		// back within the bucket where the fault ends: by 700 ms.
		{"no dip", []int64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, mark, 50, true, true},
		// one good bucket alone is not back.
		{"blip", []int64{100, 100, 100, 100, 0, 0, 0, 95, 10, 92, 91}, mark, 350, true, true},
		{"never back", []int64{100, 100, 100, 100, 0, 0, 0, 10, 20, 30}, mark, 0, false, true},
		// the last bucket alone may say it.
		{"back at the end", []int64{100, 100, 100, 100, 0, 0, 0, 10, 20, 99}, mark, 350, true, true},
		{"too early to say", []int64{100, 100, 0, 100, 100}, []lab.Mark{{FromMS: 250, ToMS: 300}}, 0, false, false},
		{"nothing before", []int64{0, 0, 0, 0, 0, 100, 100}, mark, 0, false, false},
		{"no fault done", []int64{100, 100, 100, 100, 100}, nil, 0, false, false},
		{"fault failed", []int64{100, 100, 100, 100, 100, 100, 100}, []lab.Mark{{FromMS: 400, ToMS: 410, Error: "no rights"}}, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, back, valid := Recovery(&lab.Timeline{BucketMS: 100, Answers: tt.answers, Faults: tt.faults})
			if ms != tt.ms || back != tt.back || valid != tt.valid {
				t.Errorf("Recovery = %v ms, back %v, valid %v; want %v, %v, %v", ms, back, valid, tt.ms, tt.back, tt.valid)
			}
		})
	}
	if _, _, valid := Recovery(nil); valid {
		t.Error("a trial with no timeline gave a recovery")
	}
}

func TestLostLines(t *testing.T) {
	t.Parallel()
	if n := LostLines(map[lab.FailClass]int64{"connect": 900, "reset": 40, "closed": 2, "error-line": 7, "unanswered": 1}); n != 43 {
		t.Errorf("LostLines = %d, want 43 (reset, closed, unanswered)", n)
	}
}
