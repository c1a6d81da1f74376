package analysis

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		load             Load
		driver, upstream bool
		why              string
	}{
		{"quiet closed loop", Load{Loop: "closed", Throughput: 40000, Ceiling: 100000, CoreBusy: 0.5, DriverCores: 0.4}, false, false, ""},
		{"saturated core", Load{Loop: "closed", Throughput: 40000, Ceiling: 100000, CoreBusy: 0.95, DriverCores: 0.7}, true, false, "95% busy"},
		{"saturated core, open loop", Load{Loop: "open", CoreBusy: 0.97, DriverCores: 0.6, SendLagP99: 20}, true, false, "97% busy"},
		{"near the ceiling", Load{Loop: "closed", Throughput: 90000, Ceiling: 100000, CoreBusy: 0.5}, true, false, "90% of the driver's calibrated ceiling"},
		{"late sends", Load{Loop: "open", CoreBusy: 0.5, SendLagP99: 2500}, true, false, "2.5 ms late"},
		{"no /proc/stat, busy process", Load{Loop: "churn", CoreBusy: -1, DriverCores: 0.93}, true, false, "93% busy"},
		{"no /proc/stat, calm process", Load{Loop: "churn", CoreBusy: -1, DriverCores: 0.3}, false, false, ""},
		{"upstream fills the core", Load{Loop: "closed", Fetch: true, CoreBusy: 0.96, DriverCores: 0.2, Upstream: 0.6}, false, true, "the upstream's"},
		{"both fill the core", Load{Loop: "closed", Fetch: true, CoreBusy: 0.99, DriverCores: 0.4, Upstream: 0.5}, true, true, "the lab 0.40 cores"},
		{"busy upstream, room on the core", Load{Loop: "closed", Fetch: true, CoreBusy: 0.7, DriverCores: 0.2, Upstream: 0.45}, false, false, ""},
		{"leaning core, idle server", Load{Loop: "closed", Fetch: true, CoreBusy: 0.86, DriverCores: 0.41, Upstream: 0.44, ServerCores: 0.67}, true, false, "the server's was 67%"},
		{"leaning core, idle server at the ideal", Load{Loop: "closed", Fetch: true, Throughput: 18848, Ideal: 20000, CoreBusy: 0.86, DriverCores: 0.41, Upstream: 0.44, ServerCores: 0.66}, false, false, ""},
		{"leaning core, idle server below the ideal", Load{Loop: "closed", Fetch: true, Throughput: 12500, Ideal: 20000, CoreBusy: 0.86, DriverCores: 0.41, Upstream: 0.44, ServerCores: 0.67}, true, false, "waited for lines"},
		{"leaning core, busy server", Load{Loop: "closed", Fetch: true, CoreBusy: 0.86, DriverCores: 0.41, Upstream: 0.44, ServerCores: 0.9}, false, false, ""},
		{"leaning core, open loop on time", Load{Loop: "open", CoreBusy: 0.86, ServerCores: 0.3, SendLagP99: 20}, false, false, ""},
		{"calm core, idle server", Load{Loop: "closed", CoreBusy: 0.7, ServerCores: 0.2}, false, false, ""},
		{"idle steps too", Load{Loop: "idle", CoreBusy: 0.96, DriverCores: 0.2}, true, false, "96% busy"},
		{"churn is not held to a line ceiling", Load{Loop: "churn", Throughput: 90000, Ceiling: 100000, CoreBusy: 0.5}, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := Judge(tc.load)
			if b.Driver != tc.driver || b.Upstream != tc.upstream {
				t.Fatalf("driver %v upstream %v (%v), want %v %v", b.Driver, b.Upstream, b.Why, tc.driver, tc.upstream)
			}
			if !strings.Contains(strings.Join(b.Why, "; "), tc.why) {
				t.Errorf("why %q, want it to say %q", b.Why, tc.why)
			}
		})
	}
}

func TestDrifted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		canary, median float64
		want           bool
	}{
		{100, 100, false}, {109, 100, false}, {111, 100, true}, {85, 100, true}, {0, 100, false}, {100, 0, false},
	} {
		if got := Drifted(tc.canary, tc.median); got != tc.want {
			t.Errorf("Drifted(%v, %v) = %v", tc.canary, tc.median, got)
		}
	}
	if Repeat(120, 100) || !Repeat(130, 100) || !Repeat(70, 100) || Repeat(0, 100) {
		t.Error("Repeat")
	}
	if Median([]float64{3, 1, 2}) != 2 || Median([]float64{4, 1, 2, 3}) != 2.5 || Median(nil) != 0 {
		t.Error("Median")
	}
}

