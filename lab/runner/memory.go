package runner

import (
	"time"

	"github.com/linelab/linelab/lab/analysis"
)

// memory is what the run's trials so far said, kept for the decisions
// later trials wait on: a headline step's extra trials (figures), which
// rungs of an open ladder to skip (rungs, closedRates), and whether the
// machine drifted (the canaries). A resumed run rebuilds it from the
// trials it finds (preload).
type memory struct {
	// figures: a headline step's figure in each trial so far, by
	// implementation (scenario/step → impl → values).
	figures     map[string]map[string][]float64
	closedRates map[[2]string][]float64         // impl, scenario/step → echo closed-loop trial rates
	rungs       map[[2]string][][]analysis.Rung // impl, scenario → each trial's ladder so far
	canaries    []float64                       // every canary so far, for the running median
	lastCanary  struct {
		v  float64
		at time.Time
	}
	repeats map[string]int // per scenario/step: trials run again because the canary moved
}

func newMemory() memory {
	return memory{
		figures: map[string]map[string][]float64{}, closedRates: map[[2]string][]float64{},
		rungs: map[[2]string][][]analysis.Rung{}, repeats: map[string]int{},
	}
}

// addRung adds g to the ladder of trial (counted from 1) for key (impl,
// scenario).
func (m *memory) addRung(key [2]string, trial int, g analysis.Rung) {
	for len(m.rungs[key]) < trial {
		m.rungs[key] = append(m.rungs[key], nil)
	}
	m.rungs[key][trial-1] = append(m.rungs[key][trial-1], g)
}
