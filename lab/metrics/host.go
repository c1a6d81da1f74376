package metrics

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cores samples how busy some of the machine's cores are, from /proc/stat,
// ten times a second. A core's busy share counts everything that ran on
// it: the lab's own process, any container pinned there (the upstream
// shares the driver's core), and the kernel's softirq work for the packets
// both sides exchange, which no process's CPU time shows.
type Cores struct {
	cores []int
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	samples []coreSample
}

type coreSample struct {
	t         time.Time
	busy, all []uint64 // per core, in clock ticks
}

// StartCores begins sampling the given cores.
func StartCores(cores []int) (*Cores, error) {
	c := &Cores{cores: cores, stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := c.read(); err != nil {
		return nil, err
	}
	go func() {
		defer close(c.done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			if s, err := c.read(); err == nil {
				c.mu.Lock()
				c.samples = append(c.samples, s)
				c.mu.Unlock()
			}
			select {
			case <-t.C:
			case <-c.stop:
				return
			}
		}
	}()
	return c, nil
}

// Stop ends sampling.
func (c *Cores) Stop() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// Busy is the busiest of the cores' busy shares (0 to 1) between the
// samples nearest from and to; -1 when there are not two samples.
func (c *Cores) Busy(from, to time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first, last *coreSample
	for i := range c.samples {
		s := &c.samples[i]
		if s.t.Before(from.Add(-Interval/2)) || s.t.After(to.Add(Interval/2)) {
			continue
		}
		if first == nil {
			first = s
		}
		last = s
	}
	if first == nil || first == last {
		return -1
	}
	return busiest(*first, *last)
}

func busiest(a, b coreSample) float64 {
	top := 0.0
	for i := range a.busy {
		all := float64(b.all[i] - a.all[i])
		if all <= 0 {
			continue
		}
		top = max(top, float64(b.busy[i]-a.busy[i])/all)
	}
	return top
}

// Measure reads the cores now and again after d, and returns the busiest
// core's busy share over that span (-1 when /proc/stat cannot be read): a
// look at how busy they are from this moment on, where Busy reads what the
// ticker sampled, up to an Interval late.
func (c *Cores) Measure(ctx context.Context, d time.Duration) float64 {
	a, err := c.read()
	if err != nil {
		return -1
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return -1
	}
	b, err := c.read()
	if err != nil {
		return -1
	}
	return busiest(a, b)
}

func (c *Cores) read() (coreSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return coreSample{}, err
	}
	return parseStat(b, c.cores, time.Now())
}

// parseStat reads the "cpuN" lines of /proc/stat: user nice system idle
// iowait irq softirq steal …; busy is everything but idle and iowait.
func parseStat(b []byte, cores []int, t time.Time) (coreSample, error) {
	s := coreSample{t: t, busy: make([]uint64, len(cores)), all: make([]uint64, len(cores))}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		for i, want := range cores {
			if n != want {
				continue
			}
			var all, idle uint64
			for j, v := range f[1:min(len(f), 9)] { // guest time is already in user
				x, _ := strconv.ParseUint(v, 10, 64)
				all += x
				if j == 3 || j == 4 {
					idle += x
				}
			}
			s.busy[i], s.all[i] = all-idle, all
			found++
		}
	}
	if found != len(cores) {
		return s, fmt.Errorf("/proc/stat: found %d of the cores %v", found, cores)
	}
	return s, nil
}