// ok is a rung sustained under a 10 ms bound.
func ok(step string, rate float64) Rung {
	return Rung{Step: step, Rate: rate, Ran: true, P99US: 500, Answers: rate}
}

func TestTrialKnee(t *testing.T) {
	t.Parallel()
	slow := Rung{Step: "r40k", Rate: 40000, Ran: true, P99US: 25000, Answers: 40000}
	behind := Rung{Step: "r40k", Rate: 40000, Ran: true, P99US: 900, Answers: 30000}
	backlog := Rung{Step: "r40k", Rate: 40000, Ran: true, P99US: 900, Answers: 40000, Errors: 12}
	driver := Rung{Step: "r40k", Rate: 40000, Ran: true, P99US: 500, Answers: 40000, Driver: true}
	skipped := Rung{Step: "r40k", Rate: 40000}
	stalled := Rung{Step: "r10k", Rate: 10000, Ran: true, P99US: 85000, Answers: 10000, Driver: true}
	slowAt80k := Rung{Step: "r80k", Rate: 80000, Ran: true, P99US: 25000, Answers: 80000}
	for _, tc := range []struct {
		name    string
		ladder  []Rung
		rate    float64
		atLeast bool
		why     string
	}{
		{"p99 over the bound", []Rung{ok("r10k", 10000), ok("r20k", 20000), slow, ok("r80k", 80000)}, 20000, false, "p99 25.0 ms over the bound at r40k"},
		{"falls behind", []Rung{ok("r10k", 10000), ok("r20k", 20000), behind}, 20000, false, "answered 75%"},
		{"backlog", []Rung{ok("r10k", 10000), ok("r20k", 20000), backlog}, 20000, false, "12 failed or unanswered"},
		{"driver cuts the climb", []Rung{ok("r10k", 10000), ok("r20k", 20000), driver}, 20000, true, "driver-bound at r40k"},
		{"a rung not run", []Rung{ok("r10k", 10000), skipped}, 10000, false, "not run at r40k"},
		{"all sustained", []Rung{ok("r10k", 10000), ok("r20k", 20000)}, 20000, true, "every rate"},
		{"fails the lowest", []Rung{slow}, 0, false, "at r40k"},
		// One stall of the driver low on the ladder decides nothing: the
		// server held every rate above it.
		{"driver stalls below sustained rungs", []Rung{stalled, ok("r20k", 20000), ok("r40k", 40000)}, 40000, true, "every rate"},
		{"driver-bound, then the server fails", []Rung{stalled, ok("r20k", 20000), driver, slowAt80k}, 20000, true, "driver-bound at r40k, then p99 25.0 ms over the bound at r80k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rate, _, atLeast, why := TrialKnee(tc.ladder, 10000)
			if rate != tc.rate || atLeast != tc.atLeast || !strings.Contains(why, tc.why) {
				t.Errorf("knee %v at least %v (%s), want %v %v (%s)", rate, atLeast, why, tc.rate, tc.atLeast, tc.why)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	slow := Rung{Step: "r20k", Rate: 20000, Ran: true, P99US: 25000, Answers: 20000}
	driver := Rung{Step: "r20k", Rate: 20000, Ran: true, P99US: 500, Answers: 20000, Driver: true}
	for _, tc := range []struct {
		name       string
		rate       float64
		earlier    [][]Rung
		bestClosed float64
		skip       bool
		why        string
	}{
		{"first rung", 5000, nil, 0, false, ""},
		{"all passed", 40000, [][]Rung{{ok("r10k", 10000), ok("r20k", 20000)}, {ok("r10k", 10000), ok("r20k", 20000)}, {ok("r10k", 10000), ok("r20k", 20000)}}, 0, false, ""},
		{"failed in most trials", 40000, [][]Rung{{ok("r10k", 10000), slow}, {ok("r10k", 10000), slow}, {ok("r10k", 10000), ok("r20k", 20000)}}, 0, true, "past its knee"},
		{"failed in one trial of three", 40000, [][]Rung{{ok("r10k", 10000), slow}, {ok("r10k", 10000), ok("r20k", 20000)}, {ok("r10k", 10000), ok("r20k", 20000)}}, 0, false, ""},
		{"driver-bound in every trial", 40000, [][]Rung{{driver}, {driver}, {driver}}, 0, true, "driver could not"},
		{"driver-bound in some trials", 40000, [][]Rung{{driver}, {ok("r20k", 20000)}, {driver}}, 0, false, ""},
		{"over the closed loop's capacity", 80000, nil, 50000, true, "1.60× the 50000 lines/s"},
		{"at the closed loop's capacity", 55000, nil, 50000, false, ""},
		{"more than the driver can send", 120000, nil, 0, true, "more than the driver can send"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			skip, why := Prune(tc.rate, tc.earlier, 10000, tc.bestClosed, 10)
			if skip != tc.skip || !strings.Contains(why, tc.why) {
				t.Errorf("skip %v (%s), want %v (%s)", skip, why, tc.skip, tc.why)
			}
		})
	}
}

// A trial stalled when lines were in flight and not one answer came: the
// fetch-sweep c1000 trial of threads that read 0 lines/s in a standard run.
func TestStalled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		loop lab.Loop
		t    lab.Trial
		want bool
	}{
		{lab.Closed, lab.Trial{Lines: 0, InFlight: 1000}, true},
		{lab.Open, lab.Trial{Lines: 0, InFlight: 3}, true},
		{lab.Closed, lab.Trial{Lines: 0, Late: 5, InFlight: 1000}, false}, // answers came, late
		{lab.Closed, lab.Trial{Lines: 9125, InFlight: 1000}, false},
		{lab.Closed, lab.Trial{}, false}, // nothing was asked
		{lab.Idle, lab.Trial{InFlight: 10}, false},
		{lab.Churn, lab.Trial{InFlight: 10}, false},
	} {
		if got := Stalled(tc.loop, tc.t); got != tc.want {
			t.Errorf("Stalled(%s, %+v) = %v, want %v", tc.loop, tc.t, got, tc.want)
		}
	}
}

func TestStepWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		facts StepFacts
		want  []lab.WarningCode
		check func(ws []lab.Warning) bool
	}{
		{"clean", StepFacts{Trials: 3, Want: 3, Lo: 95, Center: 100, Hi: 105}, nil, nil},
		{"driver-bound with its reasons, two at most", StepFacts{Trials: 3, Want: 3, DriverBound: 2, Why: []string{"a", "b", "c"}, Center: 100, Lo: 100, Hi: 100},
			[]lab.WarningCode{lab.WarnDriverBound}, func(ws []lab.Warning) bool { return ws[0].Trials == 2 && ws[0].Of == 3 && len(ws[0].Why) == 2 }},
		{"upstream and driver", StepFacts{Trials: 3, Want: 3, DriverBound: 1, UpBound: 3}, []lab.WarningCode{lab.WarnDriverBound, lab.WarnUpstreamBound}, nil},
		{"failures and a missing trial", StepFacts{Trials: 2, Want: 3, Failed: 7}, []lab.WarningCode{lab.WarnFailed, lab.WarnMissingTrials},
			func(ws []lab.Warning) bool { return ws[0].Count == 7 && ws[1].Trials == 2 && ws[1].Of == 3 }},
		{"noisy server", StepFacts{Trials: 3, Want: 3, Lo: 80, Center: 100, Hi: 110, CanaryLo: 0.98, CanaryCenter: 1, CanaryHi: 1.02}, []lab.WarningCode{lab.WarnNoisy},
			func(ws []lab.Warning) bool { return !ws[0].Machine && ws[0].Spread > 0.29 }},
		{"noisy machine", StepFacts{Trials: 3, Want: 3, Lo: 60, Center: 100, Hi: 110, CanaryLo: 0.6, CanaryCenter: 1, CanaryHi: 1.05}, []lab.WarningCode{lab.WarnNoisy},
			func(ws []lab.Warning) bool { return ws[0].Machine && ws[0].Canary > 0.4 }},
		{"just under noisy", StepFacts{Trials: 3, Want: 3, Lo: 90, Center: 100, Hi: 109}, nil, nil},
		{"a stalled trial", StepFacts{Trials: 3, Want: 3, Stalled: 1, Lo: 0, Center: 5400, Hi: 6080}, []lab.WarningCode{lab.WarnStalled, lab.WarnNoisy},
			func(ws []lab.Warning) bool { return ws[0].Trials == 1 && ws[0].Of == 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := StepWarnings(tc.facts)
			var got []lab.WarningCode
			for _, w := range ws {
				got = append(got, w.Code)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("codes %v, want %v", got, tc.want)
			}
			if tc.check != nil && !tc.check(ws) {
				t.Errorf("warnings %+v", ws)
			}
		})
	}
}

