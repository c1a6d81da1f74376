package plan

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
)

func spec(trials, max, side int) map[lab.Profile]lab.ProfileSpec {
	return map[lab.Profile]lab.ProfileSpec{lab.Standard: {
		Duration: lab.Duration(time.Second), Warmup: lab.Duration(250 * time.Millisecond),
		Trials: trials, MaxTrials: max, SideTrials: side,
	}}
}

var (
	impls = []lab.Implementation{{Name: "a"}, {Name: "b"}, {Name: "floor", Role: lab.RoleFloor}}
	sweep = lab.Scenario{Name: "sweep", Mode: lab.Echo, Profiles: spec(4, 6, 2),
		Headline: &lab.Headline{Step: "c100", Figure: lab.FigLinesPerCPU},
		Steps:    []lab.Step{{Name: "c10", Loop: lab.Closed}, {Name: "c100", Loop: lab.Closed}}}
	ladder = lab.Scenario{Name: "rate", Mode: lab.Echo, Profiles: spec(3, 0, 0),
		Headline: &lab.Headline{Figure: lab.FigKnee},
		Steps:    []lab.Step{{Name: "r40k", Loop: lab.Open, Rate: 40000}, {Name: "r10k", Loop: lab.Open, Rate: 10000}}}
	idle = lab.Scenario{Name: "idle", Mode: lab.Echo, Profiles: spec(3, 0, 0),
		Headline: &lab.Headline{Step: "c10000", Figure: lab.FigMemPerConn},
		Steps:    []lab.Step{{Name: "c10000", Loop: lab.Idle}}}
	fetch = lab.Scenario{Name: "fetch", Mode: lab.Fetch, Client: lab.Pooled, Profiles: spec(3, 0, 0),
		Headline: &lab.Headline{Step: "c1000", Figure: lab.FigThroughput},
		Steps:    []lab.Step{{Name: "c1000", Loop: lab.Closed}}}
	perRequest = lab.Scenario{Name: "fetch-per-request", Mode: lab.Fetch, Client: lab.PerRequest, Profiles: spec(3, 0, 0),
		Headline: &lab.Headline{Step: "c1000", Figure: lab.FigThroughput},
		Steps:    []lab.Step{{Name: "c1000", Loop: lab.Closed}}}
	multicore = lab.Scenario{Name: "multicore", Mode: lab.Echo, ServerCores: 2, Profiles: spec(3, 0, 0),
		Headline: &lab.Headline{Step: "c1", Figure: lab.FigThroughput},
		Steps:    []lab.Step{{Name: "c1", Loop: lab.Closed}}}
	crash = lab.Scenario{Name: "crash", Mode: lab.Echo, Profiles: spec(3, 0, 0),
		Headline: &lab.Headline{Step: "crash", Figure: lab.FigRecovery},
		Steps:    []lab.Step{{Name: "crash", Loop: lab.Closed, Fault: &lab.Fault{Kind: lab.FaultCrash}}}}
)

// steps lists a plan's trials as "scenario/step#trial:kind" in order, once
// per round (the first implementation of each round).
func steps(p *Plan) []string {
	var out []string
	for _, t := range p.Trials {
		if t.Order == 1 {
			out = append(out, fmt.Sprintf("%s/%s#%d:%s", t.Scenario, t.Step, t.Trial, t.Kind))
		}
	}
	return out
}

func TestMakeOrdersPhasesScenariosAndSteps(t *testing.T) {
	p := Make(Input{Profile: lab.Standard, Impls: impls, Seed: 7,
		Scenarios: []lab.Scenario{idle, perRequest, fetch, ladder, sweep}})
	want := []string{
		// echo: closed, then open (by rate), then idle
		"sweep/c10#1:side", "sweep/c10#2:side",
		"sweep/c100#1:deciding", "sweep/c100#2:deciding", "sweep/c100#3:deciding", "sweep/c100#4:deciding",
		"sweep/c100#5:extra", "sweep/c100#6:extra",
		"rate/r10k#1:deciding", "rate/r10k#2:deciding", "rate/r10k#3:deciding",
		"rate/r40k#1:deciding", "rate/r40k#2:deciding", "rate/r40k#3:deciding",
		"idle/c10000#1:deciding", "idle/c10000#2:deciding", "idle/c10000#3:deciding",
		// fetch, pooled then per request
		"fetch/c1000#1:deciding", "fetch/c1000#2:deciding", "fetch/c1000#3:deciding",
		"fetch-per-request/c1000#1:deciding", "fetch-per-request/c1000#2:deciding", "fetch-per-request/c1000#3:deciding",
	}
	if got := steps(p); !slices.Equal(got, want) {
		t.Errorf("rounds:\n got %q\nwant %q", got, want)
	}
	// Every round holds every implementation of its phase once; the floor
	// only echoes.
	rounds := map[string][]string{}
	for _, tr := range p.Trials {
		k := fmt.Sprintf("%s/%s#%d", tr.Scenario, tr.Step, tr.Trial)
		rounds[k] = append(rounds[k], tr.Impl)
	}
	for k, in := range rounds {
		slices.Sort(in)
		want := []string{"a", "b", "floor"}
		if k[:5] == "fetch" {
			want = []string{"a", "b"}
		}
		if !slices.Equal(in, want) {
			t.Errorf("round %s holds %v, want %v", k, in, want)
		}
	}
}

