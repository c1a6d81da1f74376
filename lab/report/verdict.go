package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
)

func verdict(f *results.File, sc lab.Scenario, m *Model) Verdict {
	h := pickHeadline(sc)
	vb := &verdictOf{f: f, sc: sc, h: h, baseline: m.Baseline}
	vb.v = Verdict{Scenario: sc.Name, Knee: h.ladder(), Figure: h.short()}
	vb.v.Decided = "Decided by " + h.description
	if h.why != "" {
		vb.v.Decided += ": " + h.why
	} else {
		vb.v.Decided += "."
	}
	vb.against()
	if !vb.collect() {
		vb.v.Text = "No implementation finished this scenario."
		if why, no := notHere(f, sc); no {
			vb.v.Text = "Not run on this machine: " + why + "."
		}
		return vb.v
	}
	vb.rank()
	vb.ratios()
	vb.v.Text = vb.lead() + vb.unranked() + vb.references() + "."
	vb.missing(m)
	return vb.v
}

// verdictOf builds one scenario's verdict: its entries ranked, their
// ratios to the baseline, and the sentence that names a leader only from
// figures that could decide.
type verdictOf struct {
	f        *results.File
	sc       lab.Scenario
	h        headline
	v        Verdict
	baseline string
	base     lab.Stat
	hasBase  bool
	es       []entry // every implementation with the figure, ranked
	floor    *entry  // the physical limit: shown, never ranked
	// ranked could decide; undecided could not; contested are the
	// undecided whose figures match or pass the best decided one.
	ranked, undecided []entry
	contested         []string
}

// entry is one implementation's headline figure in a verdict.
type entry struct {
	impl     string
	s        lab.Stat
	st       *results.StepResult
	knee     *lab.Knee
	decisive bool
}

// against picks what the ratios are taken against: the demo's threaded
// server, or, when it failed the headline's step, the first implementation
// that has the figure (and says so).
func (vb *verdictOf) against() {
	f, sc, h := vb.f, vb.sc, vb.h
	vb.base, _, vb.hasBase = figure(f, sc, h, vb.baseline)
	vb.v.Against = vb.baseline
	why, failed := failedAt(f, sc, h, vb.baseline)
	if !failed {
		return
	}
	for _, impl := range f.Implementations {
		if impl.Role == lab.RoleFloor || impl.Name == vb.baseline {
			continue
		}
		if s, _, ok := figure(f, sc, h, impl.Name); ok {
			vb.v.Against, vb.base, vb.hasBase = impl.Name, s, true
			vb.v.Warnings = append(vb.v.Warnings, fmt.Sprintf("%s %s, so the ratios here are against %s", vb.baseline, why, impl.Name))
			return
		}
	}
}

// collect gathers every implementation's figure; false when none has it.
func (vb *verdictOf) collect() bool {
	for _, impl := range vb.f.Implementations {
		s, st, ok := figure(vb.f, vb.sc, vb.h, impl.Name)
		if !ok {
			continue
		}
		if impl.Role == lab.RoleFloor {
			vb.floor = &entry{impl: impl.Name, s: s, st: st}
			continue
		}
		k := kneeOf(vb.f, impl.Name, vb.sc.Name)
		vb.es = append(vb.es, entry{impl.Name, s, st, k, decisive(vb.h, st, k)})
	}
	return len(vb.es) > 0
}

// rank orders the entries (analysis.Rank) and separates the ranked.
func (vb *verdictOf) rank() {
	byName := map[string]entry{}
	var aes []analysis.Entry
	for _, e := range vb.es {
		byName[e.impl] = e
		aes = append(aes, analysis.Entry{Name: e.impl, Figure: spread(e.s), Decisive: e.decisive})
	}
	order, rk, un := analysis.Rank(aes, vb.h.info.HigherIsBetter)
	pick := func(as []analysis.Entry) []entry {
		var out []entry
		for _, a := range as {
			out = append(out, byName[a.Name])
		}
		return out
	}
	vb.es = pick(order)
	vb.ranked, vb.undecided = pick(rk), pick(un)
	var names []string
	for _, e := range vb.ranked {
		names = append(names, e.impl)
	}
	vb.v.Sep = separate(vb.f, vb.sc, vb.h, names)
	if len(rk) > 0 {
		vb.contested = analysis.Contested(rk[0], un, vb.h.info.HigherIsBetter)
	}
}

// ratios fills the verdict's table; warnings are grouped by kind, one
// line each, naming the implementations they touch (the details stay in
// the scenario's table).
func (vb *verdictOf) ratios() {
	var kinds []string
	byKind := map[string][]string{}
	for _, e := range vb.es {
		r := vb.ratio(e)
		if e.st != nil {
			for _, w := range e.st.Summary.Warnings {
				k := warningKind(w)
				if !slices.Contains(kinds, k) {
					kinds = append(kinds, k)
				}
				byKind[k] = append(byKind[k], e.impl)
			}
		}
		vb.v.Ratios = append(vb.v.Ratios, r)
	}
	for _, k := range kinds {
		vb.v.Warnings = append(vb.v.Warnings, k+": "+strings.Join(byKind[k], ", ")+warningHint[k])
	}
}

