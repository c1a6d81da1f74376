package analysis

// The talk's claims, as rules over a run's figures. Each rule takes the
// few figures its claim stands on and returns a typed Finding; the report
// has the words. A figure the run could not trust (one trial, ranges that
// overlap because the trials were noisy, a rate the driver bounded) gives
// CannotTell, never a verdict.

// Answer is what a run says about a claim.
type Answer string

const (
	Holds         Answer = "holds"
	DoesNotHold   Answer = "does not hold"
	HoldsOnlyWhen Answer = "holds only when"
	CannotTell    Answer = "cannot tell"
)

// Reason says why a claim could not be told, or why it did not hold.
type Reason string

const (
	ReasonMissing   Reason = "missing"   // a scenario, step or implementation did not run
	ReasonSkipped   Reason = "skipped"   // the run's layout cannot run the scenario (too few cores)
	ReasonOneTrial  Reason = "one-trial" // a figure of one trial has no range to decide by
	ReasonNoisy     Reason = "noisy"     // noisy trials whose ranges overlap
	ReasonBound     Reason = "bound"     // a rate the driver or the upstream bounded
	ReasonNotGrown  Reason = "not-grown" // the cost did not grow beyond its trials' ranges
	ReasonPeerAlike Reason = "peer-alike"
	ReasonNotHeld   Reason = "not-held" // the light lines did not wait out the heavy line
	ReasonNoMore    Reason = "no-more"  // the callbacks style handed over no more callbacks
	ReasonNotAsync  Reason = "not-async"
	ReasonSpread    Reason = "spread"  // threads used more than one core's worth
	ReasonChanged   Reason = "changed" // the patched server changed the threaded code
)

// Finding is a claim's verdict with what it rests on.
type Finding struct {
	Answer Answer
	Reason Reason
	// What names the missing scenario, step or implementation (Missing,
	// Skipped), the step from which a claim holds (HoldsOnlyWhen), or the
	// implementations that are the exception.
	What []string
}

func cannot(r Reason, what ...string) Finding {
	return Finding{Answer: CannotTell, Reason: r, What: what}
}

// Growth margins and thresholds of the rules, exported so the report can
// state them.
const (
	// PeerMargin: threads' cost must grow this much more than the peer's
	// (a share of the peer's growth) to be threads' own.
	PeerMargin = 0.1
	// HeldUpShare: a light line's p99 that grows by this share of a heavy
	// line's CPU or more (750 µs per ms) waited out most of a heavy line:
	// the connection was held up. Not the whole line: the p99 without the
	// hog, which the growth is measured from, already held some queueing
	// that a light line waiting out the heavy one no longer adds.
	HeldUpShare = 0.75
	// GILCores: threads doing Python work on two cores or more that use
	// no more than this many cores' worth are held to one by the GIL.
	GILCores = 1.25
)

// Series is one implementation's figure across a sweep's steps, fewest
// connections first.
type Series struct {
	Impl  string
	Steps []string
	Stats []Spread
	Noisy []bool // the step's trials were flagged noisy
}

func (s Series) complete() (Finding, bool) {
	if len(s.Steps) < 2 || len(s.Stats) != len(s.Steps) {
		return cannot(ReasonMissing, s.Impl), false
	}
	for i, st := range s.Stats {
		if st.N == 0 {
			return cannot(ReasonMissing, s.Impl+" at "+s.Steps[i]), false
		}
		if st.N < 2 {
			return cannot(ReasonOneTrial, s.Impl), false
		}
	}
	return Finding{}, true
}

