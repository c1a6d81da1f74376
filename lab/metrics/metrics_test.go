package metrics

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Sampler{}
	for i := range 11 { // 0..1 s every 100 ms; the CPU runs at half a core
		s.samples = append(s.samples, Sample{
			T: t0.Add(time.Duration(i) * Interval), CPU: time.Duration(i) * Interval / 2,
			WorkingSet: int64(100 + i), Peak: 200, Threads: 2 + i%3,
		})
	}
	w := s.Window(t0.Add(200*time.Millisecond), t0.Add(800*time.Millisecond))
	if w.CPUSeconds < 0.29 || w.CPUSeconds > 0.31 {
		t.Errorf("CPU seconds %v, want 0.3 (half a core for 0.6 s)", w.CPUSeconds)
	}
	if w.WorkingSetMax != 109 || w.ThreadsMax != 4 || w.Peak != 200 || w.Samples != 9 {
		t.Errorf("window %+v", w)
	}
	if (&Sampler{}).Window(t0, t0.Add(time.Second)).Samples != 0 {
		t.Error("an empty sampler has samples")
	}
}
