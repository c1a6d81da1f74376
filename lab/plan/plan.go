// Package plan turns a run's options and scenario files into the trials
// it will make: which implementation runs which step, in which round and
// in which place of that round, for what the trial is (a step the headline
// is read from, a step that decides nothing, or an extra trial that runs
// only while the headline's ranking is undecided), and what each costs.
// It is a pure function, so the runner executes the plan, and the progress
// estimate, --resume and the tests read the same list.
package plan

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/linelab/linelab/lab"
)

// Kind says what a trial is for.
type Kind string

const (
	// Deciding: a trial of a step the scenario's headline figure is read
	// from, in its first rounds (ProfileSpec.Trials).
	Deciding Kind = "deciding"
	// Side: a trial of a step whose figure decides no headline; such
	// steps run ProfileSpec.SideTrials and are flagged as deciding nothing.
	Side Kind = "side"
	// Extra: a deciding step's trial beyond its first rounds, up to
	// ProfileSpec.MaxTrials; it runs only while the implementation's
	// place in the headline's ranking is undecided and the budget allows.
	Extra Kind = "extra"
)

// Overhead is what the plan counts around every trial for the estimate:
// the canary, pausing and unpausing, the quiet wait, trials run again,
// the answers a window still owes. The run measures the real figure
// (lab.Trial.Overhead; docs/FINDINGS.md) and the estimate follows it.
const Overhead = 500 * time.Millisecond

// IdleOverhead is added to an idle step's trial: a fresh container, and
// the ramp to every connection.
const IdleOverhead = 3 * time.Second

// Phase is one life of the servers' containers: a mode and, in fetch
// mode, the upstream-client discipline they run with.
type Phase struct {
	Mode   lab.Mode
	Client string
}

func (p Phase) String() string {
	if p.Client == "" {
		return string(p.Mode)
	}
	return string(p.Mode) + " (" + p.Client + " upstream client)"
}

// Phases are the run's phases in the order they run: echo, work, then
// fetch with each discipline. The servers restart between them.
var Phases = []Phase{{lab.Echo, ""}, {lab.Work, ""}, {lab.Fetch, lab.Pooled}, {lab.Fetch, lab.PerRequest}}

// Key names one trial of one step of one implementation.
type Key struct {
	Impl, Scenario, Step string
	Trial                int // from 1
}

// Trial is one planned trial.
type Trial struct {
	Key
	Phase Phase
	Order int // its place in its round, from 1
	Kind  Kind
	Cost  time.Duration // warm-up, window and Overhead
}

// Why names a reason a whole scenario is not run.
type Why string

const (
	NeedsCores   Why = "needs-cores"   // it needs more server cores than the layout gives
	SteeredFault Why = "steered-fault" // its faults need the driver in this process
)

// Skip is a scenario the plan does not run, for a reason that holds for
// the run, not for one server.
type Skip struct {
	Scenario string
	Why      Why
}

// Input is what a plan is made from.
type Input struct {
	Profile   lab.Profile
	Impls     []lab.Implementation
	Scenarios []lab.Scenario
	// Seed shuffles the order of the implementations in every round.
	Seed int64
	// ServerCores is how many cores the servers have; a scenario that
	// needs more is skipped. 0: not known yet (nothing is skipped for it).
	ServerCores int
	// Steered: the lab only steers a driver container, so faults, which
	// act from inside the driver's window, cannot run.
	Steered bool
}

// Plan is a run's trials in the order they run.
type Plan struct {
	Profile lab.Profile
	Trials  []Trial
	Skips   []Skip
}

// Make plans a run. Phases run in turn; in each, scenarios run closed
// loops first (an open loop's ladder is pruned by them) and idle ones last
// (a server keeps the memory 10,000 connections made it take); an open
// ladder climbs by rate. Every step runs in rounds, each round one trial of
// every implementation of the phase in an order shuffled per round, so
// every comparison within a step is made within minutes.
func Make(in Input) *Plan {
	p := &Plan{Profile: in.Profile}
	rng := rand.New(rand.NewPCG(uint64(in.Seed), 0))
	for _, ph := range Phases {
		var impls []string
		for _, impl := range in.Impls {
			if impl.Role == lab.RoleFloor && ph.Mode != lab.Echo {
				continue // the floor only echoes
			}
			impls = append(impls, impl.Name)
		}
		for _, sc := range PhaseScenarios(in.Scenarios, ph) {
			if why := skipped(in, sc); why != "" {
				p.Skips = append(p.Skips, Skip{Scenario: sc.Name, Why: why})
				continue
			}
			spec := Spec(sc, in.Profile)
			for _, st := range Steps(sc, in.Profile) {
				kind, n := Side, BaseTrials(sc, st.Name, in.Profile)
				if Decides(sc, st.Name) {
					kind = Deciding
				}
				cost := spec.Warmup.D() + spec.Duration.D() + Overhead
				if st.Loop == lab.Idle {
					cost += IdleOverhead
				}
				last := n
				if Extras(sc, st.Name) {
					last = max(n, spec.MaxTrials)
				}
				for round := 1; round <= last; round++ {
					k := kind
					if round > n {
						k = Extra
					}
					for pos, i := range rng.Perm(len(impls)) {
						p.Trials = append(p.Trials, Trial{
							Key:   Key{Impl: impls[i], Scenario: sc.Name, Step: st.Name, Trial: round},
							Phase: ph, Order: pos + 1, Kind: k, Cost: cost,
						})
					}
				}
			}
		}
	}
	return p
}