// ThreadsGrow is the talk's first claim: threads' overhead grows with the
// number of connections. threads and peer are lines per server
// CPU-second (a cost's inverse) across the same sweep. It holds from the
// first step at which threads' cost is above its cost at the fewest
// connections beyond both ranges, when at the most connections it has
// grown by PeerMargin more than the peer's.
func ThreadsGrow(threads, peer Series) Finding {
	for _, s := range []Series{threads, peer} {
		if f, ok := s.complete(); !ok {
			return f
		}
	}
	first, last := threads.Stats[0], threads.Stats[len(threads.Stats)-1]
	from := -1
	for i := 1; i < len(threads.Stats); i++ {
		if threads.Stats[i].Hi < first.Lo { // fewer lines per CPU-second: a dearer line
			from = i
			break
		}
	}
	if from < 0 {
		for i, st := range threads.Stats {
			if threads.Noisy[i] && Overlap(st, first) && i > 0 {
				return cannot(ReasonNoisy, threads.Impl+" at "+threads.Steps[i])
			}
		}
		return Finding{Answer: DoesNotHold, Reason: ReasonNotGrown}
	}
	grow := first.Center / last.Center
	pf, pl := peer.Stats[0], peer.Stats[len(peer.Stats)-1]
	peerGrow := pf.Center / pl.Center
	if grow <= peerGrow*(1+PeerMargin) {
		return Finding{Answer: DoesNotHold, Reason: ReasonPeerAlike, What: []string{peer.Impl}}
	}
	if from == 1 {
		return Finding{Answer: Holds}
	}
	return Finding{Answer: HoldsOnlyWhen, What: []string{threads.Steps[from]}}
}

// Radius is one implementation's blast radius (µs of light p99 per ms of
// a heavy line's CPU) and how it schedules.
type Radius struct {
	Impl        string
	Cooperative bool
	Radius      Spread
}

// HeldUp is the talk's second claim: a cooperative framework switches only
// where code would block, so a handler that computes holds every other
// connection up, unlike threads. A cooperative implementation was held up
// when its light lines waited out most of a heavy line (HeldUpShare)
// beyond threads' range; it was not when its median stayed under that;
// a median over it whose range reaches threads' cannot be told. The claim
// holds when no cooperative implementation was clearly spared (What then
// names those that cannot be told, Reason noisy), and holds only for the
// others when some were (What names them).
func HeldUp(threads Radius, coop []Radius) Finding {
	if threads.Radius.N == 0 {
		return cannot(ReasonMissing, threads.Impl)
	}
	if len(coop) == 0 {
		return cannot(ReasonMissing, "a cooperative implementation")
	}
	if threads.Radius.N < 2 {
		return cannot(ReasonOneTrial, threads.Impl)
	}
	held := HeldUpShare * 1000
	var spared, unclear []string
	for _, c := range coop {
		switch {
		case c.Radius.N < 2:
			return cannot(ReasonOneTrial, c.Impl)
		case c.Radius.Center < held:
			spared = append(spared, c.Impl)
		case c.Radius.Lo <= threads.Radius.Hi:
			unclear = append(unclear, c.Impl)
		}
	}
	clear := len(coop) - len(spared) - len(unclear)
	switch {
	case clear == 0 && threads.Radius.Center >= held:
		return Finding{Answer: DoesNotHold, Reason: ReasonPeerAlike, What: []string{threads.Impl}}
	case clear == 0 && len(unclear) == 0:
		return Finding{Answer: DoesNotHold, Reason: ReasonNotHeld}
	case clear == 0:
		return cannot(ReasonNoisy, unclear...)
	case len(spared) > 0:
		return Finding{Answer: HoldsOnlyWhen, What: spared}
	case len(unclear) > 0:
		return Finding{Answer: Holds, Reason: ReasonNoisy, What: unclear}
	}
	return Finding{Answer: Holds}
}

// GIL is the talk's aside that the GIL keeps threads to one core for
// Python work: threads' server cores in work mode with two server cores
// or more. given is the run's server cores; skipped names why the
// scenario did not run (its layout), empty when it ran; bound, that the
// driver or the upstream bounded the step, so the cores threads used may
// be all the load asked for.
func GIL(threadsCores Spread, bound bool, given int, skipped string) Finding {
	switch {
	case skipped != "":
		return cannot(ReasonSkipped, skipped)
	case threadsCores.N == 0:
		return cannot(ReasonMissing, "threads")
	case given < 2:
		return cannot(ReasonSkipped, "one server core")
	case threadsCores.N < 2:
		return cannot(ReasonOneTrial, "threads")
	case bound && threadsCores.Hi <= GILCores:
		return cannot(ReasonBound, "threads")
	case threadsCores.Hi <= GILCores:
		return Finding{Answer: Holds}
	case threadsCores.Lo > GILCores:
		return Finding{Answer: DoesNotHold, Reason: ReasonSpread}
	}
	return cannot(ReasonNoisy, "threads")
}

