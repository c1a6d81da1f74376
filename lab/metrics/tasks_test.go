package metrics

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeTask writes a /proc/<tid> directory with the two files Tasks reads,
// as the kernel writes them.
func fakeTask(t *testing.T, proc string, tid int, vol, invol int64, waitedNS int64) {
	t.Helper()
	dir := filepath.Join(proc, fmt.Sprint(tid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	status := fmt.Sprintf("Name:\tpython3\nState:\tS (sleeping)\nTgid:\t%d\nThreads:\t3\nvoluntary_ctxt_switches:\t%d\nnonvoluntary_ctxt_switches:\t%d\n", tid, vol, invol)
	os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644)
	os.WriteFile(filepath.Join(dir, "schedstat"), []byte(fmt.Sprintf("123456789 %d 42\n", waitedNS)), 0o644)
}

// TestTasks reads a fake cgroup and /proc tree twice, v1 and v2, and
// takes the difference: a task that ended in between is not counted, a
// new one counts from zero, and the CPU split comes in each version's
// unit.
func TestTasks(t *testing.T) {
	t.Parallel()
	for _, v2 := range []bool{false, true} {
		dir := t.TempDir()
		proc := filepath.Join(dir, "proc")
		p := paths{v2: v2, tasks: filepath.Join(dir, "tasks"), cpuStat: filepath.Join(dir, "cpu.stat")}
		s := &Sampler{files: p}
		split := func(userS, sysS float64) string {
			if v2 {
				return fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec %d\n", int(1e6*(userS+sysS)), int(1e6*userS), int(1e6*sysS))
			}
			return fmt.Sprintf("user %d\nsystem %d\n", int(userHZ*userS), int(userHZ*sysS))
		}
		// First reading: tasks 10 and 11.
		fakeTask(t, proc, 10, 100, 5, 1e6)
		fakeTask(t, proc, 11, 50, 0, 0)
		os.WriteFile(p.tasks, []byte("10\n11\n"), 0o644)
		os.WriteFile(p.cpuStat, []byte(split(1, 0.5)), 0o644)
		a, err := s.Tasks(proc)
		if err != nil {
			t.Fatal(err)
		}
		// Second: 11 ended, 12 began, 10 ran on; 13 is listed but gone.
		os.RemoveAll(filepath.Join(proc, "11"))
		fakeTask(t, proc, 10, 160, 25, 31e6)
		fakeTask(t, proc, 12, 7, 3, 2e6)
		os.WriteFile(p.tasks, []byte("10\n12\n13\n"), 0o644)
		os.WriteFile(p.cpuStat, []byte(split(1.6, 0.9)), 0o644)
		b, err := s.Tasks(proc)
		if err != nil {
			t.Fatal(err)
		}
		b.T = a.T.Add(2 * time.Second)
		got := Sched(a, b)
		if got.Voluntary != 60+7 || got.Involuntary != 20+3 || math.Abs(got.Waited-0.032) > 1e-9 || got.Tasks != 2 || got.Seconds != 2 {
			t.Errorf("v2 %v: %+v; want 67 voluntary, 23 involuntary, 0.032 s waited, 2 tasks over 2 s", v2, *got)
		}
		if math.Abs(got.User-0.6) > 1e-6 || math.Abs(got.System-0.4) > 1e-6 {
			t.Errorf("v2 %v: user %.3f s, system %.3f s; want 0.6 and 0.4", v2, got.User, got.System)
		}
	}
	if _, err := (&Sampler{next: func() (Sample, error) { return Sample{}, nil }}).Tasks(""); err == nil {
		t.Error("a stream's sampler gave task counters")
	}
}
