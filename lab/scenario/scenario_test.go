package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
)

func TestLoadRealScenarios(t *testing.T) {
	t.Parallel()
	ss, err := LoadDir(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c10k-idle", "churn", "cpu-bound-multicore", "cpu-bound", "cpu-hog", "echo-latency", "echo-pipelined", "echo-rate", "echo-sweep", "fault-crash", "fault-lossy-link", "fault-upstream-flap", "fetch-slow-upstream", "fetch-sweep", "fetch-sweep-per-request", "multicore"}
	var got []string
	for _, s := range ss {
		got = append(got, s.Name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("scenarios = %v, want %v", got, want)
	}
}

const good = `name: x
mode: echo
profiles:
  quick: {duration: 1s, warmup: 0s, trials: 3}
  standard: {duration: 2s, warmup: 1s, trials: 3}
steps:
  - {name: a, loop: closed, connections: 2}
headline: {step: a, figure: throughput, why: the only step}
`

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	s, err := Parse("scenarios/x.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	st := s.Steps[0]
	if st.Depth != 1 || st.Payload != DefaultPayload || s.Profiles[lab.Standard].Duration.D().Seconds() != 2 {
		t.Fatalf("defaults not applied: %+v", st)
	}
	// A file that names no chart gets the one every scenario can draw.
	if len(s.Charts) != 1 || s.Charts[0].Kind != lab.ChartCPU {
		t.Errorf("charts %+v; want the CPU chart alone", s.Charts)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", strings.Replace(good, "mode: echo", "mode: echo\ncolour: red", 1),
			"scenarios/x.yaml:3: field colour not found in type Scenario"},
		{"unknown step key", strings.Replace(good, "connections: 2}", "connections: 2, speed: 3}", 1),
			"scenarios/x.yaml:7: field speed not found in type Step"},
		{"no headline", strings.Replace(good, "headline: {step: a, figure: throughput, why: the only step}\n", "", 1),
			"scenarios/x.yaml:1: headline is missing: name the step and the figure that decide this scenario (see scenarios/README.md)"},
		{"negative server cores", strings.Replace(good, "mode: echo", "mode: echo\nserver_cores: -1", 1),
			"scenarios/x.yaml:3: server_cores -1: want the fewest cores the servers need, or leave it out"},
		{"bad mode", strings.Replace(good, "mode: echo", "mode: shout", 1),
			`scenarios/x.yaml:2: mode "shout": want echo, fetch or work`},
		{"work without a number", strings.Replace(good, "mode: echo", "mode: work", 1),
			`scenarios/x.yaml:7: payload "": work mode needs the number of SHA-256 rounds, 0 to 1000000, without leading zeros`},
		{"work over the limit", strings.Replace(strings.Replace(good, "mode: echo", "mode: work", 1), "connections: 2}", "connections: 2, payload: '1000001'}", 1),
			`scenarios/x.yaml:7: payload "1000001": work mode needs the number of SHA-256 rounds, 0 to 1000000, without leading zeros`},
		{"work with leading zeros", strings.Replace(strings.Replace(good, "mode: echo", "mode: work", 1), "connections: 2}", "connections: 2, payload: '0100'}", 1),
			`scenarios/x.yaml:7: payload "0100": work mode needs the number of SHA-256 rounds, 0 to 1000000, without leading zeros`},
		{"name differs", strings.Replace(good, "name: x", "name: y", 1),
			`scenarios/x.yaml:1: name "y" differs from the file name "x"`},
		{"bad duration", strings.Replace(good, "duration: 1s", "duration: soon", 1),
			`scenarios/x.yaml:4: duration "soon": want a duration such as 500ms or 2s`},
		{"zero duration", strings.Replace(good, "duration: 1s", "duration: 0s", 1),
			"scenarios/x.yaml:4: quick: duration must be > 0"},
		{"two trials", strings.Replace(good, "warmup: 1s, trials: 3", "warmup: 1s, trials: 2", 1),
			"scenarios/x.yaml:5: standard: trials must be at least 3, for a median with an interval"},
		{"missing profile", strings.Replace(good, "  standard: {duration: 2s, warmup: 1s, trials: 3}\n", "", 1),
			"scenarios/x.yaml:3: profile standard is missing"},
		{"open without rate", strings.Replace(good, "loop: closed, connections: 2}", "loop: open, connections: 2}", 1) + "latency_bound: 5ms\n",
			"scenarios/x.yaml:7: rate must be > 0"},
		{"negative rate", strings.Replace(good, "loop: closed, connections: 2}", "loop: open, connections: 2, rate: -5}", 1) + "latency_bound: 5ms\n",
			"scenarios/x.yaml:7: rate must be > 0"},
		{"open without bound", strings.Replace(good, "loop: closed, connections: 2}", "loop: open, connections: 2, rate: 100}", 1),
			"scenarios/x.yaml:1: latency_bound must be > 0 when a step has an open loop (it defines the knee)"},
		{"rate on closed", strings.Replace(good, "connections: 2}", "connections: 2, rate: 9}", 1),
			"scenarios/x.yaml:7: rate applies to open loops only; a closed loop sends when answers come"},
		{"too many connections", strings.Replace(good, "connections: 2}", "connections: 30000}", 1),
			"scenarios/x.yaml:7: connections 30000 is over 15000, which the open-file limit of 20,000 allows"},
		{"zero connections", strings.Replace(good, "connections: 2}", "connections: 0}", 1),
			"scenarios/x.yaml:7: connections must be > 0"},
		{"bad loop", strings.Replace(good, "loop: closed", "loop: round", 1),
			`scenarios/x.yaml:7: loop "round": want closed, open, churn or idle`},
		{"duplicate step", strings.Replace(good, "connections: 2}\n", "connections: 2}\n  - {name: a, loop: churn, connections: 1}\n", 1),
			`scenarios/x.yaml:8: step name "a" is used twice`},
		{"upstream in echo", good + "upstream: {latency: 5ms}\n",
			"scenarios/x.yaml:9: upstream is set but mode is echo; it applies to fetch mode only"},
		{"bad error rate", strings.Replace(good, "mode: echo", "mode: fetch\nupstream: {error_rate: 2}", 1),
			"scenarios/x.yaml:3: error_rate 2: want 0 to 1"},
		{"bad client", strings.Replace(good, "mode: echo", "mode: fetch\nclients: [pooled, shared]", 1),
			`scenarios/x.yaml:3: client "shared": want pooled or per-request`},
		{"clients in echo", strings.Replace(good, "mode: echo", "mode: echo\nclients: [pooled]", 1),
			"scenarios/x.yaml:3: clients is set but mode is echo"},
		{"payload with LF", strings.Replace(good, "connections: 2}", "connections: 2, payload: \"a\\nb\"}", 1),
			"scenarios/x.yaml:7: payload must not hold CR or LF"},
		{"fault kind", strings.Replace(good, "connections: 2}", "connections: 2, fault: {kind: flood}}", 1),
			`scenarios/x.yaml:7: fault kind "flood": want crash, upstream-flap or lossy-link`},
		{"crash too late", strings.Replace(good, "connections: 2}", "connections: 2, fault: {kind: crash, at: 500ms}}", 1),
			"scenarios/x.yaml:7: quick: the fault ends at 500ms, less than 1s before the 1s window closes"},
		{"crash at zero", strings.Replace(good, "connections: 2}", "connections: 2, fault: {kind: crash}}", 1),
			"scenarios/x.yaml:7: at must be > 0"},
		{"crash in an open loop", strings.Replace(good, "loop: closed, connections: 2}", "loop: open, rate: 100, connections: 2, fault: {kind: crash, at: 1ms}}", 1) + "latency_bound: 5ms\n",
			"scenarios/x.yaml:7: a crash fault needs a closed loop"},
		{"flap in echo", strings.Replace(good, "connections: 2}", "connections: 2, fault: {kind: upstream-flap, at: 1ms, for: 1ms}}", 1),
			"scenarios/x.yaml:7: an upstream-flap fault needs fetch mode; this scenario is echo"},
		{"flap without for", strings.Replace(strings.Replace(good, "mode: echo", "mode: fetch", 1), "connections: 2}", "connections: 2, fault: {kind: upstream-flap, at: 1ms}}", 1),
			"scenarios/x.yaml:7: for must be > 0: how long the upstream is down"},
		{"lossy with at", strings.Replace(good, "connections: 2}", "connections: 2, fault: {kind: lossy-link, loss: 0.01, at: 1s}}", 1),
			"scenarios/x.yaml:7: at and for do not apply to a lossy link"},
		{"lossy loss", strings.Replace(good, "connections: 2}", "connections: 2, fault: {kind: lossy-link, loss: 1.5}}", 1),
			"scenarios/x.yaml:7: loss 1.5: want a share from 0 to below 1"},
		{"recovery without fault", strings.Replace(good, "figure: throughput", "figure: recovery", 1),
			`scenarios/x.yaml:8: a recovery headline needs a step with a crash or upstream-flap fault; step "a" has none`},
		{"hog in echo mode", strings.Replace(good, "connections: 2}", "connections: 2, hog: {cpu: 20ms}}", 1),
			"scenarios/x.yaml:7: hog applies to closed loops in work mode only (its heavy lines are work lines)"},
		{"hog without cpu", strings.Replace(strings.Replace(good, "mode: echo", "mode: work", 1), "connections: 2}", "connections: 2, payload: '10', hog: {cpu: 0s}}", 1),
			"scenarios/x.yaml:7: hog cpu 0s: want more than 0 and at most 1s of server CPU per heavy line"},
		{"blast radius without hog", strings.Replace(strings.Replace(strings.Replace(good, "mode: echo", "mode: work", 1), "connections: 2}", "connections: 2, payload: '10'}", 1), "figure: throughput", "figure: blast_radius", 1),
			`scenarios/x.yaml:8: a blast_radius headline needs its step to have a hog; step "a" has none`},
		{"unknown claim", strings.Replace(good, "mode: echo", "mode: echo\nclaims: [speed]", 1), `scenarios/x.yaml:3: claim "speed": want threads-grow, held-up, gil or monkey`},
		{"unknown figure", strings.Replace(good, "figure: throughput", "figure: speed", 1),
			`scenarios/x.yaml:8: headline figure "speed": want one of throughput, lines_per_cpu_second, p50, p99, mem_per_connection, knee, slowdown, recovery, blast_radius`},
		{"unknown chart", strings.Replace(good, "mode: echo", "mode: echo\ncharts: [{kind: pie}]", 1),
			`scenarios/x.yaml:3: chart "pie": want one of [sweep ladder spectrum idle faults cpu]`},
		{"sweep of one step", strings.Replace(good, "mode: echo", "mode: echo\ncharts: [{kind: cpu}, {kind: sweep}]", 1),
			`scenarios/x.yaml:3: chart sweep needs two closed steps or more to draw a line through`},
		{"spectrum of no step", strings.Replace(good, "mode: echo", "mode: echo\ncharts:\n  - {kind: spectrum, steps: [b]}", 1),
			`scenarios/x.yaml:4: chart spectrum: no step named "b"`},
		{"spectrum unnamed", strings.Replace(good, "mode: echo", "mode: echo\ncharts: [{kind: spectrum}]", 1),
			`scenarios/x.yaml:3: chart spectrum: name its steps (steps: [...])`},
		{"steps of a cpu chart", strings.Replace(good, "mode: echo", "mode: echo\ncharts: [{kind: cpu, steps: [a]}]", 1),
			`scenarios/x.yaml:3: chart cpu: steps apply to a spectrum only`},
		{"faults without one", strings.Replace(good, "mode: echo", "mode: echo\ncharts: [{kind: faults}]", 1),
			`scenarios/x.yaml:3: chart faults needs a step with a crash or an upstream-flap fault`},
		{"not yaml", "name: [x\n", "scenarios/x.yaml:1: did not find expected ',' or ']'"},
		{"empty", "", "scenarios/x.yaml: empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("scenarios/x.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n  %v\nwant it to hold:\n  %s", err, tt.want)
			}
		})
	}
}