// Shape is what the lab counts in a handler's source: the callbacks it
// hands to its framework, how deep its code nests, and its lines of code.
type Shape struct {
	Impl      string
	Callbacks bool // written in the callbacks style (compose.yaml's flow)
	Handed    int
	Depth     int
	Lines     int
}

// Backwards is the talk's third claim: callbacks read backwards, while
// closures and greenlets read in the order they run. The lab cannot read;
// it counts: the claim holds when every handler in the callbacks style
// hands its framework more callbacks than any written in order.
func Backwards(shapes []Shape) Finding {
	mostInOrder, fewestCallbacks := -1, -1
	var inOrder, callbacks string
	for _, s := range shapes {
		switch {
		case s.Callbacks && (fewestCallbacks < 0 || s.Handed < fewestCallbacks):
			fewestCallbacks, callbacks = s.Handed, s.Impl
		case !s.Callbacks && s.Handed > mostInOrder:
			mostInOrder, inOrder = s.Handed, s.Impl
		}
	}
	switch {
	case fewestCallbacks < 0:
		return cannot(ReasonMissing, "a handler in the callbacks style")
	case mostInOrder < 0:
		return cannot(ReasonMissing, "a handler written in order")
	case fewestCallbacks <= mostInOrder:
		return Finding{Answer: DoesNotHold, Reason: ReasonNoMore, What: []string{callbacks, inOrder}}
	}
	return Finding{Answer: Holds}
}

// Patched is what the monkey-patching claim rests on: the lines added to
// the threaded code and the lines of it changed, and the patched server
// beside threads and hand-written greenlets.
type Patched struct {
	Added, Changed int
	// Memory per idle connection (bytes) of threads, the patched threads
	// and gevent.
	MemThreads, MemPatched, MemGreenlets Spread
	// Blast radius (µs per ms) of threads and the patched threads.
	RadiusThreads, RadiusPatched Spread
}

// Monkey is the talk's fourth claim: monkey patching turns the threaded
// code asynchronous with one added line. Asynchronous shows in memory: an
// idle connection of the patched server must cost less than a thread's,
// beyond both ranges. It holds only while the handler waits when, under a
// computing handler, the patched server is held up as a cooperative one
// is and threads are not.
func Monkey(p Patched) Finding {
	switch {
	case p.Changed > 0:
		return Finding{Answer: DoesNotHold, Reason: ReasonChanged}
	case p.MemThreads.N == 0 || p.MemPatched.N == 0:
		return cannot(ReasonMissing, "c10k-idle")
	case p.MemThreads.N < 2 || p.MemPatched.N < 2:
		return cannot(ReasonOneTrial, "c10k-idle")
	case p.MemPatched.Hi >= p.MemThreads.Lo:
		if Overlap(p.MemPatched, p.MemThreads) && (Noisy(p.MemPatched) || Noisy(p.MemThreads)) {
			return cannot(ReasonNoisy, "c10k-idle")
		}
		return Finding{Answer: DoesNotHold, Reason: ReasonNotAsync}
	}
	held := HeldUpShare * 1000
	if p.RadiusPatched.N >= 2 && p.RadiusThreads.N >= 2 && p.RadiusPatched.Center >= held &&
		p.RadiusThreads.Center < held && p.RadiusPatched.Lo > p.RadiusThreads.Hi {
		return Finding{Answer: HoldsOnlyWhen, What: []string{"waits"}}
	}
	return Finding{Answer: Holds}
}
