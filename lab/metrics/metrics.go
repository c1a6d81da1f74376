// Package metrics samples a container's CPU time, memory and threads from
// its cgroup files, ten times a second. Docker's stats stream gives one
// record a second, too coarse for half-second steps; the cgroup files are
// what it reads anyway, and reading four small files is cheap. An engine on
// another machine has no files here: there a container of the lab's reads
// them (Open and Read, with the host's cgroup mounted) and streams its
// samples, which StartStream keeps. (The engine's stats endpoint would
// need no container, but Docker collects those once a second.)
//
// It knows cgroup v1 (Debian's docker.io 20.10 here: /sys/fs/cgroup/<ctl>/docker/<id>)
// and cgroup v2 (/sys/fs/cgroup/system.slice/docker-<id>.scope).
package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Interval is the sampling period.
const Interval = 100 * time.Millisecond

// Sample is one reading.
type Sample struct {
	T          time.Time
	CPU        time.Duration // cumulative CPU time of the container
	WorkingSet int64         // memory in use less inactive file cache, bytes
	Peak       int64         // cgroup's high-water mark (v1), bytes; 0 if unknown
	Threads    int           // tasks in the container
}

// Sampler samples one container until Stop.
type Sampler struct {
	files paths
	// next waits for the next sample of a stream (StartStream); nil: the
	// cgroup files.
	next        func() (Sample, error)
	closeStream func()
	arrived     chan struct{} // closed and renewed at each sample of a stream
	ended       error         // why the stream ended
	stop        chan struct{}
	done        chan struct{}

	mu      sync.Mutex
	samples []Sample

	// A container started again (a crash on purpose) has a new cgroup
	// whose CPU counter starts at zero: the CPU time it had before is
	// carried as an offset, so CPU stays cumulative.
	cpuMu      sync.Mutex
	lastCPU    time.Duration
	cpuCarried time.Duration
}

type paths struct {
	v2                               bool
	cpu, mem, memStat, memPeak, pids string
	tasks, cpuStat                   string // every thread's id; the CPU's user/system split
}

// find locates the cgroup files of container id under root (the
// cgroup file system: /sys/fs/cgroup, or where a container mounted it).
func find(root, id string) (paths, error) {
	v1 := paths{
		cpu:     filepath.Join(root, "cpuacct", "docker", id, "cpuacct.usage"),
		mem:     filepath.Join(root, "memory", "docker", id, "memory.usage_in_bytes"),
		memStat: filepath.Join(root, "memory", "docker", id, "memory.stat"),
		memPeak: filepath.Join(root, "memory", "docker", id, "memory.max_usage_in_bytes"),
		pids:    filepath.Join(root, "pids", "docker", id, "pids.current"),
		tasks:   filepath.Join(root, "cpuacct", "docker", id, "tasks"),
		cpuStat: filepath.Join(root, "cpuacct", "docker", id, "cpuacct.stat"),
	}
	if _, err := os.Stat(v1.cpu); err == nil {
		return v1, nil
	}
	dir := filepath.Join(root, "system.slice", "docker-"+id+".scope")
	v2 := paths{
		v2:      true,
		cpu:     filepath.Join(dir, "cpu.stat"),
		mem:     filepath.Join(dir, "memory.current"),
		memStat: filepath.Join(dir, "memory.stat"),
		memPeak: filepath.Join(dir, "memory.peak"),
		pids:    filepath.Join(dir, "pids.current"),
		tasks:   filepath.Join(dir, "cgroup.threads"),
		cpuStat: filepath.Join(dir, "cpu.stat"),
	}
	if _, err := os.Stat(v2.cpu); err == nil {
		return v2, nil
	}
	return paths{}, fmt.Errorf("no cgroup files for container %.12s under %s (v1 docker/<id> or v2 system.slice/docker-<id>.scope); the lab must run on the Docker host", id, root)
}

