package report

import (
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/results"
)

// claimsRun is a standard run of the claims' scenarios with planted
// figures: threads' cost grows only at c1000, gevent's does not; every
// cooperative server waits out the heavy line and threads do not; the
// multicore scenario could not run; gevent-monkey runs threads' file.
func claimsRun() *results.File {
	prof := map[lab.Profile]lab.ProfileSpec{lab.Standard: {Trials: 3}}
	closed := func(names ...string) []lab.Step {
		var out []lab.Step
		for _, n := range names {
			out = append(out, lab.Step{Name: n, Loop: lab.Closed, Connections: 10})
		}
		return out
	}
	hogStep := lab.Step{Name: "hog", Loop: lab.Closed, Connections: 50, Hog: &lab.Hog{CPU: lab.Duration(20e6)}}
	f := &results.File{Schema: results.Schema, RunID: "claims", Profile: lab.Standard,
		Environment: results.Environment{Pinning: results.Pinning{Server: "1"}},
		Scenarios: []lab.Scenario{
			{Name: "echo-sweep", Mode: lab.Echo, Profiles: prof, Claims: []lab.Claim{lab.ClaimThreadsGrow, lab.ClaimMonkey},
				Headline: &lab.Headline{Step: "c100", Figure: lab.FigLinesPerCPU}, Steps: closed("c10", "c100", "c1000")},
			{Name: "c10k-idle", Mode: lab.Echo, Profiles: prof, Claims: []lab.Claim{lab.ClaimThreadsGrow, lab.ClaimMonkey},
				Headline: &lab.Headline{Step: "c10000", Figure: lab.FigMemPerConn}, Steps: []lab.Step{{Name: "c10000", Loop: lab.Idle, Connections: 10000}}},
			{Name: "cpu-hog", Mode: lab.Work, Profiles: prof, Claims: []lab.Claim{lab.ClaimHeldUp, lab.ClaimMonkey},
				Headline: &lab.Headline{Step: "hog", Figure: lab.FigBlastRadius}, Steps: []lab.Step{{Name: "light", Loop: lab.Closed, Connections: 50}, hogStep}},
			{Name: "cpu-bound-multicore", Mode: lab.Work, Profiles: prof, Claims: []lab.Claim{lab.ClaimGIL}, ServerCores: 2,
				Headline: &lab.Headline{Step: "c50", Figure: lab.FigThroughput}, Steps: closed("c50")},
		},
		Implementations: []lab.Implementation{
			{Name: "threads", Role: lab.RoleServer, Language: "python", Scheduling: lab.Preemptive, Flow: lab.InOrder},
			{Name: "gevent", Role: lab.RoleServer, Language: "python", Scheduling: lab.Cooperative, Flow: lab.InOrder},
			{Name: "gevent-monkey", Role: lab.RoleServer, Language: "python", Scheduling: lab.Cooperative, Flow: lab.InOrder},
			{Name: "twisted", Role: lab.RoleServer, Language: "python", Scheduling: lab.Cooperative, Flow: lab.Callbacks},
			{Name: "go-goroutine", Role: lab.RoleServer, Language: "go", Scheduling: lab.Preemptive, Flow: lab.InOrder},
		},
		Sources: []results.Source{
			{Impl: "threads", Path: "reference/threads/server.py", Text: "def handle(c):\n    for line in c:\n        c.send(line)\n"},
			{Impl: "gevent", Path: "reference/gevent/server.py", Text: "from gevent.server import StreamServer\ndef handle(s, a):\n    for line in s.makefile():\n        s.sendall(line)\n"},
			{Impl: "gevent-monkey", Path: "reference/gevent-monkey/server.py", Text: "from gevent import monkey; monkey.patch_all()\n"},
			{Impl: "gevent-monkey", Path: "reference/threads/server.py", Text: "def handle(c):\n    for line in c:\n        c.send(line)\n"},
			{Impl: "twisted", Path: "reference/twisted/server.py", Text: "def f(d):\n    d.addCallback(lambda r: r)\n    d.addErrback(log)\n"},
			{Impl: "go-goroutine", Path: "go-server/goroutine/goroutine.go", Text: "func serve(c net.Conn) {\n\tfor {\n\t}\n}\n"},
		},
		Skipped: []results.Skip{{Scenario: "cpu-bound-multicore", Why: "needs 2 server cores; this layout gives 1"}},
	}
	var trials []lab.Trial
	add := func(impl, scen, step string, per func(k int) lab.Trial) {
		for k := 1; k <= 3; k++ {
			t := per(k)
			t.Impl, t.Scenario, t.Step, t.Trial = impl, scen, step, k
			trials = append(trials, t)
		}
	}
	for impl, lpc := range map[string][3]float64{"threads": {54e3, 64e3, 38e3}, "gevent": {37e3, 40e3, 33e3}, "gevent-monkey": {30e3, 31e3, 29e3}, "go-goroutine": {120e3, 130e3, 110e3}} {
		for i, step := range []string{"c10", "c100", "c1000"} {
			add(impl, "echo-sweep", step, func(k int) lab.Trial {
				return lab.Trial{LinesPerCPUSecond: lpc[i] * (1 + 0.01*float64(k-2)), Throughput: 1000, Latency: lab.Percentiles{Count: 10}}
			})
		}
	}
	for impl, mem := range map[string]float64{"threads": 60e3, "gevent": 7e3, "gevent-monkey": 9e3, "go-goroutine": 5e3} {
		add(impl, "c10k-idle", "c10000", func(k int) lab.Trial {
			return lab.Trial{Connected: 10000, MemPerConnection: mem * (1 + 0.01*float64(k-2))}
		})
	}
	for impl, grow := range map[string]int64{"threads": 12_000, "gevent": 38_000, "gevent-monkey": 21_000, "twisted": 37_000, "go-goroutine": 20_000} {
		add(impl, "cpu-hog", "light", func(k int) lab.Trial { return lab.Trial{Latency: lab.Percentiles{P50: 1000, P99: 3000, Count: 100}} })
		add(impl, "cpu-hog", "hog", func(k int) lab.Trial {
			return lab.Trial{Latency: lab.Percentiles{P50: 2000, P99: 3000 + grow + int64(k)*100, Count: 100},
				Hog: &lab.HogTrial{Rounds: 20000, RoundNS: 1000, LineMS: 20, Lines: 20, CPUShare: 0.5}}
		})
	}
	results.Summarize(f, trials)
	return f
}

