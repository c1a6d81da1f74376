package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
)

// ReleaseView is the release-over-release view of a run that ran the
// reference servers on more than one Debian release: for each server and
// scenario, the headline figure on each release and its change from the
// release before. Empty when the run had one release.
type ReleaseView struct {
	Releases []string // oldest first
	Rows     []ReleaseRow
	Same     []string // servers whose image is the same on every release (the Go servers)
}

// ReleaseRow is one server in one scenario across releases.
type ReleaseRow struct {
	Service  string
	Scenario string
	Figure   string
	Cells    []ReleaseCell // in Releases order
}

// ReleaseCell is one release's figure and its change from the previous
// release that has one.
type ReleaseCell struct {
	Value   string // the figure with its range over trials, or why there is none
	Change  string // "1.18× (1.05–1.31)", oriented so that above 1 is better; "" for the first
	Verdict string // "better", "worse", "within the noise", "no change (under 2%)", or why it cannot say
	Style   template.CSS
}

func buildReleases(f *results.File) ReleaseView {
	var v ReleaseView
	services := map[string]map[string]string{} // service → release → entry name
	var names []string
	for _, impl := range f.Implementations {
		if impl.Release == "" || impl.Name == impl.Service() {
			if impl.Release == "" && impl.Role != lab.RoleFloor {
				v.Same = append(v.Same, impl.Name)
			}
			continue
		}
		s := impl.Service()
		if services[s] == nil {
			services[s] = map[string]string{}
			names = append(names, s)
		}
		services[s][impl.Release] = impl.Name
		if !slices.Contains(v.Releases, impl.Release) {
			v.Releases = append(v.Releases, impl.Release)
		}
	}
	if len(v.Releases) < 2 {
		return ReleaseView{}
	}
	slices.SortFunc(v.Releases, func(a, b string) int {
		return slices.Index(lab.Releases, a) - slices.Index(lab.Releases, b)
	})
	for _, sc := range f.Scenarios {
		h := pickHeadline(sc)
		for _, s := range names {
			row := ReleaseRow{Service: s, Scenario: sc.Name, Figure: h.description}
			var prev *lab.Stat
			var prevStep *results.StepResult
			var prevKnee *lab.Knee
			var any bool
			for _, rel := range v.Releases {
				name, ok := services[s][rel]
				if !ok {
					row.Cells = append(row.Cells, ReleaseCell{Value: "not in this run"})
					continue
				}
				st, step, ok := figure(f, sc, h, name)
				k := kneeOf(f, name, sc.Name)
				if !ok || (st.Center <= 0 && k == nil) {
					row.Cells = append(row.Cells, ReleaseCell{Value: "no figure"})
					continue
				}
				any = true
				c := ReleaseCell{Value: format(h, st.Center) + rangeText(h, st)}
				if k != nil {
					c.Value = kneeText(*k)
				}
				if prev != nil {
					c.Change, c.Verdict, c.Style = releaseChange(h, *prev, st, [2]*results.StepResult{prevStep, step}, [2]*lab.Knee{prevKnee, k}, f.Profile == lab.Quick)
				}
				cur := st
				prev, prevStep, prevKnee = &cur, step, k
				row.Cells = append(row.Cells, c)
			}
			if any {
				v.Rows = append(v.Rows, row)
			}
		}
	}
	return v
}

// releaseChange says how a figure moved from one release to the next, and
// whether the trials can tell.
func releaseChange(h headline, older, newer lab.Stat, steps [2]*results.StepResult, knees [2]*lab.Knee, smoke bool) (string, string, template.CSS) {
	r, lo, hi, beyond, ok := analysis.ReleaseChange(spread(older), spread(newer), h.info.HigherIsBetter)
	if !ok {
		return "—", "no ratio: a figure is zero", ""
	}
	for i, st := range steps {
		if mark := matrixMark(h, st, knees[i], smoke); mark != "" {
			// No interval: one built from ranges that cannot decide
			// (a noisy trial, a driver-bound knee) reads like "0.91–281.62".
			return fmt.Sprintf("%.2f×", r), "cannot say: " + mark, ""
		}
	}
	change := fmt.Sprintf("%.2f× (%.2f–%.2f)", r, lo, hi)
	switch {
	case !beyond && math.Abs(r-1) < analysis.MinChange:
		return change, fmt.Sprintf("no change (under %.0f%%)", 100*analysis.MinChange), ""
	case !beyond:
		return change, "within the noise", ""
	case r > 1:
		return change, "better", "background: hsl(120, 60%, 88%)"
	default:
		return change, "worse", "background: hsl(0, 60%, 88%)"
	}
}