// Start begins sampling container id.
func Start(id string) (*Sampler, error) {
	s, err := Open("/sys/fs/cgroup", id)
	if err != nil {
		return nil, err
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.loop()
	return s, nil
}

// Open finds container id's cgroup files under root and reads them once;
// Read reads them again. It does not sample by itself (Stop does nothing).
func Open(root, id string) (*Sampler, error) {
	p, err := find(root, id)
	if err != nil {
		return nil, err
	}
	s := &Sampler{files: p}
	if _, err := s.read(); err != nil {
		return nil, err
	}
	return s, nil
}

// Read takes a reading of an opened sampler's files, CPU carried across
// restarts as Start's.
func (s *Sampler) Read() (Sample, error) { return s.read() }

// StartStream keeps the samples next returns, each as it comes (next
// waits for it), until next fails; Stop calls closeStream, which must make
// next fail. The samples' CPU must already be cumulative across restarts
// (Read's is).
func StartStream(next func() (Sample, error), closeStream func()) *Sampler {
	s := &Sampler{next: next, closeStream: closeStream, arrived: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			smp, err := next()
			s.mu.Lock()
			if err != nil {
				s.ended = err
			} else {
				s.samples = append(s.samples, smp)
			}
			close(s.arrived)
			s.arrived = make(chan struct{})
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *Sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		// A read fails while the container is stopped; it may be started
		// again, so the loop goes on until Stop. What was sampled stays.
		if smp, err := s.read(); err == nil {
			s.mu.Lock()
			s.samples = append(s.samples, smp)
			s.mu.Unlock()
		}
		select {
		case <-t.C:
		case <-s.stop:
			return
		}
	}
}

// Stop ends sampling (a stream's by closing it).
func (s *Sampler) Stop() {
	if s.done == nil {
		return // opened, never started
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
		if s.closeStream != nil {
			s.closeStream()
		}
	}
	<-s.done
}

// Now takes a reading at once (and keeps it); a stream's is the next
// sample to arrive.
func (s *Sampler) Now() (Sample, error) {
	if s.next != nil {
		return s.awaitNext()
	}
	smp, err := s.read()
	if err == nil {
		s.mu.Lock()
		s.samples = append(s.samples, smp)
		s.mu.Unlock()
	}
	return smp, err
}

// Latest is the newest sample kept, if any: a reading at most Interval
// old without reading the files again.
func (s *Sampler) Latest() (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return Sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// ResetPeak restarts the cgroup's memory high-water mark (v1, as root), so
// the next window's peak is its own. Where that is not allowed, the peak
// stays the container's since start, and Window says so.
func (s *Sampler) ResetPeak() bool {
	if s.next != nil || s.files.v2 {
		return false
	}
	return os.WriteFile(s.files.memPeak, []byte("0"), 0) == nil
}

// awaitNext waits for a stream's next sample (at most a second).
func (s *Sampler) awaitNext() (Sample, error) {
	s.mu.Lock()
	wait, n := s.arrived, len(s.samples)
	if s.ended != nil {
		defer s.mu.Unlock()
		return Sample{}, s.ended
	}
	s.mu.Unlock()
	select {
	case <-wait:
	case <-time.After(time.Second):
		return Sample{}, fmt.Errorf("no sample for a second")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == n {
		return Sample{}, s.ended
	}
	return s.samples[len(s.samples)-1], nil
}

func (s *Sampler) read() (Sample, error) {
	smp := Sample{T: time.Now()}
	cpu, err := s.cpu()
	if err != nil {
		return smp, err
	}
	smp.CPU = cpu
	usage, err := readInt(s.files.mem)
	if err != nil {
		return smp, err
	}
	inactive := "total_inactive_file"
	if s.files.v2 {
		inactive = "inactive_file"
	}
	in, _ := statField(s.files.memStat, inactive)
	smp.WorkingSet = max(usage-in, 0)
	smp.Peak, _ = readInt(s.files.memPeak)
	threads, _ := readInt(s.files.pids)
	smp.Threads = int(threads)
	return smp, nil
}

// Window summarises the samples between from and to.
type Window struct {
	CPUSeconds     float64 // CPU time used in the window
	WorkingSetMax  int64
	WorkingSetMean int64
	Peak           int64 // high-water mark at the end of the window
	ThreadsMax     int
	Samples        int
}

// Window summarises [from, to]. CPU time is the rate between the first and
// last samples inside the window (or, for a window too short to hold
// samples half its length apart, those just around it), times the window's
// length. A window with fewer than two samples apart in time around it is
// an error, not a zero or a NaN: its CPU time cannot be known.
func (s *Sampler) Window(from, to time.Time) (Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w Window
	var first, last, in0, in1 *Sample
	var sum int64
	for i := range s.samples {
		x := &s.samples[i]
		if x.T.Before(from.Add(-Interval)) || x.T.After(to.Add(Interval)) {
			continue
		}
		if first == nil {
			first = x
		}
		last = x
		if !x.T.Before(from) && !x.T.After(to) {
			if in0 == nil {
				in0 = x
			}
			in1 = x
		}
		w.Samples++
		w.WorkingSetMax = max(w.WorkingSetMax, x.WorkingSet)
		w.ThreadsMax = max(w.ThreadsMax, x.Threads)
		w.Peak = max(w.Peak, x.Peak)
		sum += x.WorkingSet
	}
	if w.Samples > 0 {
		w.WorkingSetMean = sum / int64(w.Samples)
	}
	// The CPU rate comes from the samples inside the window when they span
	// most of it: a sample just past the end sees the server already idle
	// (the load stopped), which would understate a short window's CPU by up
	// to an Interval's share. A window too short for that (the quick
	// profile's) takes the samples around it.
	if in0 != nil && in1.T.Sub(in0.T) >= to.Sub(from)/2 {
		first, last = in0, in1
	}
	if first == nil || !last.T.After(first.T) {
		return w, fmt.Errorf("%d samples of the container around %s–%s (%v), none apart in time: its CPU in the window cannot be measured", w.Samples, from.Format("15:04:05.000"), to.Format("15:04:05.000"), to.Sub(from).Round(time.Millisecond))
	}
	span := last.T.Sub(first.T).Seconds()
	w.CPUSeconds = (last.CPU - first.CPU).Seconds() / span * to.Sub(from).Seconds()
	return w, nil
}

// cpu reads the cumulative CPU time, carrying what a container had
// before it was started again. The lock spans the read, so two readers
// cannot take each other's older value for a restart.
func (s *Sampler) cpu() (time.Duration, error) {
	s.cpuMu.Lock()
	defer s.cpuMu.Unlock()
	var cpu time.Duration
	if s.files.v2 {
		usec, err := statField(s.files.cpu, "usage_usec")
		if err != nil {
			return 0, err
		}
		cpu = time.Duration(usec) * time.Microsecond
	} else {
		ns, err := readInt(s.files.cpu)
		if err != nil {
			return 0, err
		}
		cpu = time.Duration(ns)
	}
	return s.carry(cpu), nil
}

// carry adds to cpu, the container's CPU since it last started, what it
// had before. Callers hold cpuMu.
func (s *Sampler) carry(cpu time.Duration) time.Duration {
	if cpu < s.lastCPU {
		s.cpuCarried += s.lastCPU
	}
	s.lastCPU = cpu
	return cpu + s.cpuCarried
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func statField(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}
