// Package analysis holds the rules that decide whether a figure can be
// trusted: when a trial was bound by the driver or the upstream rather than
// the server, when the machine drifted under a trial, where an open loop's
// knee lies, and which rates of a ladder are worth running. Everything here
// is a pure function of measured values, with no I/O, so each rule is
// table-tested and the runner and the report only apply it.
//
// What it believes: the driver, the upstream and the machine are suspects
// before any server is. A figure that one of them may have limited is
// flagged, and a winner or a knee is never taken from it.
package analysis

import (
	"fmt"
	"math"
	"slices"

	"github.com/linelab/linelab/lab"
)

// Thresholds of the rules, exported so the report can state them.
const (
	// CoreSaturated: a driver core at least this busy had no room left,
	// whatever ran on it (the lab, the upstream, the kernel's packet work).
	CoreSaturated = 0.9
	// CoreLeaning and ServerSlack: in a closed loop, a driver core at least
	// CoreLeaning busy while the server's core was idle ServerSlack more of
	// the time was the likelier limit. Its average is sampled over the whole
	// window, so under 90% it still hides moments when it was full, and a
	// server with idle CPU in a closed loop was waiting for lines.
	CoreLeaning = 0.8
	ServerSlack = 0.15
	// IdealShare: a fetch trial at this share of its ideal or more was held
	// by the upstream's latency, as the step means it to be; an idle server
	// there was not waiting for the driver.
	IdealShare = 0.9
	// CeilingShare: a rate within this share of the driver's calibrated
	// ceiling for the same kind of load may be the driver's.
	CeilingShare = 0.8
	// MaxSendLagUS: an open loop whose p99 send lag is over this did not
	// keep its schedule.
	MaxSendLagUS = 1000
	// UpstreamShare: on a saturated core, a container that took at least
	// this much of it is a suspect.
	UpstreamShare = 0.25
	// CanaryTolerance: a trial whose canary is further than this from the
	// run's median ran on a machine that had drifted.
	CanaryTolerance = 0.10
	// CanaryRepeat: a trial whose canary is further than this from the
	// running median is worth running again. A shared machine's speed
	// jumps by far more than CanaryTolerance within seconds, so a rule that
	// tight would repeat nearly every trial.
	CanaryRepeat = 0.25
	// CanaryNoise: when a step's trials are noisy and their canaries
	// spread more than this, the machine, not the server, is the suspect.
	CanaryNoise = 0.2
	// KneeAnswered: a rate counts as sustained only if at least this share
	// of it was answered in the window.
	KneeAnswered = 0.95
	// OverCapacity: an open-loop rate over this multiple of the best rate
	// a server reached in any closed loop of the run is not run. Past its
	// capacity a server falls behind, and answers its growing backlog in
	// bigger batches than any closed loop lets it: a rate it could not
	// sustain, not a knee.
	OverCapacity = 1.15
	// OverDriver: an open-loop rate over this multiple of what the
	// driver's calibrated cost per line lets its one thread send is not run:
	// every trial of it would be driver-bound. The margin allows for a
	// busier tick costing a little less per line.
	OverDriver = 1.1
	// MaxOpenOverClosed: the open loop is one epoll loop woken per tick
	// and should cost the driver about what a closed loop at the same rate
	// does per line (OpenOverClosed); a calibration past this says the
	// driver, not the servers, may be what the open loops measure.
	MaxOpenOverClosed = 1.2
)

// OpenOverClosed is the open loop's driver CPU per line over the closed
// loop's at the same rate and connections (the calibration's paced closed
// loop), from the calibration's per-line costs by loop name. A saturated
// closed loop is no reference: it keeps the driver's core full, the
// server never idle and every read ready, so its cost per line is one
// core over however fast the machine let it run, while a loop at a set
// rate pays to wake an idle peer for its lines. Runs calibrated before
// the paced loop existed fall back to the saturated one (paced false).
func OpenOverClosed(driverUS map[string]float64) (ratio float64, paced, ok bool) {
	o, ref := driverUS[lab.CalOpen], driverUS[lab.CalPaced]
	paced = ref > 0
	if !paced {
		ref = driverUS[lab.CalClosed]
	}
	if o <= 0 || ref <= 0 {
		return 0, false, false
	}
	return o / ref, paced, true
}

// Load is what a trial measured about everything but the server.
type Load struct {
	Loop        lab.Loop
	Fetch       bool    // the server asked the upstream for every line
	Throughput  float64 // answers per second
	Ceiling     float64 // the driver's calibrated ceiling for this kind of load; 0 unknown
	CoreBusy    float64 // the driver core's busiest share, 0..1; < 0 unknown
	DriverCores float64 // the lab process's CPU, cores
	ServerCores float64 // the server container's CPU, cores
	Ideal       float64 // fetch closed loops: lines/s an upstream of the step's latency allows (Ideal); 0 none
	Upstream    float64 // the upstream container's CPU, cores (fetch)
	SendLagP99  float64 // open loops, µs
}