// TestExpand: a fetch scenario runs once per client discipline, the first
// keeping its name; an echo scenario is left alone.
func TestExpand(t *testing.T) {
	t.Parallel()
	got := Expand(lab.Scenario{Name: "f", Mode: "fetch", Description: "d.", Clients: []string{lab.Pooled, lab.PerRequest}})
	if len(got) != 2 || got[0].Name != "f" || got[0].Client != lab.Pooled || got[1].Name != "f-per-request" || got[1].Client != lab.PerRequest {
		t.Fatalf("Expand = %+v", got)
	}
	if !strings.HasSuffix(got[1].Description, " d.") || !strings.Contains(got[1].Description, "UPSTREAM_CLIENT=per-request") {
		t.Errorf("description %q", got[1].Description)
	}
	if got := Expand(lab.Scenario{Name: "g", Mode: "fetch"}); len(got) != 1 || got[0].Client != lab.Pooled {
		t.Errorf("default: %+v", got)
	}
	if got := Expand(lab.Scenario{Name: "e", Mode: "echo"}); len(got) != 1 || got[0].Client != "" {
		t.Errorf("echo: %+v", got)
	}
}

// FuzzParse feeds the loader anything. It must not panic; what it accepts
// must be a scenario the runner can run as it is; what it refuses, it
// refuses with errors that each name the file. Seeds: every real
// scenario (read here) and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no scenario files to seed with (%v)", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// Under one name, so that the name check passes for real files.
		f.Add(bytes.Replace(b, []byte("name: "+strings.TrimSuffix(filepath.Base(p), ".yaml")), []byte("name: x"), 1))
	}
	f.Add([]byte(good))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("x.yaml", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "x.yaml") {
					t.Fatalf("an error line that does not name the file: %q", line)
				}
			}
			return
		}
		if s.Name != "x" || s.Headline == nil || len(s.Steps) == 0 {
			t.Fatalf("accepted without a name, a headline or steps: %+v", s)
		}
		for _, p := range lab.Profiles {
			least := 3
			if p == lab.Quick {
				least = 1
			}
			if spec, ok := s.Profiles[p]; !ok || spec.Duration <= 0 || spec.Warmup < 0 || spec.Trials < least || spec.MaxTrials > maxTrials ||
				spec.SideTrials > spec.Trials {
				t.Fatalf("accepted with profile %s %+v (present %v)", p, spec, ok)
			}
		}
		names := map[string]bool{}
		for _, st := range s.Steps {
			if st.Name == "" || names[st.Name] {
				t.Fatalf("accepted a step without a name, or twice: %q", st.Name)
			}
			names[st.Name] = true
			if st.Connections <= 0 || st.Connections > MaxConnections || st.Payload == "" || strings.ContainsAny(st.Payload, "\r\n") {
				t.Fatalf("accepted step %+v", st)
			}
			switch st.Loop {
			case lab.Closed:
				if st.Depth < 1 || st.Rate != 0 {
					t.Fatalf("accepted closed step %+v", st)
				}
			case lab.Open:
				if st.Rate <= 0 || s.LatencyBound <= 0 {
					t.Fatalf("accepted open step %+v with latency_bound %v", st, s.LatencyBound)
				}
			case lab.Churn, lab.Idle:
			default:
				t.Fatalf("accepted loop %q", st.Loop)
			}
		}
	})
}

func TestParseWork(t *testing.T) {
	t.Parallel()
	s, err := Parse("scenarios/x.yaml", []byte(strings.Replace(strings.Replace(good, "mode: echo", "mode: work", 1), "connections: 2}", "connections: 2, payload: 1000}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != lab.Work || s.Steps[0].Payload != "1000" {
		t.Errorf("mode %q, payload %q; want work and 1000", s.Mode, s.Steps[0].Payload)
	}
}
