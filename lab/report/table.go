package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// WriteTable writes the terminal summary: per scenario, a row per
// implementation and step with medians, intervals and flags.
func WriteTable(w io.Writer, f *results.File) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if f.Profile == lab.Quick {
		fmt.Fprintln(tw, smokeWarning)
	}
	if c := f.Calibration; c != nil && c.DriverUS[lab.CalClosed] > 0 {
		ratio, paced, _ := analysis.OpenOverClosed(c.DriverUS)
		ref := "open ÷ closed"
		if paced {
			ref = fmt.Sprintf("closed paced to it %.1f / %.1f; open ÷ paced", c.DriverUS[lab.CalPaced], c.ServerUS[lab.CalPaced])
		}
		fmt.Fprintf(tw, "driver cost against %s, µs of CPU per line (driver / server): closed %.1f / %.1f, pipelined %.2f / %.2f, open at %s/s %.1f / %.1f; %s %.2f\n",
			c.Against, c.DriverUS[lab.CalClosed], c.ServerUS[lab.CalClosed], c.DriverUS[lab.CalPipelined], c.ServerUS[lab.CalPipelined],
			units.Count(c.OpenRate), c.DriverUS[lab.CalOpen], c.ServerUS[lab.CalOpen], ref, ratio)
	}
	if c := f.Canary; c != nil {
		fmt.Fprintf(tw, "canary: median %s lines/s, range %s–%s over %d trials, %d of them more than %.0f%% off the median\n",
			units.Count(c.Median), units.Count(c.Lo), units.Count(c.Hi), c.N, c.Drifted, 100*analysis.CanaryTolerance)
	}
	for _, sc := range f.Scenarios {
		scenarioTable(tw, f, sc)
	}
	if len(f.Failures) > 0 {
		fmt.Fprintln(tw, "\nfailures")
		for _, x := range f.Failures {
			fmt.Fprintf(tw, "%s\t%s/%s\t%s\n", x.Impl, x.Scenario, x.Step, x.Message)
		}
	}
	for _, c := range f.Conformance {
		if !c.Passed {
			var failed []string
			for _, r := range c.Results {
				if !r.Passed {
					failed = append(failed, r.Case)
				}
			}
			fmt.Fprintf(tw, "conformance failed\t%s (%s)\t%s\n", c.Impl, c.Target, strings.Join(failed, ", "))
		}
	}
	return tw.Flush()
}

// scenarioTable writes a scenario's steps and knees.
func scenarioTable(tw io.Writer, f *results.File, sc lab.Scenario) {
	var rows []results.StepResult
	for _, s := range f.Steps {
		if s.Scenario == sc.Name {
			rows = append(rows, s)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(tw, "\n%s (%s)\n", sc.Name, sc.Mode)
	fmt.Fprintln(tw, "impl\tstep\tthroughput/s [range]\tp50\tp99\tlines/CPU-s\tserver cores\theadroom\tcanary\tmemory\tthreads\tflags")
	for _, s := range rows {
		m := s.Summary
		mem := units.Bytes(m.Memory.Center)
		if m.MemPerConn.N > 0 {
			mem += " (" + units.Bytes(m.MemPerConn.Center) + "/conn)"
		}
		headroom, canary := "", ""
		if m.Headroom.N > 0 {
			headroom = fmt.Sprintf("%.1f×", m.Headroom.Center)
		}
		if m.Canary.N > 0 {
			canary = fmt.Sprintf("%.0f%%", 100*m.Canary.Center)
		}
		rng := fmt.Sprintf(" [%s–%s]", units.Count(m.Throughput.Lo), units.Count(m.Throughput.Hi))
		if m.Throughput.N < 2 {
			rng = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%.0f\t%s\n",
			s.Impl, s.Step, units.Count(m.Throughput.Center), rng,
			units.Micros(m.P50.Center), units.Micros(m.P99.Center), units.Count(m.LinesPerCPU.Center), m.ServerCores.Center,
			headroom, canary, mem, m.Threads.Center, flags(s))
	}
	for _, k := range f.Knees {
		if k.Scenario == sc.Name {
			rate := "none"
			if k.Rate > 0 {
				rate = units.Count(k.Rate) + "/s"
			}
			if k.AtLeast {
				rate = "≥ " + rate
			}
			if k.N > 1 {
				rate += fmt.Sprintf(" [%s–%s]", units.Count(k.Lo), units.Count(k.Hi))
			}
			fmt.Fprintf(tw, "knee\t%s\t%s with p99 ≤ %s (%s)\t\t\t\t\t\t\t\t\t\n", k.Impl, rate, units.Micros(float64(k.BoundUS)), k.Why)
		}
	}
}

func flags(s results.StepResult) string {
	var f []string
	if s.Summary.DriverBound {
		f = append(f, "driver-bound")
	}
	if s.Summary.UpstreamBound {
		f = append(f, "upstream-bound")
	}
	switch {
	case s.Def.Fault.Timed():
		// Failed lines are what a fault step measures: say when the
		// rate came back, and how many lines were lost.
		var lost []float64
		for _, t := range s.Trials {
			lost = append(lost, float64(analysis.LostLines(t.Errors)))
		}
		if s.Summary.Recovery.N > 0 {
			f = append(f, fmt.Sprintf("back within %.0f ms of the fault's end", s.Summary.Recovery.Center))
		}
		f = append(f, fmt.Sprintf("%s lines lost", units.Count(analysis.Median(lost))))
	case s.Summary.Errors > 0:
		f = append(f, fmt.Sprintf("%d errors", s.Summary.Errors))
	}
	for _, w := range s.Summary.Warnings {
		if w.Code == lab.WarnStalled {
			f = append(f, fmt.Sprintf("stalled in %d of %d trials", w.Trials, w.Of))
		}
		if w.Code == lab.WarnNotRecovered {
			f = append(f, fmt.Sprintf("not back in %d of %d trials", w.Trials, w.Of))
		}
	}
	if s.Summary.Ideal > 0 {
		f = append(f, fmt.Sprintf("%.0f%% of ideal", 100*s.Summary.Throughput.Center/s.Summary.Ideal))
	}
	return strings.Join(f, ", ")
}