// ratio is one row of the verdict's table.
func (vb *verdictOf) ratio(e entry) Ratio {
	h, base := vb.h, vb.base
	r := Ratio{Impl: e.impl, Value: format(h, e.s.Center), Ratio: "—"}
	if e.knee != nil {
		r.Value = kneeText(*e.knee)
	}
	if c, lo, hi, ok := analysis.Ratio(spread(e.s), spread(base), h.info.HigherIsBetter); vb.hasBase && ok {
		// Oriented so that > 1 always means "better than the
		// baseline"; its interval combines both ranges.
		r.Ratio = fmt.Sprintf("%.2f× (%.2f–%.2f)", c, lo, hi)
		switch {
		case e.s.N < 2 && base.N < 2:
			r.Ratio = fmt.Sprintf("%.2f× (one trial)", c)
		case analysis.Noisy(spread(e.s)) || analysis.Noisy(spread(base)):
			r.Ratio = fmt.Sprintf("%.2f× (no interval: noisy trials)", c)
		}
		r.Better = lo > 1
	}
	if e.st != nil && h.fig == lab.FigLinesPerCPU {
		r.Why = schedWords(e.st.Summary)
	}
	if e.st != nil {
		r.DriverBound = e.st.Summary.DriverBound
		if !e.st.Def.Fault.Timed() { // a fault step fails lines on purpose: its table counts them
			r.Errors = e.st.Summary.Errors
		}
	}
	if e.knee != nil && e.knee.AtLeast {
		r.DriverBound = true
	}
	return r
}

// valueOf is an entry's figure in words, a knee with its range.
func (vb *verdictOf) valueOf(e entry) string {
	if e.knee != nil {
		return kneeText(*e.knee)
	}
	return format(vb.h, e.s.Center)
}

// lead is the verdict's first clause. A winner is named only from
// figures that could decide (analysis.Rank), and only when none that
// could not did as well.
func (vb *verdictOf) lead() string {
	h, ranked := vb.h, vb.ranked
	switch {
	case len(ranked) == 0 && h.ladder():
		return "The driver could not offer enough load to find any implementation's knee: each sustained every rate it was given, up to what the driver could keep to its schedule"
	case len(ranked) == 0:
		return fmt.Sprintf("No implementation can be ranked by %s here: every one was limited by the driver or the upstream, not by itself", h.description)
	case len(vb.contested) > 0:
		// The best decided figure is matched by one the driver or the
		// upstream bounded: no lead can be named (analysis.Contested).
		what := "whose figures were bound by the driver or the upstream and may be better still"
		if h.ladder() {
			what = "whose knees the driver could not offer enough load to find"
		}
		return fmt.Sprintf("No implementation can be said to lead on %s: the best figure that decides, %s's %s, is matched or passed by %s, %s",
			h.description, ranked[0].impl, vb.valueOf(ranked[0]), strings.Join(vb.contested, ", "), what)
	}
	lead := ranked[0]
	text := fmt.Sprintf("%s leads on %s with %s", lead.impl, h.description, vb.valueOf(lead))
	if len(ranked) > 1 {
		second := ranked[1]
		if second.s.Center > 0 && lead.s.Center > 0 {
			gap := lead.s.Center / second.s.Center
			if !h.info.HigherIsBetter {
				gap = second.s.Center / lead.s.Center
			}
			text += fmt.Sprintf(", %.2f× the next, %s", gap, second.impl)
			if analysis.Overlap(spread(lead.s), spread(second.s)) {
				text += " (their trials overlap: no clear winner)"
			}
		}
	}
	return text
}

// unranked says which implementations could not be ranked, and why: in
// the verdict's Unranked line, and after the lead when some were ranked.
func (vb *verdictOf) unranked() string {
	h, ranked, undecided := vb.h, vb.ranked, vb.undecided
	if n := len(undecided); n > 0 {
		why := "bound by the driver or the upstream"
		if h.ladder() {
			why = "the driver could not offer enough load to find their knees"
		}
		vb.v.Unranked = fmt.Sprintf("%d more not ranked: %s", n, why)
		if len(ranked) == 0 {
			vb.v.Unranked = fmt.Sprintf("none of the %d could be ranked: %s", n, why)
		}
		if n == 1 {
			vb.v.Unranked = fmt.Sprintf("%s not ranked: %s", undecided[0].impl, strings.Replace(why, "their knees", "its knee", 1))
		}
	}
	if len(undecided) <= len(vb.contested) || len(ranked) == 0 {
		return ""
	}
	var names []string
	for _, e := range undecided {
		if !slices.Contains(vb.contested, e.impl) {
			names = append(names, e.impl)
		}
	}
	what := "their figures were bound by the driver or the upstream"
	if h.ladder() {
		what = "the driver could not offer enough load to find their knees"
	}
	verb := "is"
	if len(names) > 1 {
		verb = "are"
	}
	return fmt.Sprintf("; %s %s not ranked: %s", strings.Join(names, ", "), verb, what)
}