// Bound is the verdict on one trial's load.
type Bound struct {
	Driver, Upstream bool
	Why              []string
}

// Judge applies the rules to one trial.
func Judge(l Load) Bound {
	var b Bound
	saturated := l.CoreBusy >= CoreSaturated
	if l.CoreBusy < 0 {
		// No /proc/stat: the lab's own CPU is the only evidence.
		saturated = l.DriverCores >= CoreSaturated
	}
	if saturated {
		who := fmt.Sprintf("the driver core was %.0f%% busy", 100*math.Max(l.CoreBusy, l.DriverCores))
		switch {
		case l.Fetch && l.Upstream >= UpstreamShare && l.DriverCores < UpstreamShare:
			b.Upstream = true
			b.Why = append(b.Why, fmt.Sprintf("%s, %.2f cores of it the upstream's", who, l.Upstream))
		case l.Fetch && l.Upstream >= UpstreamShare:
			b.Driver, b.Upstream = true, true
			b.Why = append(b.Why, fmt.Sprintf("%s: the lab %.2f cores, the upstream %.2f", who, l.DriverCores, l.Upstream))
		default:
			b.Driver = true
			b.Why = append(b.Why, who)
		}
	}
	belowIdeal := l.Ideal <= 0 || l.Throughput < IdealShare*l.Ideal
	if !saturated && l.Loop == lab.Closed && belowIdeal && l.CoreBusy >= CoreLeaning && l.ServerCores <= l.CoreBusy-ServerSlack {
		b.Driver = true
		b.Why = append(b.Why, fmt.Sprintf("the driver core was %.0f%% busy while the server's was %.0f%%: the server waited for lines", 100*l.CoreBusy, 100*l.ServerCores))
	}
	if l.Loop == lab.Open && l.SendLagP99 > MaxSendLagUS {
		b.Driver = true
		b.Why = append(b.Why, fmt.Sprintf("lines left up to %.1f ms late (p99 send lag)", l.SendLagP99/1000))
	}
	if l.Ceiling > 0 && (l.Loop == lab.Closed || l.Loop == lab.Open) && l.Throughput >= CeilingShare*l.Ceiling {
		b.Driver = true
		b.Why = append(b.Why, fmt.Sprintf("%.0f%% of the driver's calibrated ceiling", 100*l.Throughput/l.Ceiling))
	}
	return b
}

// Drifted reports whether a canary reading is further than the tolerance
// from the median of the run's readings.
func Drifted(canary, median float64) bool {
	if canary <= 0 || median <= 0 {
		return false
	}
	return math.Abs(canary-median)/median > CanaryTolerance
}

// Repeat reports whether a trial whose canary read canary is worth running
// again, the running median of the run's canaries being median.
func Repeat(canary, median float64) bool {
	if canary <= 0 || median <= 0 {
		return false
	}
	return math.Abs(canary-median)/median > CanaryRepeat
}

// Median of v (0 for none).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Rung is one rate of an open-loop ladder in one trial.
type Rung struct {
	Step    string
	Rate    float64
	Ran     bool // false: the run skipped it
	P99US   float64
	Answers float64 // answered in the window, per second
	Errors  int64   // failed lines, unanswered (backlog) included
	Driver  bool    // driver-bound
}

// Fails says why a rung does not count as sustained under the bound, or
// "" when it does.
func (r Rung) Fails(boundUS float64) string {
	switch {
	case !r.Ran:
		return "not run"
	case r.Driver:
		return "driver-bound"
	case r.Errors > 0:
		return fmt.Sprintf("%d failed or unanswered lines", r.Errors)
	case r.Answers < KneeAnswered*r.Rate:
		return fmt.Sprintf("answered %.0f%% of the rate", 100*r.Answers/r.Rate)
	case r.P99US > boundUS:
		return fmt.Sprintf("p99 %.1f ms over the bound", r.P99US/1000)
	}
	return ""
}

