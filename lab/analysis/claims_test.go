package analysis

import (
	"reflect"
	"testing"
)

func sp(c, lo, hi float64, n int) Spread { return Spread{Center: c, Lo: lo, Hi: hi, N: n} }

func series(impl string, stats ...Spread) Series {
	s := Series{Impl: impl, Stats: stats, Noisy: make([]bool, len(stats))}
	for _, n := range []string{"c10", "c100", "c1000"}[:len(stats)] {
		s.Steps = append(s.Steps, n)
	}
	return s
}

func TestThreadsGrow(t *testing.T) {
	t.Parallel()
	gevent := series("gevent", sp(37e3, 36e3, 38e3, 4), sp(40e3, 39e3, 41e3, 4), sp(33e3, 32e3, 34e3, 4))
	noisy := series("threads", sp(54e3, 40e3, 60e3, 4), sp(64e3, 50e3, 70e3, 4), sp(50e3, 41e3, 62e3, 4))
	noisy.Noisy = []bool{true, true, true}
	for _, tc := range []struct {
		name          string
		threads, peer Series
		want          Finding
	}{
		{"grows from 1,000 connections only", series("threads", sp(54e3, 52e3, 56e3, 4), sp(64e3, 62e3, 66e3, 4), sp(38e3, 36e3, 40e3, 4)), gevent,
			Finding{Answer: HoldsOnlyWhen, What: []string{"c1000"}}},
		{"grows from the first step", series("threads", sp(60e3, 58e3, 62e3, 4), sp(45e3, 44e3, 46e3, 4), sp(30e3, 29e3, 31e3, 4)), gevent,
			Finding{Answer: Holds}},
		{"flat within its ranges", series("threads", sp(54e3, 50e3, 58e3, 4), sp(55e3, 51e3, 59e3, 4), sp(53e3, 51e3, 57e3, 4)), gevent,
			Finding{Answer: DoesNotHold, Reason: ReasonNotGrown}},
		{"the peer grew as much", series("threads", sp(60e3, 58e3, 62e3, 4), sp(58e3, 57e3, 59e3, 4), sp(50e3, 49e3, 51e3, 4)),
			series("gevent", sp(60e3, 59e3, 61e3, 4), sp(55e3, 54e3, 56e3, 4), sp(49e3, 48e3, 50e3, 4)),
			Finding{Answer: DoesNotHold, Reason: ReasonPeerAlike, What: []string{"gevent"}}},
		{"noisy and overlapping: cannot tell", noisy, gevent, Finding{Answer: CannotTell, Reason: ReasonNoisy, What: []string{"threads at c100"}}},
		{"one trial each (quick)", series("threads", sp(5, 5, 5, 1), sp(4, 4, 4, 1), sp(3, 3, 3, 1)), gevent,
			Finding{Answer: CannotTell, Reason: ReasonOneTrial, What: []string{"threads"}}},
		{"a step missing", series("threads", sp(5, 5, 5, 3), Spread{}, sp(3, 3, 3, 3)), gevent,
			Finding{Answer: CannotTell, Reason: ReasonMissing, What: []string{"threads at c100"}}},
		{"no sweep", series("threads"), gevent, Finding{Answer: CannotTell, Reason: ReasonMissing, What: []string{"threads"}}},
	} {
		if got := ThreadsGrow(tc.threads, tc.peer); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestHeldUp(t *testing.T) {
	t.Parallel()
	threads := Radius{Impl: "threads", Radius: sp(600, 500, 700, 3)}
	calm := Radius{Impl: "threads", Radius: sp(100, 50, 150, 3)}
	gevent := Radius{Impl: "gevent", Cooperative: true, Radius: sp(1900, 1800, 2000, 3)}
	node := Radius{Impl: "node", Cooperative: true, Radius: sp(1000, 950, 1100, 3)}
	light := Radius{Impl: "asyncio", Cooperative: true, Radius: sp(300, 250, 350, 3)}
	for _, tc := range []struct {
		name    string
		threads Radius
		coop    []Radius
		want    Finding
	}{
		{"every cooperative server held up, threads not", threads, []Radius{gevent, node}, Finding{Answer: Holds}},
		{"an exception", calm, []Radius{gevent, light}, Finding{Answer: HoldsOnlyWhen, What: []string{"asyncio"}}},
		{"none held up", calm, []Radius{light}, Finding{Answer: DoesNotHold, Reason: ReasonNotHeld}},
		{"threads held up as much", Radius{Impl: "threads", Radius: sp(2000, 1900, 2100, 3)}, []Radius{gevent, node},
			Finding{Answer: DoesNotHold, Reason: ReasonPeerAlike, What: []string{"threads"}}},
		{"threads' range reaches a cooperative one's: that one cannot be told", Radius{Impl: "threads", Radius: sp(600, 500, 1000, 3)}, []Radius{gevent, node},
			Finding{Answer: Holds, Reason: ReasonNoisy, What: []string{"node"}}},
		{"every cooperative range reaches threads'", Radius{Impl: "threads", Radius: sp(600, 500, 2500, 3)}, []Radius{gevent, node},
			Finding{Answer: CannotTell, Reason: ReasonNoisy, What: []string{"gevent", "node"}}},
		{"one spared, one unclear: none clearly held", Radius{Impl: "threads", Radius: sp(600, 500, 1000, 3)}, []Radius{node, light},
			Finding{Answer: CannotTell, Reason: ReasonNoisy, What: []string{"node"}}},
		{"one spared, one held", calm, []Radius{gevent, light}, Finding{Answer: HoldsOnlyWhen, What: []string{"asyncio"}}},
		{"one trial", Radius{Impl: "threads", Radius: sp(600, 600, 600, 1)}, []Radius{gevent}, Finding{Answer: CannotTell, Reason: ReasonOneTrial, What: []string{"threads"}}},
		{"no cpu-hog", Radius{Impl: "threads"}, nil, Finding{Answer: CannotTell, Reason: ReasonMissing, What: []string{"threads"}}},
	} {
		if got := HeldUp(tc.threads, tc.coop); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestGIL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cores   Spread
		bound   bool
		given   int
		skipped string
		want    Finding
	}{
		{"skipped on two cores", Spread{}, false, 1, "needs 2 server cores", Finding{Answer: CannotTell, Reason: ReasonSkipped, What: []string{"needs 2 server cores"}}},
		{"one core's worth on two", sp(1.0, 0.98, 1.02, 3), false, 2, "", Finding{Answer: Holds}},
		{"driver-bound: cannot tell", sp(0.8, 0.7, 0.9, 3), true, 2, "", Finding{Answer: CannotTell, Reason: ReasonBound, What: []string{"threads"}}},
		{"free-threaded: both cores", sp(1.9, 1.8, 1.95, 3), false, 2, "", Finding{Answer: DoesNotHold, Reason: ReasonSpread}},
		{"astride the line", sp(1.2, 1.0, 1.5, 3), false, 2, "", Finding{Answer: CannotTell, Reason: ReasonNoisy, What: []string{"threads"}}},
		{"one trial", sp(1, 1, 1, 1), false, 2, "", Finding{Answer: CannotTell, Reason: ReasonOneTrial, What: []string{"threads"}}},
	} {
		if got := GIL(tc.cores, tc.bound, tc.given, tc.skipped); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestBackwards(t *testing.T) {
	t.Parallel()
	twisted, node := Shape{Impl: "twisted", Callbacks: true, Handed: 6}, Shape{Impl: "node", Callbacks: true, Handed: 15}
	threads, tornado := Shape{Impl: "threads"}, Shape{Impl: "tornado", Handed: 1}
	for _, tc := range []struct {
		name   string
		shapes []Shape
		want   Finding
	}{
		{"callbacks hand over more", []Shape{twisted, node, threads, tornado}, Finding{Answer: Holds}},
		{"an in-order handler hands over as many", []Shape{twisted, {Impl: "x", Handed: 6}}, Finding{Answer: DoesNotHold, Reason: ReasonNoMore, What: []string{"twisted", "x"}}},
		{"no callbacks style ran", []Shape{threads}, Finding{Answer: CannotTell, Reason: ReasonMissing, What: []string{"a handler in the callbacks style"}}},
	} {
		if got := Backwards(tc.shapes); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestMonkey(t *testing.T) {
	t.Parallel()
	base := Patched{Added: 4, MemThreads: sp(60e3, 58e3, 62e3, 4), MemPatched: sp(9e3, 8e3, 10e3, 4), MemGreenlets: sp(7e3, 6e3, 8e3, 4),
		RadiusThreads: sp(600, 500, 700, 3), RadiusPatched: sp(1100, 1000, 1200, 3)}
	calm := base
	calm.RadiusPatched = sp(300, 250, 350, 3)
	heavy := base
	heavy.MemPatched = sp(61e3, 59e3, 63e3, 4)
	changed := base
	changed.Changed = 3
	quick := base
	quick.MemThreads, quick.MemPatched = sp(1, 1, 1, 1), sp(1, 1, 1, 1)
	for _, tc := range []struct {
		name string
		p    Patched
		want Finding
	}{
		{"asynchronous, but held up by a computing handler", base, Finding{Answer: HoldsOnlyWhen, What: []string{"waits"}}},
		{"asynchronous and not held up", calm, Finding{Answer: Holds}},
		{"an idle connection costs a thread's", heavy, Finding{Answer: DoesNotHold, Reason: ReasonNotAsync}},
		{"the threaded code changed", changed, Finding{Answer: DoesNotHold, Reason: ReasonChanged}},
		{"one trial", quick, Finding{Answer: CannotTell, Reason: ReasonOneTrial, What: []string{"c10k-idle"}}},
		{"no c10k-idle", Patched{}, Finding{Answer: CannotTell, Reason: ReasonMissing, What: []string{"c10k-idle"}}},
	} {
		if got := Monkey(tc.p); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestCountShape(t *testing.T) {
	t.Parallel()
	py := "\"\"\"doc: addCallback( lambda\"\"\"\nimport x\n\n# lambda\ndef f(d):\n    d.addCallback(lambda r: r)  # lambda\n    if d:\n        return d\n"
	if h, d, n := CountShape("python", py); h != 2 || d != 2 || n != 5 {
		t.Errorf("python: handed %d depth %d lines %d, want 2 2 5", h, d, n)
	}
	js := "// (x) => x\nconst s = net.createServer((socket) => {\n  socket.on('data', function (c) { w(c); });\n});\n"
	if h, d, n := CountShape("javascript", js); h != 2 || d != 2 || n != 3 {
		t.Errorf("javascript: handed %d depth %d lines %d, want 2 2 3", h, d, n)
	}
	changed, added := LinesChanged([]string{"a\nb\n\nc"}, []string{"patch\n", "a\n  b\nc\n# note"})
	if changed != 0 || added != 1 {
		t.Errorf("LinesChanged: %d changed, %d added, want 0 and 1", changed, added)
	}
}
