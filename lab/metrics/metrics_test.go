package metrics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	w, err := s.Window(t0.Add(200*time.Millisecond), t0.Add(800*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if w.CPUSeconds < 0.29 || w.CPUSeconds > 0.31 {
		t.Errorf("CPU seconds %v, want 0.3 (half a core for 0.6 s)", w.CPUSeconds)
	}
	if w.WorkingSetMax != 109 || w.ThreadsMax != 4 || w.Peak != 200 || w.Samples != 9 {
		t.Errorf("window %+v", w)
	}
	if w, err := (&Sampler{}).Window(t0, t0.Add(time.Second)); err == nil || w.Samples != 0 {
		t.Errorf("an empty sampler: %+v, %v; want no samples and an error", w, err)
	}
	one := &Sampler{samples: []Sample{{T: t0, CPU: time.Second}, {T: t0, CPU: 2 * time.Second}}}
	if w, err := one.Window(t0, t0.Add(time.Second)); err == nil {
		t.Errorf("samples with no time between them: %+v and no error; want an error, not a NaN", w)
	}
}

// A server busy on its whole core until the load stops at 1.05 s, then
// idle: the window's CPU is the core's, not diluted by the idle sample
// after the end.
func TestWindowEndsWithTheLoad(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Sampler{}
	for i := range 13 {
		at := time.Duration(i) * Interval
		s.samples = append(s.samples, Sample{T: t0.Add(at), CPU: min(at, 1050*time.Millisecond)})
	}
	from, to := t0.Add(50*time.Millisecond), t0.Add(1050*time.Millisecond)
	if w, _ := s.Window(from, to); w.CPUSeconds < 0.99 || w.CPUSeconds > 1.01 {
		t.Errorf("CPU seconds %v, want 1 (a full core for 1 s)", w.CPUSeconds)
	}
	// Too short for samples inside: the samples around it.
	if w, _ := s.Window(t0.Add(520*time.Millisecond), t0.Add(580*time.Millisecond)); w.CPUSeconds < 0.059 || w.CPUSeconds > 0.061 {
		t.Errorf("short window: CPU seconds %v, want 0.06", w.CPUSeconds)
	}
}

func TestCoresBusy(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stat := func(core1 string) []byte {
		return []byte("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 10 0 10 80 0 0 0 0 0 0\ncpu1 " + core1 + "\nintr 1 2\n")
	}
	a, err := parseStat(stat("100 0 50 800 50 0 0 0 0 0"), []int{0, 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Core 1 then spends 60 ticks in user, 20 in softirq, 10 idle, 10 iowait:
	// 80% busy; core 0 does not move.
	b, err := parseStat(stat("160 0 50 810 60 0 20 0 0 0"), []int{0, 1}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := busiest(a, b); got < 0.799 || got > 0.801 {
		t.Errorf("busiest %v, want 0.8", got)
	}
	c := &Cores{samples: []coreSample{a, b}}
	if got := c.Busy(t0, t0.Add(time.Second)); got < 0.799 || got > 0.801 {
		t.Errorf("Busy %v, want 0.8", got)
	}
	if got := c.Busy(t0.Add(time.Hour), t0.Add(2*time.Hour)); got != -1 {
		t.Errorf("Busy with no samples %v, want -1", got)
	}
	if _, err := parseStat(stat("1 2 3 4 5 6 7 8"), []int{7}, t0); err == nil {
		t.Error("a core that is not there was found")
	}
}

// Measure reads a busy share over the span from now on, and -1 for a look
// cut short.
func TestCoresMeasure(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat")
	}
	c := &Cores{cores: []int{0}}
	if got := c.Measure(context.Background(), 30*time.Millisecond); got < 0 || got > 1 {
		t.Errorf("Measure %v, want a share", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := c.Measure(ctx, time.Second); got != -1 {
		t.Errorf("cancelled Measure %v, want -1", got)
	}
}

// A container started again has its CPU counter back at zero; the
// sampler's CPU time stays cumulative across it.
func TestCPUAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := paths{cpu: filepath.Join(dir, "cpuacct.usage"), mem: filepath.Join(dir, "usage"),
		memStat: filepath.Join(dir, "stat"), memPeak: filepath.Join(dir, "peak"), pids: filepath.Join(dir, "pids")}
	for _, f := range []string{p.mem, p.memStat, p.memPeak, p.pids} {
		os.WriteFile(f, []byte("0\n"), 0o644)
	}
	s := &Sampler{files: p}
	for _, step := range []struct {
		counter string
		want    time.Duration
	}{{"100", 100}, {"300", 300}, {"50", 350}, {"80", 380}, {"10", 390}} {
		os.WriteFile(p.cpu, []byte(step.counter+"\n"), 0o644)
		smp, err := s.read()
		if err != nil {
			t.Fatal(err)
		}
		if smp.CPU != step.want {
			t.Errorf("counter %s: CPU %d, want %d", step.counter, smp.CPU, step.want)
		}
	}
	os.Remove(p.cpu)
	if _, err := s.read(); err == nil {
		t.Error("a stopped container's missing counter read as a sample")
	}
}

// A stream's samples (a remote engine's, read there) are kept as they
// come; Now waits for the next; Stop closes the stream.
func TestStartStream(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	feed := make(chan Sample)
	closed := make(chan struct{})
	s := StartStream(func() (Sample, error) {
		select {
		case smp := <-feed:
			return smp, nil
		case <-closed:
			return Sample{}, fmt.Errorf("closed")
		}
	}, func() { close(closed) })
	for i := 1; i <= 6; i++ {
		go func() {
			time.Sleep(10 * time.Millisecond) // Now is waiting by then
			feed <- Sample{T: t0.Add(time.Duration(i) * Interval), CPU: time.Duration(i) * 10 * time.Millisecond, WorkingSet: 1 << 20, Threads: 2}
		}()
		smp, err := s.Now()
		if err != nil {
			t.Fatal(err)
		}
		if smp.CPU != time.Duration(i)*10*time.Millisecond {
			t.Errorf("Now gave a sample with CPU %s, want the next one's, %dms", smp.CPU, i*10)
		}
	}
	w, err := s.Window(t0, t0.Add(6*Interval))
	if err != nil {
		t.Fatal(err)
	}
	// 10 ms per 100 ms throughout: 0.1 CPU-seconds per second.
	if got := w.CPUSeconds / (6 * Interval).Seconds(); got < 0.099 || got > 0.101 {
		t.Errorf("CPU share %.3f, want 0.100", got)
	}
	if w.WorkingSetMax != 1<<20 || w.ThreadsMax != 2 || s.ResetPeak() {
		t.Errorf("window %+v; reset peak must be refused", w)
	}
	s.Stop()
	if _, err := s.Now(); err == nil {
		t.Error("Now after Stop: no error")
	}
}