// TrialKnee climbs one trial's ladder (in rising rate) and returns the
// last rate the server sustained before the first it failed, its step,
// whether the knee may lie higher (a driver-bound rung above it, or the
// ladder's end), and why the climb ended.
//
// A driver-bound rung decides nothing about the server (the driver fell
// behind its own schedule, and the latency it charges counts that), so it
// does not end the climb: when a higher rung is sustained, so is the rate
// below it. Ending the climb there made one stall of the driver at 10k
// read as a knee of 0 in a trial whose every other rung held.
func TrialKnee(ladder []Rung, boundUS float64) (rate float64, step string, atLeast bool, why string) {
	unjudged := "" // the first driver-bound rung above the last sustained one
	for _, r := range ladder {
		switch f := r.Fails(boundUS); f {
		case "":
			rate, step, unjudged = r.Rate, r.Step, ""
		case "driver-bound":
			if unjudged == "" {
				unjudged = r.Step
			}
		default:
			if unjudged != "" {
				return rate, step, true, fmt.Sprintf("driver-bound at %s, then %s at %s", unjudged, f, r.Step)
			}
			return rate, step, false, fmt.Sprintf("%s at %s", f, r.Step)
		}
	}
	if unjudged != "" {
		return rate, step, true, "driver-bound at " + unjudged
	}
	return rate, step, true, "every rate of the ladder was sustained"
}

// Prune says whether a ladder's next rung for an implementation is worth
// running, given the lower rungs already run in every trial so far
// (earlier[trial] in rising rate), the implementation's best closed-loop
// rate in this run (the median of its best step; 0 unknown) and the
// driver's open loop's cost per line in calibration (µs; 0 unknown). A
// rung is skipped when the driver's one-thread open loop cannot send it
// (over OverDriver times what its cost per line allows), when the median
// trial already failed below it because of the server, when the driver
// was bound below it in every trial, or when it is over OverCapacity
// times what the server answered in any closed loop.
func Prune(rate float64, earlier [][]Rung, boundUS, bestClosed, driverUS float64) (skip bool, why string) {
	if driverUS > 0 && rate > OverDriver*1e6/driverUS {
		return true, fmt.Sprintf("more than the driver can send: its open loop cost %.1f µs of CPU a line in calibration, at most %.0f lines/s on its one thread", driverUS, 1e6/driverUS)
	}
	if bestClosed > 0 && rate > OverCapacity*bestClosed {
		return true, fmt.Sprintf("over its capacity: %.2f× the %.0f lines/s of its best closed loop", rate/bestClosed, bestClosed)
	}
	if len(earlier) == 0 {
		return false, ""
	}
	failed, driver := 0, 0
	for _, trial := range earlier {
		_, _, atLeast, why := TrialKnee(trial, boundUS)
		switch {
		case atLeast && why != "every rate of the ladder was sustained":
			driver++
		case !atLeast:
			failed++
		}
	}
	switch {
	case 2*failed > len(earlier):
		return true, "past its knee: a lower rate already failed in most trials"
	case driver == len(earlier):
		return true, "the driver could not keep a lower rate's schedule in any trial"
	}
	return false, ""
}

// Decisive reports whether a headline figure can rank its implementation.
// A rate taken where the driver or the upstream may have been the limit
// cannot; lines per server CPU-second and memory can, since they do not
// depend on how hard the driver pushed. A knee decides only where the
// server, not the driver or the ladder's end, ended the climb (atLeast
// false). measured is false when there is no figure at all.
func Decisive(figure lab.Figure, measured, driverBound, upstreamBound, kneeAtLeast bool) bool {
	info := figure.Info()
	switch {
	case !measured:
		return false
	case info.Reading == lab.Ladder:
		return !kneeAtLeast
	case info.Steady:
		return true
	}
	return !driverBound && !upstreamBound
}

// Thresholds of a run the machine drifted under.
const (
	// DriftedShare: a run where more than this share of trials had a
	// canary over CanaryTolerance off the median drifted.
	DriftedShare = 0.1
	// DriftedSpread: or where the canary's range spans more than this
	// share of its median.
	DriftedSpread = 0.3
)

// RunDrifted reports whether the machine drifted during a run, from its
// canary's median, range, and the count of trials that drifted of n.
func RunDrifted(median, lo, hi float64, drifted, n int) bool {
	if median <= 0 {
		return false
	}
	return float64(drifted)/float64(max(n, 1)) > DriftedShare || (hi-lo)/median > DriftedSpread
}

// Ideal is what a fetch closed loop could reach with an upstream that
// answers in latency and a server that costs nothing: every line in
// flight is answered once per latency.
func Ideal(connections, depth int, latencySeconds float64) float64 {
	if latencySeconds <= 0 {
		return 0
	}
	return float64(connections*max(depth, 1)) / latencySeconds
}

// Ratio is a over b with the interval their ranges allow, oriented so that
// above 1 is better (for a figure where less is better, b over a). ok is
// false when a ratio cannot be had.
func Ratio(a, b Spread, higher bool) (center, lo, hi float64, ok bool) {
	if a.Center <= 0 || b.Center <= 0 || a.Lo <= 0 || b.Lo <= 0 {
		return 0, 0, 0, false
	}
	if higher {
		return a.Center / b.Center, a.Lo / b.Hi, a.Hi / b.Lo, true
	}
	return b.Center / a.Center, b.Lo / a.Hi, b.Hi / a.Lo, true
}

