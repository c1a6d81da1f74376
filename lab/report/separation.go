package report

import (
	"fmt"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/results"
)

// trialValues is an implementation's headline figure trial by trial: what
// the rank test separates two implementations by.
func trialValues(f *results.File, sc lab.Scenario, h headline, impl string) []float64 {
	switch h.info.Reading {
	case lab.Ladder:
		if k := kneeOf(f, impl, sc.Name); k != nil {
			return k.Trials
		}
		return nil
	case lab.AgainstFirst:
		st, base := find(f, impl, sc.Name, h.step), find(f, impl, sc.Name, sc.Steps[0].Name)
		if st == nil || base == nil {
			return nil
		}
		return analysis.Against(h.fig, st.Trials, base.Trials)
	}
	st := find(f, impl, sc.Name, h.step)
	if st == nil || sc.Headline == nil {
		return nil
	}
	var out []float64
	for _, t := range st.Trials {
		if v, ok := analysis.TrialFigure(sc.Headline.Figure, t); ok {
			out = append(out, v)
		}
	}
	return out
}

// Separation is a headline's ranking as the rank test reads it.
type Separation struct {
	// Chain is the ranked implementations best first, each joined to the
	// one before by ">" when the rank test separates the two (p < Alpha),
	// by "~" when it cannot tell them apart (benchstat's "~"), and by "?"
	// when either has too few trials for the test ever to tell them apart.
	Chain []Link
	// Trials: the fewest and most trials any of them took.
	MinTrials, MaxTrials int
}

// Link is one implementation in a Separation's chain.
type Link struct {
	Impl string
	Sep  string // ">", "~" or "?" to the one before; "" for the first
}

// separate reads a ranking (impls, best first) through the rank test,
// neighbour against neighbour.
func separate(f *results.File, sc lab.Scenario, h headline, impls []string) Separation {
	var s Separation
	var prev []float64
	for i, impl := range impls {
		v := trialValues(f, sc, h, impl)
		l := Link{Impl: impl}
		if i > 0 {
			switch need := analysis.TrialsNeeded(analysis.Alpha); {
			case len(prev) < need || len(v) < need:
				l.Sep = "?"
			case analysis.MannWhitney(prev, v) < analysis.Alpha:
				l.Sep = ">"
			default:
				l.Sep = "~"
			}
		}
		if i == 0 || len(v) < s.MinTrials {
			s.MinTrials = len(v)
		}
		s.MaxTrials = max(s.MaxTrials, len(v))
		s.Chain = append(s.Chain, l)
		prev = v
	}
	return s
}

// Text is the chain in words: "a > b ~ c".
func (s Separation) Text() string {
	var b strings.Builder
	for _, l := range s.Chain {
		if l.Sep != "" {
			b.WriteString(" " + l.Sep + " ")
		}
		b.WriteString(l.Impl)
	}
	return b.String()
}

// Short is the chain's first few links and its last, for one line.
func (s Separation) Short(first int) string {
	if len(s.Chain) <= first+1 {
		return s.Text()
	}
	head := Separation{Chain: s.Chain[:first]}
	return head.Text() + " … " + s.Chain[len(s.Chain)-1].Impl
}

// TrialsText says how many trials the ranking took.
func (s Separation) TrialsText() string {
	switch {
	case s.MaxTrials == 1:
		return "one trial each"
	case s.MinTrials == s.MaxTrials:
		return fmt.Sprintf("%d trials each", s.MaxTrials)
	}
	return fmt.Sprintf("%d–%d trials each", s.MinTrials, s.MaxTrials)
}
