package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// ClaimView is one of the talk's claims with this run's answer.
type ClaimView struct {
	ID      string // anchor and data-claim
	Claim   string // the claim, in one sentence of ours
	Test    string // the test that answers it
	Link    string // where its evidence is on the page
	Figures []string
	Verdict string // in words: holds, does not hold …, holds only when …, cannot tell …
	Class   string // holds, fails, partly or unknown
	Today   string // what today's Go models change about the answer
}

// talkPeer is the talk's answer to threads, the implementation the
// threads claim is measured against.
const talkPeer = "gevent"

// claimData is what the claims are read from: the run, its threaded
// baseline, and whether it was a smoke test.
type claimData struct {
	f       *results.File
	threads string // the demo's threaded server
	smoke   bool
}

func claimViews(f *results.File, m *Model) []ClaimView {
	d := claimData{f: f, threads: m.Baseline, smoke: f.Profile == lab.Quick}
	return []ClaimView{d.threadsGrow(), d.heldUp(), d.gil(), d.backwards(), d.monkey()}
}

// verdictWords turns a finding into the verdict column: how, and why.
func (d claimData) verdictWords(fd analysis.Finding, why map[analysis.Reason]string, only string) (string, string) {
	switch fd.Answer {
	case analysis.Holds:
		return "holds", "holds"
	case analysis.HoldsOnlyWhen:
		return "holds only " + only, "partly"
	case analysis.DoesNotHold:
		return "does not hold on this run: " + why[fd.Reason], "fails"
	}
	var w string
	switch fd.Reason {
	case analysis.ReasonOneTrial:
		w = "one trial of a step it reads gives no range to decide by (the run's budget kept one)"
		if d.smoke {
			w = "one trial each (a smoke test) gives no range to decide by; the standard profile runs three or four"
		}
	case analysis.ReasonNoisy:
		w = strings.Join(fd.What, ", ") + ": noisy trials whose ranges overlap"
	case analysis.ReasonBound:
		w = strings.Join(fd.What, ", ") + ": the driver or the upstream bounded the step, so the figure may be theirs"
	default:
		w = why[fd.Reason]
		if w == "" {
			w = strings.Join(fd.What, ", ") + " did not run"
		}
	}
	return "cannot tell on this run: " + w, "unknown"
}

// missingWhy is the words for a claim whose scenario did not run.
func missingWhy(ok bool, name string) map[analysis.Reason]string {
	if !ok {
		return map[analysis.Reason]string{analysis.ReasonMissing: fmt.Sprintf("no scenario of this run answers it (lab run --scenario %s)", name)}
	}
	return map[analysis.Reason]string{}
}

// series is an implementation's lines per CPU-second over a scenario's
// closed steps, fewest connections first.
func (d claimData) series(sc lab.Scenario, impl string) analysis.Series {
	s := analysis.Series{Impl: impl}
	for _, def := range sc.Steps {
		if def.Loop != lab.Closed {
			continue
		}
		s.Steps = append(s.Steps, def.Name)
		st := find(d.f, impl, sc.Name, def.Name)
		if st == nil {
			s.Stats, s.Noisy = append(s.Stats, analysis.Spread{}), append(s.Noisy, false)
			continue
		}
		s.Stats = append(s.Stats, spread(st.Summary.LinesPerCPU))
		s.Noisy = append(s.Noisy, slices.ContainsFunc(st.Summary.Warnings, func(w lab.Warning) bool { return w.Code == lab.WarnNoisy }))
	}
	return s
}

