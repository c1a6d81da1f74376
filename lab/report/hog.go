package report

import (
	"fmt"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// HogRow is one implementation's heavy connection in a hog step, beside
// what its light connections paid for it.
type HogRow struct {
	Impl, Step string
	Line       string // what one heavy line cost the server, and its N
	Rate       string // heavy answers per second
	Share      string // the heavy lines' share of the server's CPU
	HeavyP50   string // one heavy line's round trip
	LightP99   string // the light lines' p99 without the hog → with it
	Blast      string // µs of light p99 per ms of a heavy line, with its range
	Fairness   string // Jain's index over the light connections, with the hog
}

// hogRows is the heavy-connection table of a scenario with hog steps,
// against its first step; nil without one.
func hogRows(f *results.File, sc lab.Scenario) []HogRow {
	var out []HogRow
	for _, s := range f.Steps {
		if s.Scenario != sc.Name || s.Def.Hog == nil || len(sc.Steps) == 0 {
			continue
		}
		sm := s.Summary
		row := HogRow{Impl: s.Impl, Step: s.Step, Share: "—", Rate: "—", HeavyP50: "—", Blast: "—", LightP99: "—", Line: "—"}
		if sm.HogLineMS.N > 0 {
			row.Line = fmt.Sprintf("%s (N %s)", millis(sm.HogLineMS.Center), units.Count(median(s.Trials, func(t lab.Trial) float64 { return float64(hogOf(t).Rounds) })))
			row.Share = fmt.Sprintf("%.0f%%", 100*sm.HogShare.Center)
			row.Rate = fmt.Sprintf("%.1f/s", median(s.Trials, func(t lab.Trial) float64 { return float64(hogOf(t).Lines) / max(t.Seconds, 1e-9) }))
			row.HeavyP50 = units.Micros(median(s.Trials, func(t lab.Trial) float64 { return float64(hogOf(t).Latency.P50) }))
		}
		if sm.Jain.N > 0 {
			row.Fairness = fmt.Sprintf("%.2f (%.2f)", sm.Jain.Center, sm.Slowest.Center)
		}
		if base := find(f, s.Impl, sc.Name, sc.Steps[0].Name); base != nil {
			row.LightP99 = units.Micros(base.Summary.P99.Center) + " → " + units.Micros(sm.P99.Center)
			if b := analysis.SpreadOf(analysis.Against(lab.FigBlastRadius, s.Trials, base.Trials)); b.N > 0 {
				row.Blast = units.Micros(b.Center) + " per ms"
				if b.N > 1 {
					row.Blast += fmt.Sprintf(" (%s–%s)", units.Micros(b.Lo), units.Micros(b.Hi))
				}
			}
		}
		out = append(out, row)
	}
	return out
}

// hogOf is a trial's heavy connection, or its zero value.
func hogOf(t lab.Trial) lab.HogTrial {
	if t.Hog == nil {
		return lab.HogTrial{}
	}
	return *t.Hog
}
