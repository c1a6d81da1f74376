package report

import (
	"strings"
	"time"

	"github.com/linelab/linelab/internal/conformance"
	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/driver"
	"github.com/linelab/linelab/lab/results"
)

// fixture is a small run with fixed numbers: three implementations and the
// floor (echo only), a
// sweep, an open-loop ladder, an idle step and a fetch pair, and one of
// everything that should escape (a <script> in a description and a source).
func fixture() *results.File {
	ms := func(d time.Duration) lab.Duration { return lab.Duration(d) }
	prof := map[lab.Profile]lab.ProfileSpec{
		lab.Quick:    {Duration: ms(300 * time.Millisecond), Warmup: ms(100 * time.Millisecond), Trials: 3},
		lab.Standard: {Duration: ms(5 * time.Second), Warmup: ms(time.Second), Trials: 3},
	}
	scens := []lab.Scenario{
		{Name: "echo-sweep", Mode: "echo", Description: "sweep", Profiles: prof,
			Headline: &lab.Headline{Step: "c100", Figure: lab.FigThroughput, Why: "what the driver can push through"}, File: "scenarios/echo-sweep.yaml",
			Charts: []lab.Chart{{Kind: lab.ChartSweep}, {Kind: lab.ChartSpectrum, Steps: []string{"c100"}}, {Kind: lab.ChartCPU}}, Steps: []lab.Step{
				{Name: "c1", Loop: lab.Closed, Connections: 1, Depth: 1}, {Name: "c10", Loop: lab.Closed, Connections: 10, Depth: 1}, {Name: "c100", Loop: lab.Closed, Connections: 100, Depth: 1}}},
		{Name: "echo-rate", Mode: "echo", Description: "ladder", LatencyBound: ms(10 * time.Millisecond), Profiles: prof,
			Headline: &lab.Headline{Figure: lab.FigKnee, Why: "the rate it sustains"}, File: "scenarios/echo-rate.yaml",
			Charts: []lab.Chart{{Kind: lab.ChartLadder}, {Kind: lab.ChartSpectrum, Steps: []string{"r5k", "r20k"}}, {Kind: lab.ChartCPU}}, Steps: []lab.Step{
				{Name: "r5k", Loop: lab.Open, Connections: 10, Rate: 5000}, {Name: "r20k", Loop: lab.Open, Connections: 10, Rate: 20000}}},
		{Name: "c10k-idle", Mode: "echo", Description: "idle", Profiles: prof,
			Headline: &lab.Headline{Step: "c10000", Figure: lab.FigMemPerConn, Why: "what a connection costs"}, File: "scenarios/c10k-idle.yaml",
			Charts: []lab.Chart{{Kind: lab.ChartIdle}, {Kind: lab.ChartCPU}}, Steps: []lab.Step{
				{Name: "c10000", Loop: lab.Idle, Connections: 10000, Quick: &lab.StepOverride{Connections: 2000}}}},
		{Name: "fetch-slow-upstream", Mode: "fetch", Description: "slow", Profiles: prof, File: "scenarios/fetch-slow-upstream.yaml",
			Charts:   []lab.Chart{{Kind: lab.ChartSpectrum, Steps: []string{"slow-5pct", "baseline"}}, {Kind: lab.ChartCPU}},
			Headline: &lab.Headline{Step: "slow-5pct", Figure: lab.FigSlowdown, Why: "whether slow fetches hold up the rest"},
			Upstream: &lab.UpstreamSettings{Latency: ms(5 * time.Millisecond)}, Steps: []lab.Step{
				{Name: "baseline", Loop: lab.Closed, Connections: 100, Depth: 1},
				{Name: "slow-5pct", Loop: lab.Closed, Connections: 100, Depth: 1, Upstream: &lab.UpstreamSettings{Latency: ms(5 * time.Millisecond), SlowRate: 0.05, SlowLatency: ms(2 * time.Second)}}}},
	}
	impls := []lab.Implementation{
		{Name: "go-eventloop", Language: "go", Runtime: "Go", Model: "event loop", Source: []string{"go-server/eventloop/eventloop.go"}, Description: "gnet"},
		{Name: "node", Language: "javascript", Runtime: "node.js 18", Model: "event loop, callbacks", Source: []string{"reference/node/server.js"}, Description: "callbacks <script>alert(1)</script>"},
		{Name: "threads", Language: "python", Runtime: "python3", Model: "thread per connection", Source: []string{"reference/threads/server.py"}, Description: "threads"},
		{Name: "floor", Role: lab.RoleFloor, Language: "c", Runtime: "gcc", Model: "epoll loop", Source: []string{"reference/floor/floor.c"}, Description: "the floor"},
	}
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f := &results.File{
		Schema: results.Schema, RunID: "20261126-120000", Profile: lab.Quick, Command: "go run ./lab/cmd/lab run --profile quick",
		Started: start, Finished: start.Add(10 * time.Minute), Scenarios: scens, Implementations: impls,
		Environment: results.Environment{CPUModel: "Test CPU", Cores: 2, Kernel: "6.1", DockerVersion: "20.10.24", CgroupVersion: "1", GoVersion: "go1.26",
			Pinning: results.Pinning{Server: "1", Driver: "0", Upstream: "0"}, MemoryLimit: 1 << 30,
			Images: map[string]results.Image{"threads": {Ref: "linelab/threads", ID: "sha256:0123456789abcdef0123", Size: 300 << 20, Runtimes: map[string]string{"python": "3.11.2"}}}},
		Calibration: &results.Calibration{Against: "go-eventloop", Closed: 200000, Pipelined: 2000000},
		Sources: []results.Source{
			{Impl: "node", Path: "reference/node/server.js", Text: "// server\nconst s = '<b>&';\n"},
			{Impl: "threads", Path: "reference/threads/server.py", Text: "\"\"\"doc\"\"\"\ndef handle(conn):  # one thread\n    return b\"echo: \"\n"},
		},
		Conformance: []results.Conformance{
			{Impl: "go-eventloop", Target: "echo", Passed: true, Results: []conformance.Result{{Case: "one-line", Passed: true}, {Case: "upstream-error-keeps-connection", Passed: true, Skipped: true}}},
			{Impl: "node", Target: "echo", Passed: true, Results: []conformance.Result{{Case: "one-line", Passed: true}}},
			{Impl: "threads", Target: "echo", Passed: false, Results: []conformance.Result{{Case: "one-line", Passed: false, Detail: `answer 1: got "<oops>"`}}},
		},
		Failures: []lab.Failure{{Impl: "threads", Scenario: "c10k-idle", Step: "c10000", Message: "exited with code 137, killed for memory over its 1024 MiB limit; skipped for the rest of the run", At: start, LeftOut: true}},
	}
	speed := map[string]float64{"go-eventloop": 4, "node": 2, "threads": 1, "floor": 4.5}
	var trials []lab.Trial
	for _, sc := range scens {
		for _, impl := range impls {
			for si, st := range sc.Steps {
				if impl.Name == "threads" && sc.Name == "c10k-idle" {
					continue // it "crashed"
				}
				if impl.Role == lab.RoleFloor && sc.Mode == "fetch" {
					continue // the floor only echoes
				}
				for trial := 1; trial <= 3; trial++ {
					k := speed[impl.Name]
					tp := 10000 * k * float64(min(st.Connections, 100)) / (1 + float64(si)) * (1 + 0.02*float64(trial))
					lat := driver.NewHistogram()
					base := int64(100*(si+1)) * int64(5-k)
					for i := int64(1); i <= 1000; i++ {
						lat.RecordValue(base + i*int64(trial))
					}
					t := lab.Trial{Impl: impl.Name, Scenario: sc.Name, Step: st.Name, Trial: trial, Started: start,
						Seconds: 0.3, Lines: int64(tp * 0.3), Throughput: tp, Latency: results.PercentilesOf(lat),
						CPUSeconds: 0.3 * 0.9, ServerCores: 0.9, LinesPerCPUSecond: tp / 0.9,
						MemWorkingSetMax: int64(float64(10<<20) * (5 - k)), ThreadsMax: 4 + int(k), Histogram: results.EncodeHistogram(lat)}
					t.Sched = &lab.Sched{Seconds: 0.3, Voluntary: t.Lines * int64(1+k), Involuntary: t.Lines / 20, Waited: 0.3 * 0.01 * k, User: 0.1, System: 0.17, Tasks: 4 + int(k)}
					if st.Loop == lab.Closed {
						t.Fairness = &lab.Fairness{Jain: 1 - 0.05*k - 0.01*float64(trial), Slowest: 0.9 - 0.2*k}
					}
					if st.Loop == lab.Open {
						t.Offered = float64(st.Rate)
						t.Uncorrected = &t.Latency
						t.UncorrectedHistogram = t.Histogram
					}
					if st.Loop == lab.Idle {
						t.Connected = 2000
						t.MemPerConnection = 1000 * (5 - k)
					}
					if impl.Name == "go-eventloop" && st.Name == "c100" {
						t.DriverBound = true
					}
					trials = append(trials, t)
				}
			}
		}
	}
	results.Summarize(f, trials)
	return f
}