// skipped says why the run cannot hold a scenario ("" it can).
func skipped(in Input, sc lab.Scenario) Why {
	switch {
	case in.ServerCores > 0 && sc.ServerCores > in.ServerCores:
		return NeedsCores
	case in.Steered && slices.ContainsFunc(sc.Steps, func(s lab.Step) bool { return s.Fault != nil }):
		return SteeredFault
	}
	return ""
}

// PhaseScenarios are the scenarios of one phase in the order they run:
// closed loops, open loops, idle.
func PhaseScenarios(all []lab.Scenario, ph Phase) []lab.Scenario {
	var out []lab.Scenario
	for _, s := range all {
		if s.Mode == ph.Mode && s.Client == ph.Client {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b lab.Scenario) int { return rank(a) - rank(b) })
	return out
}

func rank(s lab.Scenario) int {
	switch {
	case slices.ContainsFunc(s.Steps, func(st lab.Step) bool { return st.Loop == lab.Idle }):
		return 2
	case slices.ContainsFunc(s.Steps, func(st lab.Step) bool { return st.Loop == lab.Open }):
		return 1
	}
	return 0
}

// Steps are a scenario's steps as they run in a profile: an open ladder by
// rate, the rest in the file's order.
func Steps(sc lab.Scenario, p lab.Profile) []lab.Step {
	var out []lab.Step
	for _, st := range sc.Steps {
		out = append(out, st.For(p))
	}
	slices.SortStableFunc(out, func(a, b lab.Step) int {
		if a.Loop == lab.Open && b.Loop == lab.Open {
			return a.Rate - b.Rate
		}
		return 0
	})
	return out
}

// Spec is a scenario's profile with its trial counts filled in: SideTrials
// and MaxTrials default to Trials.
func Spec(sc lab.Scenario, p lab.Profile) lab.ProfileSpec {
	s := sc.Profiles[p]
	if s.SideTrials == 0 {
		s.SideTrials = s.Trials
	}
	s.MaxTrials = max(s.MaxTrials, s.Trials)
	return s
}

// BaseTrials is how many trials a step runs before any extra: the
// profile's Trials where the headline is read from it, else SideTrials.
func BaseTrials(sc lab.Scenario, step string, p lab.Profile) int {
	s := Spec(sc, p)
	if Decides(sc, step) {
		return s.Trials
	}
	return s.SideTrials
}

// Decides reports whether the scenario's headline is read from the step:
// its headline step; every rung of a ladder whose knee is the headline;
// and, for a figure read against the first step, that step.
func Decides(sc lab.Scenario, step string) bool {
	h := sc.Headline
	if h == nil || h.Step == "" || h.Step == step {
		return true
	}
	return h.Figure.Info().Reading == lab.AgainstFirst && len(sc.Steps) > 0 && sc.Steps[0].Name == step
}

// Extras reports whether a deciding step may run extra trials: only where
// one trial gives the headline figure on its own (a knee takes a whole
// ladder, a slowdown two steps).
func Extras(sc lab.Scenario, step string) bool {
	h := sc.Headline
	return h != nil && h.Step == step && h.Figure.Info().Reading == lab.OneStep
}

// Base are the trials that run whatever the ranking says: every trial but
// the extras.
func (p *Plan) Base() []Trial {
	return slices.DeleteFunc(slices.Clone(p.Trials), func(t Trial) bool { return t.Kind == Extra })
}

// Want is how many trials the plan gives a step of an implementation
// before any extra: what a run that stopped early is missing from.
func (p *Plan) Want(impl, scen, step string) int {
	n := 0
	for _, t := range p.Trials {
		if t.Kind != Extra && t.Impl == impl && t.Scenario == scen && t.Step == step {
			n++
		}
	}
	return n
}

// Cost is the estimated time of trials.
func Cost(ts []Trial) time.Duration {
	var d time.Duration
	for _, t := range ts {
		d += t.Cost
	}
	return d
}

// Skipped reports whether the plan skips a scenario, and why.
func (p *Plan) Skipped(scen string) (Why, bool) {
	for _, s := range p.Skips {
		if s.Scenario == scen {
			return s.Why, true
		}
	}
	return "", false
}