func TestClaims(t *testing.T) {
	t.Parallel()
	f := claimsRun()
	m := Build(f)
	want := map[string]string{
		"threads-grow": "holds only from c1000",
		"held-up":      "holds",
		"gil":          "cannot tell on this run: this machine gives the servers one core; on one with three or more: lab run --scenario cpu-bound-multicore --server-cores 2",
		"backwards":    "holds, by the count",
		"monkey":       "holds only while the handler waits",
	}
	if len(m.Claims) != len(lab.Claims) {
		t.Fatalf("%d claims, want %d", len(m.Claims), len(lab.Claims))
	}
	for _, c := range m.Claims {
		if !strings.HasPrefix(c.Verdict, want[c.ID]) {
			t.Errorf("%s: verdict %q, want it to start %q (figures %q)", c.ID, c.Verdict, want[c.ID], c.Figures)
		}
	}
	figs := strings.Join(m.Claims[0].Figures, " | ")
	for _, w := range []string{"threads: 54.0k → 64.0k → 38.0k lines/CPU-s", "gevent: 37.0k", "threads 58.6 KiB"} {
		if !strings.Contains(figs, w) {
			t.Errorf("threads-grow figures %q lack %q", figs, w)
		}
	}
	if m.Claims[4].Figures[0] != "gevent-monkey runs threads' files with 1 line of code added in files of its own and 0 of threads' changed" {
		t.Errorf("monkey figures: %q", m.Claims[4].Figures)
	}
	// A smoke test decides nothing.
	f.Profile = lab.Quick
	for i := range f.Steps {
		f.Steps[i].Trials = f.Steps[i].Trials[:1]
	}
	f.Steps = nil
	var one []lab.Trial
	for _, t := range claimsTrials(claimsRun()) {
		if t.Trial == 1 {
			one = append(one, t)
		}
	}
	results.Summarize(f, one)
	for _, c := range Build(f).Claims {
		if c.ID != "backwards" && c.ID != "gil" && c.Class != "unknown" {
			t.Errorf("one trial each: %s says %q", c.ID, c.Verdict)
		}
	}
}

func claimsTrials(f *results.File) []lab.Trial {
	var out []lab.Trial
	for _, s := range f.Steps {
		out = append(out, s.Trials...)
	}
	return out
}
