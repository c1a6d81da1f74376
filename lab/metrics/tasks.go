package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/linelab/linelab/lab"
)

// userHZ is the unit of cgroup v1's cpuacct.stat (USER_HZ, 100 on Linux).
const userHZ = 100

// Tasks is a reading of the scheduler's counters for every task (thread)
// of a container: why its CPU went where it went. It is read at a trial's
// window edges, not every Interval: a thread-per-connection server has a
// thousand tasks, and two small files of each ten times a second would
// cost the driver's core more than the reading is worth.
type Tasks struct {
	T            time.Time
	ByTask       map[int]TaskCount
	User, System time.Duration // the cgroup's CPU split
}

// TaskCount is one task's counters since it started.
type TaskCount struct {
	Voluntary, Involuntary int64         // context switches (/proc/<tid>/status)
	Waited                 time.Duration // runnable but waiting for a CPU (/proc/<tid>/schedstat)
}

// errNoTasks: a stream (a remote engine's sampler) carries no task counters.
var errNoTasks = errors.New("task counters are read only from this machine's cgroup files")

// Tasks reads every task's counters. proc is the /proc to read tasks
// from; "" means /proc.
func (s *Sampler) Tasks(proc string) (Tasks, error) {
	if s.next != nil || s.files.tasks == "" {
		return Tasks{}, errNoTasks
	}
	if proc == "" {
		proc = "/proc"
	}
	r := Tasks{T: time.Now(), ByTask: map[int]TaskCount{}}
	b, err := os.ReadFile(s.files.tasks)
	if err != nil {
		return r, err
	}
	for _, f := range strings.Fields(string(b)) {
		tid, err := strconv.Atoi(f)
		if err != nil {
			return r, fmt.Errorf("%s: task %q", s.files.tasks, f)
		}
		// A task that ended since the list was read is simply not counted.
		if c, err := readTask(filepath.Join(proc, f)); err == nil {
			r.ByTask[tid] = c
		}
	}
	r.User, r.System, err = cpuSplit(s.files.cpuStat, s.files.v2)
	return r, err
}

// readTask reads one task's switches and run-queue wait from its /proc
// directory.
func readTask(dir string) (TaskCount, error) {
	var c TaskCount
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return c, err
	}
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "voluntary_ctxt_switches":
			c.Voluntary, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		case "nonvoluntary_ctxt_switches":
			c.Involuntary, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
		if err != nil {
			return c, fmt.Errorf("%s/status: %w", dir, err)
		}
	}
	// schedstat: time on the CPU, time waiting to run (both ns), slices.
	b, err = os.ReadFile(filepath.Join(dir, "schedstat"))
	if err != nil {
		return c, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return c, fmt.Errorf("%s/schedstat: %q", dir, b)
	}
	w, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return c, fmt.Errorf("%s/schedstat: %w", dir, err)
	}
	c.Waited = time.Duration(w)
	return c, nil
}

// cpuSplit reads the cgroup's user and system CPU: cpuacct.stat in
// USER_HZ ticks (v1), or cpu.stat's user_usec and system_usec (v2).
func cpuSplit(path string, v2 bool) (user, system time.Duration, err error) {
	uk, sk, unit := "user", "system", time.Second/userHZ
	if v2 {
		uk, sk, unit = "user_usec", "system_usec", time.Microsecond
	}
	u, err := statField(path, uk)
	if err != nil {
		return 0, 0, err
	}
	s, err := statField(path, sk)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(u) * unit, time.Duration(s) * unit, nil
}

// Sched is what the scheduler did for the container between two readings:
// switches and run-queue wait of the tasks in the later one (a task that
// ended in between is not counted; one that began counts from zero), and
// the cgroup's CPU split.
func Sched(a, b Tasks) *lab.Sched {
	s := &lab.Sched{Seconds: b.T.Sub(a.T).Seconds(), Tasks: len(b.ByTask),
		User: (b.User - a.User).Seconds(), System: (b.System - a.System).Seconds()}
	for tid, c := range b.ByTask {
		was := a.ByTask[tid]
		s.Voluntary += max(c.Voluntary-was.Voluntary, 0)
		s.Involuntary += max(c.Involuntary-was.Involuntary, 0)
		s.Waited += max(c.Waited-was.Waited, 0).Seconds()
	}
	return s
}