func TestDecisive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                          string
		figure                        lab.Figure
		measured, driver, up, atLeast bool
		want                          bool
	}{
		{"a clean rate", "throughput", true, false, false, false, true},
		{"a driver-bound rate", "throughput", true, true, false, false, false},
		{"an upstream-bound rate", "throughput", true, false, true, false, false},
		{"CPU per line ignores the driver", "lines_per_cpu_second", true, true, false, false, true},
		{"memory ignores the driver", "mem_per_connection", true, true, true, false, true},
		{"a blast radius is a difference under one load", "blast_radius", true, true, false, false, true},
		{"a p99 the driver bounded", "p99", true, true, false, false, false},
		{"a knee the server ended", "knee", true, false, false, false, true},
		{"a knee the driver ended", "knee", true, false, false, true, false},
		{"nothing measured", "throughput", false, false, false, false, false},
	} {
		if got := Decisive(tc.figure, tc.measured, tc.driver, tc.up, tc.atLeast); got != tc.want {
			t.Errorf("%s: Decisive = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRunDriftedIdealRatio(t *testing.T) {
	t.Parallel()
	if RunDrifted(100, 95, 105, 1, 20) || !RunDrifted(100, 95, 105, 3, 20) || !RunDrifted(100, 60, 100, 0, 20) || RunDrifted(0, 0, 0, 5, 5) {
		t.Error("RunDrifted: want a drifted run only past 10% of trials or a 30% spread")
	}
	if got := Ideal(100, 1, 0.05); got != 2000 {
		t.Errorf("Ideal(100, 1, 50ms) = %v, want 2000", got)
	}
	if got := Ideal(50, 16, 0.05); got != 16000 {
		t.Errorf("Ideal(50, 16, 50ms) = %v, want 16000", got)
	}
	c, lo, hi, ok := Ratio(Spread{Center: 200, Lo: 180, Hi: 220}, Spread{Center: 100, Lo: 90, Hi: 110}, true)
	if !ok || c != 2 || math.Abs(lo-180.0/110) > 1e-9 || math.Abs(hi-220.0/90) > 1e-9 {
		t.Errorf("Ratio, higher better = %v (%v–%v) %v", c, lo, hi, ok)
	}
	if c, _, _, _ := Ratio(Spread{Center: 50, Lo: 50, Hi: 50}, Spread{Center: 100, Lo: 100, Hi: 100}, false); c != 2 {
		t.Errorf("Ratio, lower better = %v, want 2 (half the latency is twice as good)", c)
	}
	if _, _, _, ok := Ratio(Spread{Center: 1, Lo: 0, Hi: 2}, Spread{Center: 1, Lo: 1, Hi: 1}, true); ok {
		t.Error("Ratio with a zero trial: want none")
	}
	if r, ok := Relative(50, 100, false); !ok || r != 2 {
		t.Errorf("Relative, lower better = %v %v, want 2", r, ok)
	}
	if _, ok := Relative(0, 100, true); ok {
		t.Error("Relative of 0: want none")
	}
	if !Overlap(Spread{Lo: 1, Hi: 3}, Spread{Lo: 2, Hi: 4}) || Overlap(Spread{Lo: 1, Hi: 2}, Spread{Lo: 3, Hi: 4}) {
		t.Error("Overlap")
	}
}

func TestMedianKnee(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ks   []KneeTrial
		want KneeTrial
	}{
		{"none", nil, KneeTrial{}},
		{"the middle rate", []KneeTrial{{Rate: 30}, {Rate: 10}, {Rate: 20, Step: "r20"}}, KneeTrial{Rate: 20, Step: "r20"}},
		// Of two trials at 20k, the one the server ended is the median's.
		{"a tie goes to the decided", []KneeTrial{{Rate: 20, AtLeast: true}, {Rate: 20, Why: "p99"}, {Rate: 10}}, KneeTrial{Rate: 20, Why: "p99"}},
	} {
		if got := MedianKnee(tc.ks); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: MedianKnee = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestRank(t *testing.T) {
	t.Parallel()
	es := []Entry{
		{Name: "slow", Figure: Spread{Center: 10}, Decisive: true},
		{Name: "fast but driver-bound", Figure: Spread{Center: 90}},
		{Name: "fast", Figure: Spread{Center: 50}, Decisive: true},
	}
	names := func(es []Entry) (out []string) {
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	order, ranked, undecided := Rank(es, true)
	if !slices.Equal(names(order), []string{"fast but driver-bound", "fast", "slow"}) ||
		!slices.Equal(names(ranked), []string{"fast", "slow"}) || !slices.Equal(names(undecided), []string{"fast but driver-bound"}) {
		t.Errorf("higher better: order %v ranked %v undecided %v", names(order), names(ranked), names(undecided))
	}
	if order, _, _ := Rank(es, false); names(order)[0] != "slow" {
		t.Errorf("lower better: order %v", names(order))
	}
	// The driver-bound 90 may be more still: "fast" cannot be said to lead.
	if got := Contested(ranked[0], undecided, true); !slices.Equal(got, []string{"fast but driver-bound"}) {
		t.Errorf("contested: %v", got)
	}
	behind := []Entry{{Name: "bound below", Figure: Spread{Center: 40}}, {Name: "level", Figure: Spread{Center: 50}}}
	if got := Contested(ranked[0], behind, true); !slices.Equal(got, []string{"level"}) {
		t.Errorf("contested, higher better: %v", got)
	}
	if got := Contested(ranked[0], behind, false); !slices.Equal(got, []string{"bound below", "level"}) {
		t.Errorf("contested, lower better: %v", got)
	}
}

func TestReleaseChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		older, newer Spread
		higher       bool
		center       float64
		beyond       bool
	}{
		{"faster, ranges apart", Spread{Center: 100, Lo: 95, Hi: 105, N: 3}, Spread{Center: 120, Lo: 115, Hi: 125, N: 3}, true, 1.2, true},
		{"ranges overlap", Spread{Center: 100, Lo: 90, Hi: 110, N: 3}, Spread{Center: 105, Lo: 100, Hi: 112, N: 3}, true, 1.05, false},
		{"apart but tiny", Spread{Center: 49.5, Lo: 49.5, Hi: 49.6, N: 3}, Spread{Center: 49.4, Lo: 49.4, Hi: 49.4, N: 3}, false, 1.002, false},
		{"less memory is better", Spread{Center: 6.3, Lo: 6.3, Hi: 6.3, N: 3}, Spread{Center: 7.8, Lo: 7.8, Hi: 7.8, N: 3}, false, 0.81, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _, _, beyond, ok := ReleaseChange(tc.older, tc.newer, tc.higher)
			if !ok || math.Abs(c-tc.center) > 0.01 || beyond != tc.beyond {
				t.Errorf("change %.3f beyond %v ok %v, want %.3f %v", c, beyond, ok, tc.center, tc.beyond)
			}
		})
	}
}

func TestBudgetsAndBacklog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ trials, want int }{{3, 1}, {30, 3}, {27, 2}, {0, 1}} {
		if got := RepeatBudget(tc.trials); got != tc.want {
			t.Errorf("RepeatBudget(%d) = %d, want %d", tc.trials, got, tc.want)
		}
	}
	if Backlog(0, 5000) || Backlog(50, 5000) || !Backlog(51, 5000) {
		t.Error("Backlog: want more than 1% of a second's lines unanswered")
	}
}

func TestOpenOverClosed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		us        map[string]float64
		ratio     float64
		paced, ok bool
	}{
		{"against the paced loop", map[string]float64{"open": 16, "paced": 20, "closed": 10}, 0.8, true, true},
		{"a run before the paced loop", map[string]float64{"open": 15, "closed": 10}, 1.5, false, true},
		{"no open loop", map[string]float64{"closed": 10, "paced": 12}, 0, false, false},
		{"nothing", nil, 0, false, false},
	} {
		r, paced, ok := OpenOverClosed(c.us)
		if ok != c.ok || paced != c.paced || math.Abs(r-c.ratio) > 1e-9 {
			t.Errorf("%s: %v %v %v, want %v %v %v", c.name, r, paced, ok, c.ratio, c.paced, c.ok)
		}
	}
}
