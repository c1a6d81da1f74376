package analysis

import "github.com/linelab/linelab/lab"

// NoisySpread is the spread of a step's trials (range over median) past
// which its figure is called noisy.
const NoisySpread = 0.2

// StepFacts is what the warnings of a step are decided from.
type StepFacts struct {
	Trials, Want         int      // trials that ran, and that the profile asks for
	DriverBound, UpBound int      // trials flagged
	Why                  []string // the first reasons given by flagged trials
	Failed               int64    // failed lines or connections, all trials
	Stalled              int      // trials with lines in flight and no answer at all
	Lo, Center, Hi       float64  // the step's throughput over trials
	CanaryLo, CanaryHi   float64  // its trials' canaries over the run's median (0 unknown)
	CanaryCenter         float64
	// Fault: the step fails lines on purpose; its failures are what it
	// measures, not a warning.
	Fault        bool
	NotRecovered int // fault trials whose rate was not back by the window's end
}

// StepWarnings applies the rules to one step.
func StepWarnings(s StepFacts) []lab.Warning {
	var out []lab.Warning
	why := s.Why
	if len(why) > 2 {
		why = why[:2]
	}
	if s.DriverBound > 0 {
		out = append(out, lab.Warning{Code: lab.WarnDriverBound, Trials: s.DriverBound, Of: s.Trials, Why: why})
	}
	if s.UpBound > 0 {
		out = append(out, lab.Warning{Code: lab.WarnUpstreamBound, Trials: s.UpBound, Of: s.Trials, Why: why})
	}
	if s.Failed > 0 && !s.Fault {
		out = append(out, lab.Warning{Code: lab.WarnFailed, Count: s.Failed, Of: s.Trials})
	}
	if s.NotRecovered > 0 {
		out = append(out, lab.Warning{Code: lab.WarnNotRecovered, Trials: s.NotRecovered, Of: s.Trials})
	}
	if s.Stalled > 0 {
		out = append(out, lab.Warning{Code: lab.WarnStalled, Trials: s.Stalled, Of: s.Trials})
	}
	if s.Trials < s.Want {
		out = append(out, lab.Warning{Code: lab.WarnMissingTrials, Trials: s.Trials, Of: s.Want})
	}
	if Noisy(Spread{Center: s.Center, Lo: s.Lo, Hi: s.Hi}) {
		w := lab.Warning{Code: lab.WarnNoisy, Spread: (s.Hi - s.Lo) / s.Center}
		if s.CanaryCenter > 0 && (s.CanaryHi-s.CanaryLo)/s.CanaryCenter > CanaryNoise {
			w.Machine, w.Canary = true, (s.CanaryHi-s.CanaryLo)/s.CanaryCenter
		}
		out = append(out, w)
	}
	return out
}

// Stalled says whether a trial of a loaded step saw lines in flight and
// not one answer, in its window or after (an idle step's lines are not
// load, and a churn step counts connections).
func Stalled(loop lab.Loop, t lab.Trial) bool {
	return (loop == lab.Closed || loop == lab.Open) && t.Lines == 0 && t.Late == 0 && t.InFlight > 0
}

// Has reports whether ws holds a warning of code c.
func Has(ws []lab.Warning, c lab.WarningCode) bool {
	for _, w := range ws {
		if w.Code == c {
			return true
		}
	}
	return false
}

// Noisy reports whether trials spread more than NoisySpread around their
// median. A ratio's interval taken from such a range says more about one
// stray trial than about the two figures (one stall gave "0.09–1.05").
func Noisy(s Spread) bool {
	return s.Center > 0 && (s.Hi-s.Lo)/s.Center > NoisySpread
}