func TestMakeIsRepeatableAndShuffles(t *testing.T) {
	in := Input{Profile: lab.Standard, Impls: impls, Scenarios: []lab.Scenario{sweep}, Seed: 42}
	a, b := Make(in), Make(in)
	if !slices.Equal(a.Trials, b.Trials) {
		t.Fatal("the same seed made two plans")
	}
	orders := map[string]bool{}
	for i := 0; i+2 < len(a.Trials); i += 3 {
		orders[a.Trials[i].Impl+a.Trials[i+1].Impl+a.Trials[i+2].Impl] = true
	}
	if len(orders) < 2 {
		t.Errorf("every round has the same order %v", orders)
	}
}

func TestMakeSkipsWhatTheRunCannotHold(t *testing.T) {
	cases := []struct {
		in   Input
		want []Skip
	}{
		{Input{ServerCores: 1}, []Skip{{"multicore", NeedsCores}}},
		{Input{ServerCores: 2}, nil},
		{Input{ServerCores: 0}, nil}, // not known yet
		{Input{ServerCores: 1, Steered: true}, []Skip{{"multicore", NeedsCores}, {"crash", SteeredFault}}},
	}
	for _, c := range cases {
		c.in.Profile, c.in.Impls, c.in.Scenarios = lab.Standard, impls, []lab.Scenario{multicore, crash}
		p := Make(c.in)
		if !slices.Equal(p.Skips, c.want) {
			t.Errorf("%+v: skips %v, want %v", c.in, p.Skips, c.want)
		}
		for _, tr := range p.Trials {
			if _, ok := p.Skipped(tr.Scenario); ok {
				t.Errorf("%+v: plans %v of a skipped scenario", c.in, tr.Key)
			}
		}
	}
}

func TestDecidesAndExtras(t *testing.T) {
	slow := lab.Scenario{Headline: &lab.Headline{Step: "slow", Figure: lab.FigSlowdown},
		Steps: []lab.Step{{Name: "clean"}, {Name: "slow"}, {Name: "other"}}}
	cases := []struct {
		sc             lab.Scenario
		step           string
		decides, extra bool
	}{
		{sweep, "c100", true, true},
		{sweep, "c10", false, false},
		{ladder, "r10k", true, false}, // a knee takes the whole ladder
		{slow, "slow", true, false},   // a slowdown takes two steps
		{slow, "clean", true, false},
		{slow, "other", false, false},
		{crash, "crash", true, true},
	}
	for _, c := range cases {
		if d, e := Decides(c.sc, c.step), Extras(c.sc, c.step); d != c.decides || e != c.extra {
			t.Errorf("%s/%s: decides %v extras %v, want %v %v", c.sc.Name, c.step, d, e, c.decides, c.extra)
		}
	}
}

func TestWantCostAndBase(t *testing.T) {
	p := Make(Input{Profile: lab.Standard, Impls: impls, Scenarios: []lab.Scenario{sweep, idle}, Seed: 1})
	for _, c := range []struct {
		impl, scen, step string
		want             int
	}{{"a", "sweep", "c10", 2}, {"a", "sweep", "c100", 4}, {"floor", "idle", "c10000", 3}, {"a", "nowhere", "x", 0}} {
		if got := p.Want(c.impl, c.scen, c.step); got != c.want {
			t.Errorf("Want(%s, %s, %s) = %d, want %d", c.impl, c.scen, c.step, got, c.want)
		}
	}
	base := p.Base()
	// 3 implementations × (2 + 4 sweep trials + 3 idle trials); 2 extras each.
	if len(base) != 27 || len(p.Trials) != 33 {
		t.Fatalf("base %d of %d trials, want 27 of 33", len(base), len(p.Trials))
	}
	per := 1250*time.Millisecond + Overhead
	if got, want := Cost(base), 18*per+9*(per+IdleOverhead); got != want {
		t.Errorf("cost %v, want %v", got, want)
	}
}

func TestSpecDefaults(t *testing.T) {
	s := Spec(lab.Scenario{Profiles: spec(3, 0, 0)}, lab.Standard)
	if s.SideTrials != 3 || s.MaxTrials != 3 {
		t.Errorf("defaults: side %d max %d, want 3 and 3", s.SideTrials, s.MaxTrials)
	}
}
