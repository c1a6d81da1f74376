package report

import (
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
	"github.com/linelab/linelab/lab/units"
)

// Matrix is the report's first screen: implementations × scenarios, each
// cell the scenario's headline figure against the scenario's reference.
type Matrix struct {
	Cols []MatrixCol
	Rows []MatrixRow
	// Smoke: the whole run is a smoke test, so no cell decides anything.
	Smoke bool
	// NotHere: the scenarios this machine could not run, with why; they
	// get no column.
	NotHere []string
	// Notes: why the cells marked * cannot decide, one note per reason,
	// naming the cells.
	Notes []string
}

// MatrixCol is one scenario: what its cells show and against whom.
type MatrixCol struct {
	Scenario  string
	Figure    string // the headline figure, in words
	Reference string // the implementation every cell is divided by
	Floor     bool   // the reference is the floor server
}

// MatrixRow is one implementation's cells, in column order.
type MatrixRow struct {
	Impl  string
	Color string
	Cells []MatrixCell
}

// MatrixCell is one implementation's headline figure in one scenario.
type MatrixCell struct {
	Ratio string // "0.83×", oriented so that above 1 is better than the reference
	Value string // the figure, bare: the column names it
	Range string // its range over trials, or how many trials agreed
	Rank  int    // 1 is the best of the scenario; 0: no figure
	Of    int    // entries ranked in the scenario
	Style template.CSS
	Mark  string // why the figure cannot decide, or ""
	Link  string // the evidence: the scenario's section
	Empty string // why there is no figure ("did not run", "left the run", "failed at c100: ...", "missing: ...")
	Short string // Empty in a word or two, for the cell; Empty is its title
}

// buildMatrix ranks each scenario's entries by their headline figure and
// divides each by the reference: the floor server where it ran (the
// machine's limit, so cells read as a share of what is possible), else the
// best entry. The floor is a reference, never a contender, so it is not in
// the rows.
func buildMatrix(f *results.File, m *Model) Matrix {
	mx := Matrix{Smoke: f.Profile == lab.Quick}
	missing := f.Missing()
	var impls []lab.Implementation
	for _, impl := range f.Implementations {
		if impl.Role != lab.RoleFloor {
			impls = append(impls, impl)
			mx.Rows = append(mx.Rows, MatrixRow{Impl: impl.Name, Color: m.color(impl.Name)})
		}
	}
	for _, sc := range f.Scenarios {
		if why, no := notHere(f, sc); no {
			mx.NotHere = append(mx.NotHere, sc.Name+" ("+why+")")
			continue
		}
		mx.column(f, m, sc, impls, missing)
	}
	mx.notes()
	return mx
}

// matrixEntry is one implementation's headline figure in a column.
type matrixEntry struct {
	row  int
	s    lab.Stat
	st   *results.StepResult
	knee *lab.Knee
}