// The hostile strings: each would run script, or load something, if the
// report put it on the page as it came. Each sets window.__pwned to its
// number when it runs.
var hostile = []string{
	`</script><script>window.__pwned=1</script>`,
	`"><img src=x onerror="window.__pwned=2">`,
	`javascript:window.__pwned=3`,
	`'><svg onload="window.__pwned=4">`,
}

// hostileFixture is the fixture with the hostile strings everywhere a
// server, a file or a scenario puts text into a report: a server's
// answer in a conformance detail, its last output in a failure, its
// handler source, an implementation's description and source path, a
// scenario's description and headline reason, and a warning.
func hostileFixture() *results.File {
	f := fixture()
	all := strings.Join(hostile, " ")
	f.Scenarios[0].Description = all
	f.Scenarios[0].Headline.Why = all
	f.Implementations[0].Description = all
	f.Implementations[1].Model = hostile[1]
	f.Sources = append(f.Sources, results.Source{Impl: "go-eventloop", Path: hostile[2], Text: "// " + all + "\n" + hostile[0] + "\n"})
	f.Conformance[2].Results[0].Detail = "answer 1: got " + all
	f.Failures = append(f.Failures, lab.Failure{Impl: "node", Scenario: "echo-sweep", Step: "c100", Message: "exited with code 1; last output: " + all})
	f.Warnings = append(f.Warnings, all)
	return f
}