// sweepText is an implementation's costs across a sweep in a few words.
func (d claimData) sweepText(sc lab.Scenario, impl string) string {
	var cpu, sw, wait []string
	for _, def := range sc.Steps {
		st := find(d.f, impl, sc.Name, def.Name)
		if st == nil || def.Loop != lab.Closed {
			continue
		}
		sm := st.Summary
		cpu = append(cpu, units.Count(sm.LinesPerCPU.Center))
		if sm.Voluntary.N > 0 {
			sw = append(sw, fmt.Sprintf("%.2f", sm.Voluntary.Center+sm.Involuntary.Center))
			wait = append(wait, units.Micros(sm.WaitedUS.Center))
		}
	}
	if len(cpu) == 0 {
		return impl + ": did not run"
	}
	out := fmt.Sprintf("%s: %s lines/CPU-s", impl, strings.Join(cpu, " → "))
	if len(sw) == len(cpu) {
		out += fmt.Sprintf(", %s switches and %s of run-queue wait per line", strings.Join(sw, " → "), strings.Join(wait, " → "))
	}
	return out
}

func (d claimData) threadsGrow() ClaimView {
	v := ClaimView{ID: string(lab.ClaimThreadsGrow),
		Claim: "Every thread means context switches: the more threads, the more a line costs.",
		Test:  "CPU, switches and run-queue wait per line along a sweep of connections, threads against " + talkPeer + "; memory per idle connection"}
	sc, ok := d.scenarioOf(lab.ClaimThreadsGrow, lab.FigLinesPerCPU)
	fd := analysis.Finding{Answer: analysis.CannotTell, Reason: analysis.ReasonMissing}
	if ok {
		v.Link = "#s-" + sc.Name
		v.Test += " (" + sc.Name + ")"
		fd = analysis.ThreadsGrow(d.series(sc, d.threads), d.series(sc, talkPeer))
		v.Figures = []string{d.sweepText(sc, d.threads), d.sweepText(sc, talkPeer)}
		if g := d.todayGo(); g != "" {
			v.Today = d.sweepText(sc, g) + "."
		}
	}
	if idle, ok := d.scenarioOf(lab.ClaimThreadsGrow, lab.FigMemPerConn); ok {
		v.Figures = append(v.Figures, lab.FigMemPerConn.Info().Name+" ("+idle.Name+"): "+d.memText(idle, d.threads, talkPeer))
	}
	why := missingWhy(ok, "echo-sweep")
	growth := d.growthText(sc)
	why[analysis.ReasonNotGrown] = "threads' CPU per line did not grow beyond its trials' ranges" + growth
	why[analysis.ReasonPeerAlike] = "threads' CPU per line grew no more than " + talkPeer + "'s" + growth + ", though " + talkPeer + " hardly switches: what the extra switches cost did not show in CPU per line"
	only := ""
	if len(fd.What) > 0 {
		only = "from " + fd.What[0] + ": below it, threads' CPU per line did not grow beyond its trials' ranges" + growth
	}
	v.Verdict, v.Class = d.verdictWords(fd, why, only)
	if fd.Answer == analysis.Holds {
		v.Verdict += growth
	}
	return v
}

// growthText is how much threads' and the peer's CPU per line grew across
// the sweep, in words.
func (d claimData) growthText(sc lab.Scenario) string {
	t, p := d.series(sc, d.threads), d.series(sc, talkPeer)
	grow := func(s analysis.Series) (float64, bool) {
		if len(s.Stats) < 2 || s.Stats[0].N == 0 || s.Stats[len(s.Stats)-1].Center == 0 {
			return 0, false
		}
		return s.Stats[0].Center / s.Stats[len(s.Stats)-1].Center, true
	}
	gt, ok1 := grow(t)
	gp, ok2 := grow(p)
	if !ok1 || !ok2 {
		return ""
	}
	return fmt.Sprintf(" (from %s to %s: threads ×%.2f, %s ×%.2f)", t.Steps[0], t.Steps[len(t.Steps)-1], gt, talkPeer, gp)
}