// references names the demo's threaded server and the floor beside the
// lead.
func (vb *verdictOf) references() string {
	f, sc, h, ranked := vb.f, vb.sc, vb.h, vb.ranked
	var text string
	if vb.hasBase && (len(ranked) == 0 || ranked[0].impl != vb.baseline) {
		bv := format(h, vb.base.Center)
		if k := kneeOf(f, vb.baseline, sc.Name); h.ladder() && k != nil {
			bv = kneeText(*k)
		}
		text += fmt.Sprintf("; the demo's threaded server: %s", bv)
	}
	if !vb.hasBase {
		text += "; the threaded baseline did not run, so there are no ratios"
	}
	if fl := vb.floor; fl != nil {
		fv := format(h, fl.s.Center)
		if k := kneeOf(f, fl.impl, sc.Name); h.ladder() && k != nil {
			fv = kneeText(*k)
		}
		text += fmt.Sprintf("; the C floor server, the machine's limit and not ranked: %s", fv)
		if len(ranked) > 0 && fl.s.Center > 0 && (h.fig == lab.FigLinesPerCPU || h.fig == lab.FigThroughput) {
			text += fmt.Sprintf(" (%s reaches %.0f%% of it)", ranked[0].impl, 100*ranked[0].s.Center/fl.s.Center)
		}
	}
	return text
}

// missing warns of implementations that left the run or never recovered.
func (vb *verdictOf) missing(m *Model) {
	for _, i := range m.Impls {
		present := slices.ContainsFunc(vb.es, func(e entry) bool { return e.impl == i.Name })
		if i.Failed != "" && !present {
			vb.v.Warnings = append(vb.v.Warnings, i.Name+" is missing: "+i.Failed)
		}
		if st, never := neverBack(vb.f, vb.sc, vb.h, i.Name); never && !present {
			vb.v.Warnings = append(vb.v.Warnings, fmt.Sprintf("%s is not ranked: its rate was not back at %.0f%% of its level before the fault by the window's end in any of its %d trials (its timeline shows where it stayed)", i.Name, 100*analysis.BackShare, len(st.Trials)))
		}
	}
}

// warningKind is the heading a warning is grouped under in a verdict.
func warningKind(w lab.Warning) string {
	switch w.Code {
	case lab.WarnFailed:
		return "failed lines or connections"
	case lab.WarnMissingTrials:
		return "missing trials"
	}
	return string(w.Code)
}

var warningHint = map[string]string{
	"driver-bound":                "; their figure may be the load generator's limit (the reason is in the scenario's table)",
	"upstream-bound":              "; the translator, not the server, may be the limit",
	"noisy":                       fmt.Sprintf("; trials spread more than %.0f%% around the median", 100*analysis.NoisySpread),
	"failed lines or connections": "; the counts by class are in the scenario's table",
	"missing trials":              "; fewer trials than the profile asks for",
	"stalled":                     "; in some trials not one answer came though lines were in flight (the server was still there), and the range holds that zero",
	"not-recovered":               "; in some trials the rate was not back by the window's end, and the recovery time counts only the others",
}

// WarningText is a warning in words, for a reader.
func WarningText(w lab.Warning) string {
	why := ""
	if len(w.Why) > 0 {
		why = " (" + strings.Join(w.Why, "; ") + ")"
	}
	switch w.Code {
	case lab.WarnDriverBound:
		return fmt.Sprintf("driver-bound in %d of %d trials%s: the load generator, not the server, may be the limit", w.Trials, w.Of, why)
	case lab.WarnUpstreamBound:
		return fmt.Sprintf("upstream-bound in %d of %d trials%s: the translator, not the server, may be the limit", w.Trials, w.Of, why)
	case lab.WarnFailed:
		return fmt.Sprintf("%d failed lines or connections over %d trials", w.Count, w.Of)
	case lab.WarnMissingTrials:
		return fmt.Sprintf("only %d of %d trials ran", w.Trials, w.Of)
	case lab.WarnStalled:
		return fmt.Sprintf("stalled in %d of %d trials: lines were in flight and not one answer came, in the window or after it, though the server still answered a probe; the range holds that trial's zero", w.Trials, w.Of)
	case lab.WarnNotRecovered:
		return fmt.Sprintf("not back in %d of %d trials: the rate stayed under %.0f%% of its level before the fault until the window closed; the recovery time counts only the other trials", w.Trials, w.Of, 100*analysis.BackShare)
	case lab.WarnNoisy:
		t := fmt.Sprintf("noisy: trials spread %.0f%% around the median", 100*w.Spread)
		if w.Machine {
			t += fmt.Sprintf("; the machine's canary moved %.0f%% between them: the machine, not the server, is the suspect", 100*w.Canary)
		}
		return t
	}
	return string(w.Code)
}