// Relative is v against ref, oriented so that above 1 is better than ref
// whichever way the figure goes; ok is false when either is not positive.
func Relative(v, ref float64, higher bool) (float64, bool) {
	if v <= 0 || ref <= 0 {
		return 0, false
	}
	if higher {
		return v / ref, true
	}
	return ref / v, true
}

// Overlap reports whether two figures' ranges over trials overlap: then
// neither is clearly ahead.
func Overlap(a, b Spread) bool { return a.Lo <= b.Hi && b.Lo <= a.Hi }

// KneeTrial is one trial's knee as TrialKnee found it.
type KneeTrial struct {
	Rate    float64
	Step    string
	AtLeast bool
	Why     string
}

// MedianKnee is the trial whose knee speaks for the step: the median by
// rate, ties going to a climb the server ended (the more decided reading).
func MedianKnee(ks []KneeTrial) KneeTrial {
	if len(ks) == 0 {
		return KneeTrial{}
	}
	s := slices.Clone(ks)
	slices.SortStableFunc(s, func(a, b KneeTrial) int {
		switch {
		case a.Rate != b.Rate:
			if a.Rate < b.Rate {
				return -1
			}
			return 1
		case a.AtLeast == b.AtLeast:
			return 0
		case !a.AtLeast:
			return -1
		}
		return 1
	})
	return s[len(s)/2]
}

// Entry is one implementation's headline figure in a scenario.
type Entry struct {
	Name     string
	Figure   Spread
	Decisive bool
}

// Rank orders entries best first (by the median; higher says which way is
// better; a tie keeps the entries' order), and splits that order into the
// entries whose figure can rank them and those whose cannot (see Decisive).
func Rank(es []Entry, higher bool) (order, ranked, undecided []Entry) {
	s := slices.Clone(es)
	slices.SortStableFunc(s, func(a, b Entry) int {
		switch {
		case a.Figure.Center == b.Figure.Center:
			return 0
		case (a.Figure.Center > b.Figure.Center) == higher:
			return -1
		}
		return 1
	})
	for _, e := range s {
		if e.Decisive {
			ranked = append(ranked, e)
		} else {
			undecided = append(undecided, e)
		}
	}
	return s, ranked, undecided
}

// Contested names the undecided entries that did at least as well as the
// best ranked one, lead. An undecided figure errs on one side only: a
// driver-bound rate or an "at least" knee is what the driver could offer,
// not what the server could take, and a driver-bound latency includes the
// driver's own delay; so the server behind it may be better still, and a
// lead over it is not shown.
func Contested(lead Entry, undecided []Entry, higher bool) []string {
	var out []string
	for _, e := range undecided {
		if e.Figure.Center == lead.Figure.Center || (e.Figure.Center > lead.Figure.Center) == higher {
			out = append(out, e.Name)
		}
	}
	return out
}

// RepeatShare is the share of a step's trials (over all implementations)
// that may be run again because the canary moved.
const RepeatShare = 0.1

// RepeatBudget is how many of a step's trials may be run again: one in ten,
// at least one, so that the budget is spread over the run instead of spent
// by its first steps.
func RepeatBudget(trials int) int {
	return max(1, int(float64(trials)*RepeatShare))
}

// BacklogShare: an open loop that ends its window with more than this
// share of a second's offered lines still unanswered fell behind.
const BacklogShare = 0.01

// Backlog reports whether an open loop offering rate lines a second fell
// behind, inFlight lines being unanswered at the end of its window (the
// mean over its trials).
func Backlog(inFlight, rate float64) bool {
	return inFlight > 0 && inFlight > BacklogShare*rate
}

// MinChange is the smallest change between releases worth a word: memory
// per idle connection repeats to the byte across trials, so its ranges do
// not overlap for a 0.2% move, which no reader would call better or worse.
const MinChange = 0.02

// ReleaseChange is a newer figure against an older one (a runtime's next release
// against its last), as Ratio orients it: above 1 is better. Beyond is true
// when the two ranges over trials do not overlap, so the change is more than
// the trials' own spread, and the change is at least MinChange; ok is false
// when no ratio can be had.
func ReleaseChange(older, newer Spread, higher bool) (center, lo, hi float64, beyond, ok bool) {
	center, lo, hi, ok = Ratio(newer, older, higher)
	return center, lo, hi, ok && !Overlap(older, newer) && math.Abs(center-1) >= MinChange, ok
}