// scenarioOf is the scenario answering claim c whose headline is fig (a
// claim may rest on several: a sweep's cost and an idle scenario's memory).
func (d claimData) scenarioOf(c lab.Claim, fig lab.Figure) (lab.Scenario, bool) {
	for _, sc := range d.f.Scenarios {
		if slices.Contains(sc.Claims, c) && sc.Headline != nil && sc.Headline.Figure == fig {
			return sc, true
		}
	}
	return lab.Scenario{}, false
}

// headStat is an implementation's headline figure of sc.
func (d claimData) headStat(sc lab.Scenario, impl string) analysis.Spread {
	s, _, ok := figure(d.f, sc, pickHeadline(sc), impl)
	if !ok {
		return analysis.Spread{}
	}
	return spread(s)
}

func (d claimData) memText(sc lab.Scenario, impls ...string) string {
	var parts []string
	for _, impl := range impls {
		if s := d.headStat(sc, impl); s.N > 0 {
			parts = append(parts, impl+" "+units.Bytes(s.Center))
		}
	}
	if len(parts) == 0 {
		return "none measured"
	}
	return strings.Join(parts, ", ")
}

// todayGo is the first Go server whose goroutines Go's scheduler preempts.
func (d claimData) todayGo() string {
	for _, impl := range d.f.Implementations {
		if impl.Language == "go" && impl.Scheduling == lab.Preemptive && impl.Role == lab.RoleServer {
			return impl.Name
		}
	}
	return ""
}

func (d claimData) radiusText(sc lab.Scenario, impl string) string {
	s := d.headStat(sc, impl)
	if s.N == 0 {
		return impl + " —"
	}
	return impl + " " + bareText(lab.UnitMicrosPerMilli, s.Center)
}

func (d claimData) heldUp() ClaimView {
	v := ClaimView{ID: string(lab.ClaimHeldUp),
		Claim: "An asynchronous framework switches only where code would block, so a handler that computes holds up every other connection; threads are switched by the interpreter.",
		Test:  "the blast radius: how much light lines' p99 grows per ms of one heavy line's CPU, cooperative servers against threads"}
	sc, ok := d.scenarioOf(lab.ClaimHeldUp, lab.FigBlastRadius)
	fd := analysis.Finding{Answer: analysis.CannotTell, Reason: analysis.ReasonMissing}
	if ok {
		v.Link, v.Test = "#s-"+sc.Name, v.Test+" ("+sc.Name+")"
		var coop []analysis.Radius
		var coopText []string
		for _, impl := range d.f.Implementations {
			if impl.Role != lab.RoleServer || impl.Scheduling != lab.Cooperative {
				continue
			}
			coop = append(coop, analysis.Radius{Impl: impl.Name, Cooperative: true, Radius: d.headStat(sc, impl.Name)})
			coopText = append(coopText, d.radiusText(sc, impl.Name))
		}
		fd = analysis.HeldUp(analysis.Radius{Impl: d.threads, Radius: d.headStat(sc, d.threads)}, coop)
		v.Figures = []string{"light p99 per ms of a heavy line: " + d.radiusText(sc, d.threads) + "; cooperative: " + strings.Join(coopText, ", ")}
		if g := d.todayGo(); g != "" {
			v.Today = fmt.Sprintf("%s; %s; Go preempts a goroutine after about 10 ms, so the tail waits and the median less (%s).",
				d.radiusText(sc, g), d.hogShareText(sc, g), d.p50Text(sc, g))
		}
	}
	why := missingWhy(ok, "cpu-hog")
	why[analysis.ReasonNotHeld] = "no cooperative server's light lines waited out a heavy line"
	why[analysis.ReasonPeerAlike] = "threads' light lines were held up as much"
	v.Verdict, v.Class = d.verdictWords(fd, why, "for the others: "+strings.Join(fd.What, ", ")+" "+plural(len(fd.What), "did not hold its light lines up", "did not hold their light lines up")+fmt.Sprintf(" by %s per ms of a heavy line", units.Micros(analysis.HeldUpShare*1000)))
	if fd.Answer == analysis.Holds {
		v.Verdict = fmt.Sprintf("holds: every cooperative server's light p99 grew by %s or more per ms of a heavy line, beyond threads' range", units.Micros(analysis.HeldUpShare*1000))
		if fd.Reason == analysis.ReasonNoisy {
			v.Verdict = fmt.Sprintf("holds for every cooperative server it can tell: their light p99 grew by %s or more per ms of a heavy line, beyond threads' range; cannot tell for %s, whose noisy trials reach threads' range",
				units.Micros(analysis.HeldUpShare*1000), strings.Join(fd.What, ", "))
		}
	}
	return v
}