// column adds a scenario's column: every implementation's headline
// figure as a ratio to the reference, ranked, or why there is none.
func (mx *Matrix) column(f *results.File, m *Model, sc lab.Scenario, impls []lab.Implementation, missing []results.Missing) {
	h := pickHeadline(sc)
	col := MatrixCol{Scenario: sc.Name, Figure: h.short()}
	es := matrixEntries(f, sc, h, impls, &col)
	var ref lab.Stat
	if col.Floor {
		ref, _, _ = figure(f, sc, h, col.Reference)
	} else if len(es) > 0 && es[0].s.Center > 0 {
		col.Reference, ref = impls[es[0].row].Name, es[0].s
	}
	for i := range mx.Rows {
		mx.Rows[i].Cells = append(mx.Rows[i].Cells, MatrixCell{Empty: "did not run", Link: "#s-" + sc.Name})
	}
	for i, e := range es {
		c := &mx.Rows[e.row].Cells[len(mx.Cols)]
		c.Empty = ""
		// Ties share a rank: the first entry with the same figure's.
		rank := slices.IndexFunc(es, func(o matrixEntry) bool { return o.s.Center == e.s.Center })
		if rank < 0 || rank > i {
			rank = i
		}
		c.Rank, c.Of = rank+1, len(es)
		c.Value, c.Range = cellValue(h, e.s, e.knee)
		c.Ratio = "—"
		if r, ok := analysis.Relative(e.s.Center, ref.Center, h.info.HigherIsBetter); ok {
			c.Ratio = fmt.Sprintf("%.2f×", r)
		}
		c.Style = rankStyle(rank, len(es))
		c.Mark = matrixMark(h, e.st, e.knee, mx.Smoke)
	}
	for i, impl := range impls {
		if cell := &mx.Rows[i].Cells[len(mx.Cols)]; cell.Empty != "" {
			if failed := m.Impls[slices.IndexFunc(m.Impls, func(x ImplInfo) bool { return x.Name == impl.Name })].Failed; failed != "" {
				cell.Empty = "left the run"
			}
			if st, never := neverBack(f, sc, h, impl.Name); never {
				cell.Empty = fmt.Sprintf("not back in %d of %d trials", st.Summary.NotRecovered, len(st.Trials))
			} else if why, failed := failedAt(f, sc, h, impl.Name); failed {
				cell.Empty = why
			} else if slices.ContainsFunc(missing, func(x results.Missing) bool {
				return x.Impl == impl.Name && x.Scenario == sc.Name && (h.step == "" || h.ladder() || x.Step == h.step)
			}) {
				cell.Empty = "missing: the run stopped first"
			}
		}
	}
	mx.Cols = append(mx.Cols, col)
}

// matrixEntries are the implementations with the headline figure, best
// first (analysis.Rank); the floor becomes the column's reference.
func matrixEntries(f *results.File, sc lab.Scenario, h headline, impls []lab.Implementation, col *MatrixCol) []matrixEntry {
	var es []matrixEntry
	for _, impl := range f.Implementations {
		s, st, ok := figure(f, sc, h, impl.Name)
		k := kneeOf(f, impl.Name, sc.Name)
		if !ok || (s.Center <= 0 && k == nil) {
			continue // a knee of 0 is a finding: below the lowest rate, or not measurable here
		}
		if impl.Role == lab.RoleFloor {
			if s.Center > 0 {
				col.Reference, col.Floor = impl.Name, true
			}
			continue
		}
		es = append(es, matrixEntry{slices.IndexFunc(impls, func(i lab.Implementation) bool { return i.Name == impl.Name }), s, st, k})
	}
	byName := map[string]matrixEntry{}
	var aes []analysis.Entry
	for _, e := range es {
		byName[impls[e.row].Name] = e
		aes = append(aes, analysis.Entry{Name: impls[e.row].Name, Figure: spread(e.s)})
	}
	order, _, _ := analysis.Rank(aes, h.info.HigherIsBetter)
	out := make([]matrixEntry, 0, len(order))
	for _, a := range order {
		out = append(out, byName[a.Name])
	}
	return out
}

// notes fills Notes from the marked cells and each empty cell's Short.
func (mx *Matrix) notes() {
	var reasons []string
	cells, byScenario := map[string][]string{}, map[string][]string{}
	for i := range mx.Rows {
		row := &mx.Rows[i]
		for j := range row.Cells {
			c := &row.Cells[j]
			c.Short, _, _ = strings.Cut(c.Empty, ":")
			if c.Mark == "" {
				continue
			}
			if !slices.Contains(reasons, c.Mark) {
				reasons = append(reasons, c.Mark)
			}
			cells[c.Mark] = append(cells[c.Mark], row.Impl+" in "+mx.Cols[j].Scenario)
			byScenario[c.Mark] = append(byScenario[c.Mark], mx.Cols[j].Scenario)
		}
	}
	for _, r := range reasons {
		switch {
		case mx.Smoke && r == smokeMark:
			mx.Notes = append(mx.Notes, r+": every cell (the quick profile's figures show the lab runs, not which server is better)")
		case len(cells[r]) > manyCells:
			// A list this long is a wall nobody reads: count by
			// scenario; each cell's title names its own reason.
			mx.Notes = append(mx.Notes, fmt.Sprintf("%s: %d cells (%s)", r, len(cells[r]), countEach(byScenario[r])))
		default:
			mx.Notes = append(mx.Notes, r+": "+strings.Join(cells[r], ", "))
		}
	}
}

