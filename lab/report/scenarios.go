package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

func scenarioView(f *results.File, sc lab.Scenario, m *Model) ScenarioView {
	v := ScenarioView{Name: sc.Name, Mode: string(sc.Mode), Description: strings.TrimSpace(sc.Description), Hogs: hogRows(f, sc)}
	for _, s := range f.Steps {
		if s.Scenario == sc.Name {
			v.Rows = append(v.Rows, stepRow(f, s))
		}
	}
	for _, sk := range f.Skipped {
		line := fmt.Sprintf("%s %s: %s", sk.Impl, sk.Step, sk.Why)
		if sk.Impl == "" && sk.Scenario == sc.Name {
			v.NotHere = sk.Why
			continue
		}
		if sk.Scenario == sc.Name && !slices.Contains(v.Skipped, line) {
			v.Skipped = append(v.Skipped, line)
		}
	}
	v.Charts = charts(f, sc, m)
	v.Faults = faultRows(f, sc)
	return v
}

// stepRow is one implementation × step of a scenario's table.
func stepRow(f *results.File, s results.StepResult) Row {
	sm := s.Summary
	row := Row{
		Impl: s.Impl, Step: s.Step,
		Throughput: units.Count(sm.Throughput.Center) + "/s",
		Range:      throughputRange(sm.Throughput),
		P50:        units.Micros(sm.P50.Center), P99: units.Micros(sm.P99.Center),
		P999:        units.Micros(median(s.Trials, func(t lab.Trial) float64 { return float64(t.Latency.P999) })),
		LinesPerCPU: units.Count(sm.LinesPerCPU.Center), Cores: fmt.Sprintf("%.2f", sm.ServerCores.Center),
		Memory: units.Bytes(sm.Memory.Center), Threads: fmt.Sprintf("%.0f", sm.Threads.Center),
	}
	if sm.MemPerConn.N > 0 {
		row.Memory += " (" + units.Bytes(sm.MemPerConn.Center) + "/conn)"
	}
	if sm.Jain.N > 0 {
		row.Fairness = fmt.Sprintf("%.2f (%.2f)", sm.Jain.Center, sm.Slowest.Center)
	}
	if sm.Voluntary.N > 0 {
		row.Sched = fmt.Sprintf("%s + %s switches, %.1f µs waited, %.0f%% kernel", perLineText(sm.Voluntary.Center), perLineText(sm.Involuntary.Center), sm.WaitedUS.Center, 100*sm.Kernel.Center)
	}
	if fl := floorStep(f, s.Scenario, s.Step); fl != nil && fl.Summary.LinesPerCPU.Center > 0 && sm.LinesPerCPU.Center > 0 {
		row.OfFloor = fmt.Sprintf("%.0f%%", 100*sm.LinesPerCPU.Center/fl.Summary.LinesPerCPU.Center)
	}
	if sm.Headroom.N > 0 {
		row.Headroom = fmt.Sprintf("%.1f×", sm.Headroom.Center)
	}
	if sm.Canary.N > 0 {
		row.Canary = fmt.Sprintf("%.0f%%", 100*sm.Canary.Center)
	}
	if sm.DriverBound || sm.UpstreamBound {
		what := "driver-bound"
		if sm.UpstreamBound {
			what = "upstream-bound"
			if sm.DriverBound {
				what = "driver- and upstream-bound"
			}
		}
		n, why := 0, ""
		for _, t := range s.Trials {
			if t.DriverBound || t.UpstreamBound {
				n++
				if why == "" && len(t.BoundBy) > 0 {
					why = t.BoundBy[0]
				}
			}
		}
		flag := fmt.Sprintf("%s in %d of %d trials", what, n, len(s.Trials))
		if why != "" {
			flag += ": " + why
		}
		row.Flags = append(row.Flags, flag)
	}
	var late, inflight int64
	for _, t := range s.Trials {
		late += t.Late
		inflight += t.InFlight
	}
	if n := sm.Throughput.N; s.Def.Loop == lab.Open && n > 0 && analysis.Backlog(float64(inflight)/float64(n), float64(s.Def.Rate)) {
		row.Flags = append(row.Flags, fmt.Sprintf("backlog: %s lines in flight at the window's end", units.Count(float64(inflight)/float64(n))))
	}
	if s.Def.Fault.Timed() {
		if sm.Recovery.N > 0 {
			row.Flags = append(row.Flags, "back within "+millis(sm.Recovery.Center)+" of the fault's end (its table below)")
		}
	} else if sm.Errors > 0 {
		row.Flags = append(row.Flags, fmt.Sprintf("%d errors", sm.Errors))
	}
	if sm.Ideal > 0 {
		row.Flags = append(row.Flags, fmt.Sprintf("%.0f%% of ideal %s/s", 100*sm.Throughput.Center/sm.Ideal, units.Count(sm.Ideal)))
	}
	for _, w := range sm.Warnings {
		if w.Code == lab.WarnNoisy {
			row.Flags = append(row.Flags, WarningText(w))
		}
	}
	return row
}

// floorStep is the floor server's result at a step, if it ran.
func floorStep(f *results.File, scen, step string) *results.StepResult {
	for _, impl := range f.Implementations {
		if impl.Role == lab.RoleFloor {
			if st := find(f, impl.Name, scen, step); st != nil {
				return st
			}
		}
	}
	return nil
}

func median(ts []lab.Trial, f func(lab.Trial) float64) float64 {
	var v []float64
	for _, t := range ts {
		v = append(v, f(t))
	}
	return analysis.StatOf(v).Center
}

func conformanceMatrix(f *results.File) ConformanceMatrix {
	var cm ConformanceMatrix
	for _, c := range f.Conformance {
		for _, r := range c.Results {
			if !slices.Contains(cm.Cases, r.Case) {
				cm.Cases = append(cm.Cases, r.Case)
			}
		}
	}
	for _, impl := range f.Implementations {
		row := ConformanceRow{Impl: impl.Name}
		for _, name := range cm.Cases {
			cell := Cell{State: "none"}
			var details []string
			for _, c := range f.Conformance {
				if c.Impl != impl.Name {
					continue
				}
				for _, r := range c.Results {
					if r.Case != name {
						continue
					}
					switch {
					case r.Skipped:
						if cell.State == "none" {
							cell.State = "skip"
						}
					case r.Passed:
						if cell.State != "fail" {
							cell.State = "pass"
						}
					default:
						cell.State = "fail"
						details = append(details, c.Target+": "+r.Detail)
					}
				}
			}
			cell.Detail = strings.Join(details, "\n")
			row.Cells = append(row.Cells, cell)
		}
		cm.Rows = append(cm.Rows, row)
	}
	return cm
}

// throughputRange is a step's answers per second over its trials: one
// trial has none.
func throughputRange(s lab.Stat) string {
	if s.N < 2 {
		return "one trial"
	}
	return units.Count(s.Lo) + "–" + units.Count(s.Hi)
}

// schedWords is a step's scheduler counters in a few words, for a figure
// of CPU per line; "" without them.
func schedWords(sm lab.Summary) string {
	if sm.Voluntary.N == 0 {
		return ""
	}
	return fmt.Sprintf("%s switches a line (%s preempted), %.0f%% of its CPU in the kernel", perLineText(sm.Voluntary.Center+sm.Involuntary.Center), perLineText(sm.Involuntary.Center), 100*sm.Kernel.Center)
}

// perLineText writes a count per line to two significant figures, without
// an exponent: "2.1", "0.0017", "<0.0001".
func perLineText(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.0001:
		return "<0.0001"
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
