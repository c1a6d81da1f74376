package analysis

// Code names what may be wrong with a step's figure. The words for a
// reader are the report's business; a Code and its counts are what travel
// in results.json.
type Code string

const (
	// DriverBound: in some trials the driver (its core, its schedule or its
	// calibrated ceiling) may have been the limit, not the server.
	DriverBound Code = "driver-bound"
	// UpstreamBound: in some fetch trials the upstream translator took so
	// much of the shared core that it may have been the limit.
	UpstreamBound Code = "upstream-bound"
	// Failed: lines or connections failed or went unanswered.
	Failed Code = "failed"
	// MissingTrials: fewer trials ran than the profile asks for.
	MissingTrials Code = "missing-trials"
	// Noisy: the trials spread more than NoisySpread around their median.
	Noisy Code = "noisy"
)

// NoisySpread is the spread of a step's trials (range over median) past
// which its figure is called noisy.
const NoisySpread = 0.2

// Warning is one thing a reader must know about a figure.
type Warning struct {
	Code   Code     `json:"code"`
	Trials int      `json:"trials,omitempty"` // trials it touched (bound), or that ran (missing-trials)
	Of     int      `json:"of,omitempty"`     // trials of the step (bound), or that the profile asks for (missing-trials)
	Count  int64    `json:"count,omitempty"`  // failed: lines or connections
	Spread float64  `json:"spread,omitempty"` // noisy: the trials' range over their median
	Canary float64  `json:"canary_spread,omitempty"`
	Why    []string `json:"why,omitempty"` // bound: what made it so, in words, at most two
	// Machine: the step is noisy and the canary moved more than
	// CanaryNoise between its trials: the machine, not the server, is
	// the suspect.
	Machine bool `json:"machine,omitempty"`
}

// StepFacts is what the warnings of a step are decided from.
type StepFacts struct {
	Trials, Want         int      // trials that ran, and that the profile asks for
	DriverBound, UpBound int      // trials flagged
	Why                  []string // the first reasons given by flagged trials
	Failed               int64    // failed lines or connections, all trials
	Lo, Center, Hi       float64  // the step's throughput over trials
	CanaryLo, CanaryHi   float64  // its trials' canaries over the run's median (0 unknown)
	CanaryCenter         float64
}

// StepWarnings applies the rules to one step.
func StepWarnings(s StepFacts) []Warning {
	var out []Warning
	why := s.Why
	if len(why) > 2 {
		why = why[:2]
	}
	if s.DriverBound > 0 {
		out = append(out, Warning{Code: DriverBound, Trials: s.DriverBound, Of: s.Trials, Why: why})
	}
	if s.UpBound > 0 {
		out = append(out, Warning{Code: UpstreamBound, Trials: s.UpBound, Of: s.Trials, Why: why})
	}
	if s.Failed > 0 {
		out = append(out, Warning{Code: Failed, Count: s.Failed, Of: s.Trials})
	}
	if s.Trials < s.Want {
		out = append(out, Warning{Code: MissingTrials, Trials: s.Trials, Of: s.Want})
	}
	if s.Center > 0 && (s.Hi-s.Lo)/s.Center > NoisySpread {
		w := Warning{Code: Noisy, Spread: (s.Hi - s.Lo) / s.Center}
		if s.CanaryCenter > 0 && (s.CanaryHi-s.CanaryLo)/s.CanaryCenter > CanaryNoise {
			w.Machine, w.Canary = true, (s.CanaryHi-s.CanaryLo)/s.CanaryCenter
		}
		out = append(out, w)
	}
	return out
}

// Has reports whether ws holds a warning of code c.
func Has(ws []Warning, c Code) bool {
	for _, w := range ws {
		if w.Code == c {
			return true
		}
	}
	return false
}