// manyCells is the most cells a matrix note names one by one.
const manyCells = 8

// countEach says how often each name occurs, in first-seen order:
// "churn 14, echo-sweep 3".
func countEach(names []string) string {
	var order []string
	n := map[string]int{}
	for _, s := range names {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	var out []string
	for _, s := range order {
		out = append(out, fmt.Sprintf("%s %d", s, n[s]))
	}
	return strings.Join(out, ", ")
}

const smokeMark = "smoke test"

// notHere returns why this machine could not run the scenario at all.
func notHere(f *results.File, sc lab.Scenario) (string, bool) {
	for _, sk := range f.Skipped {
		if sk.Impl == "" && sk.Scenario == sc.Name {
			why, _, _ := strings.Cut(sk.Why, ";")
			return why, true
		}
	}
	return "", false
}

// matrixMark says why a cell's figure cannot rank its implementation, or
// "" when it can.
func matrixMark(h headline, st *results.StepResult, k *lab.Knee, smoke bool) string {
	switch {
	case smoke:
		return smokeMark
	case !decisive(h, st, k):
		if h.ladder() {
			return "not measurable here: the driver's limit"
		}
		if st != nil && st.Summary.UpstreamBound {
			return "upstream-bound"
		}
		return "driver-bound"
	case st != nil && stalled(st) != "":
		// Before noisy: a stalled trial's zero is what made the trials spread.
		return stalled(st)
	case st != nil && analysis.Has(st.Summary.Warnings, lab.WarnNoisy):
		return fmt.Sprintf("noisy (trials spread > %.0f%%)", 100*analysis.NoisySpread)
	case st != nil && analysis.Has(st.Summary.Warnings, lab.WarnFailed):
		return fmt.Sprintf("%d errors", st.Summary.Errors)
	}
	return ""
}

// rankStyle colours a cell by its rank: green for the best of a scenario
// through amber to red for the last.
func rankStyle(rank, of int) template.CSS {
	pos := 0.0
	if of > 1 {
		pos = float64(rank) / float64(of-1)
	}
	return template.CSS(fmt.Sprintf("background: hsl(%.0f, 60%%, 88%%)", 120*(1-pos)))
}

// stalled says in how many trials the step stalled, "" if in none.
func stalled(st *results.StepResult) string {
	for _, w := range st.Summary.Warnings {
		if w.Code == lab.WarnStalled {
			return fmt.Sprintf("stalled in %d of %d trials", w.Trials, w.Of)
		}
	}
	return ""
}

// cellValue is a figure as a matrix cell gives it: the bare value (the
// column names the figure) and its range over trials; a knee the driver
// could not reach is "≥".
func cellValue(h headline, s lab.Stat, k *lab.Knee) (value, rng string) {
	lo, hi, n := s.Lo, s.Hi, s.N
	value = bare(h, s.Center)
	if k != nil {
		lo, hi, n = k.Lo, k.Hi, k.N
		switch {
		case k.Rate == 0 && !k.AtLeast: // short: a cell is a column of ~90 px
			value = "below the ladder"
		case k.Rate == 0:
			value = "not measurable"
		default:
			value = units.Count(k.Rate) + "/s"
			if k.AtLeast {
				value = "≥ " + value
			}
		}
	}
	switch {
	case n < 2:
		return value, ""
	case bare(h, lo) == bare(h, hi):
		return value, fmt.Sprintf("all %d trials", n)
	}
	return value, compactRange(bare(h, lo), bare(h, hi))
}

// compactRange writes a range with its unit once ("186–282 ms", not
// "186 ms–282 ms"), so a narrow cell keeps it on one line.
func compactRange(lo, hi string) string {
	cut := func(v string) (num, unit string) {
		i := strings.LastIndexAny(v, "0123456789")
		return v[:i+1], v[i+1:]
	}
	ln, lu := cut(lo)
	if _, hu := cut(hi); lu != "" && lu == hu {
		return ln + "–" + hi
	}
	return lo + "–" + hi
}