func (d claimData) hogShareText(sc lab.Scenario, impl string) string {
	if st := find(d.f, impl, sc.Name, pickHeadline(sc).step); st != nil && st.Summary.HogShare.N > 0 {
		return fmt.Sprintf("the heavy connection took %.0f%% of its CPU", 100*st.Summary.HogShare.Center)
	}
	return "its heavy connection's share unknown"
}

func (d claimData) p50Text(sc lab.Scenario, impl string) string {
	base, st := find(d.f, impl, sc.Name, sc.Steps[0].Name), find(d.f, impl, sc.Name, pickHeadline(sc).step)
	if base == nil || st == nil {
		return "no median"
	}
	return "light p50 " + units.Micros(base.Summary.P50.Center) + " → " + units.Micros(st.Summary.P50.Center)
}

func (d claimData) gil() ClaimView {
	v := ClaimView{ID: string(lab.ClaimGIL),
		Claim: "The GIL lets one thread of Python run at a time: threads doing Python work use one core, however many there are.",
		Test:  "threads' server cores on work lines with two server cores or more"}
	sc, ok := d.scenarioOf(lab.ClaimGIL, lab.FigThroughput)
	fd := analysis.Finding{Answer: analysis.CannotTell, Reason: analysis.ReasonMissing}
	why := missingWhy(ok, "cpu-bound-multicore")
	if ok {
		v.Link, v.Test = "#s-"+sc.Name, v.Test+" ("+sc.Name+")"
		skipped, _ := notHere(d.f, sc)
		h := pickHeadline(sc)
		var cores analysis.Spread
		bound := false
		if st := find(d.f, d.threads, sc.Name, h.step); st != nil {
			cores, bound = spread(st.Summary.ServerCores), st.Summary.DriverBound || st.Summary.UpstreamBound
			v.Figures = []string{fmt.Sprintf("%s used %.2f server cores", d.threads, cores.Center)}
		}
		fd = analysis.GIL(cores, bound, cpusetSize(d.f.Environment.Pinning.Server), skipped)
		why[analysis.ReasonSkipped] = fmt.Sprintf("this machine gives the servers one core; on one with three or more: lab run --scenario %s --server-cores 2", sc.Name)
		why[analysis.ReasonSpread] = fmt.Sprintf("threads used more than %.2f cores' worth", analysis.GILCores)
		if g := d.todayGo(); g != "" && fd.Reason != analysis.ReasonSkipped {
			if st := find(d.f, g, sc.Name, h.step); st != nil {
				v.Today = fmt.Sprintf("%s used %.2f server cores.", g, st.Summary.ServerCores.Center)
			}
		}
	}
	v.Verdict, v.Class = d.verdictWords(fd, why, "")
	if fd.Reason == analysis.ReasonSkipped {
		v.Today = "Go's goroutines, and the servers that run a process per core, are built to use every core; this run cannot show it."
	}
	return v
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// possessive is name's, or name' for a name that ends in s.
func possessive(name string) string {
	if strings.HasSuffix(name, "s") {
		return name + "'"
	}
	return name + "'s"
}

// cpusetSize is how many CPUs a cpuset list ("1", "0-3", "2,4-5") names.
func cpusetSize(set string) int {
	n := 0
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		n += b - a + 1
	}
	return n
}
