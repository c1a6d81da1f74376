package scenario

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/linelab/linelab/internal/lineproto"
	"github.com/linelab/linelab/lab"
)

type validator struct {
	file string
	errs []error
}

func (v *validator) add(line int, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// at returns the line of key in mapping m, or of m itself.
func at(m *yaml.Node, key string) int {
	if m == nil {
		return 0
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return m.Line
}

func child(m *yaml.Node, key string) *yaml.Node {
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (v *validator) scenario(s *lab.Scenario, n *yaml.Node) {
	base := strings.TrimSuffix(filepath.Base(v.file), filepath.Ext(v.file))
	switch {
	case s.Name == "":
		v.add(n.Line, "name is missing")
	case s.Name != base:
		v.add(at(n, "name"), "name %q differs from the file name %q", s.Name, base)
	}
	if s.Mode != lab.Echo && s.Mode != lab.Fetch && s.Mode != lab.Work {
		v.add(at(n, "mode"), "mode %q: want echo, fetch or work", s.Mode)
	}
	if s.Upstream != nil {
		if s.Mode != lab.Fetch {
			v.add(at(n, "upstream"), "upstream is set but mode is %s; it applies to fetch mode only", s.Mode)
		}
		v.upstream(*s.Upstream, child(n, "upstream"))
	}
	if s.ServerCores < 0 {
		v.add(at(n, "server_cores"), "server_cores %d: want the fewest cores the servers need, or leave it out", s.ServerCores)
	}
	if len(s.Clients) > 0 && s.Mode != lab.Fetch {
		v.add(at(n, "clients"), "clients is set but mode is %s; it applies to fetch mode only", s.Mode)
	}
	listed := map[string]bool{}
	for _, c := range s.Clients {
		if _, ok := clientNote[c]; !ok {
			v.add(at(n, "clients"), "client %q: want %s or %s", c, lab.Pooled, lab.PerRequest)
		}
		if listed[c] {
			v.add(at(n, "clients"), "client %q is listed twice", c)
		}
		listed[c] = true
	}
	v.profiles(s, n)
	v.headline(s, n)
	for _, c := range s.Claims {
		if !slices.Contains(lab.Claims, c) || c == lab.ClaimBackwards {
			v.add(at(n, "claims"), "claim %q: want threads-grow, held-up, gil or monkey", c)
		}
	}
	steps := child(n, "steps")
	if len(s.Steps) == 0 {
		v.add(at(n, "steps"), "steps: at least one step is needed")
	}
	seen := map[string]bool{}
	hasOpen := false
	for i := range s.Steps {
		st := &s.Steps[i]
		var sn *yaml.Node
		if steps != nil && i < len(steps.Content) {
			sn = steps.Content[i]
		}
		if st.Name == "" {
			v.add(sn.Line, "step %d: name is missing", i+1)
		} else if seen[st.Name] {
			v.add(at(sn, "name"), "step name %q is used twice", st.Name)
		}
		seen[st.Name] = true
		v.step(s, st, sn)
		hasOpen = hasOpen || st.Loop == lab.Open
	}
	if hasOpen && s.LatencyBound <= 0 {
		v.add(at(n, "latency_bound"), "latency_bound must be > 0 when a step has an open loop (it defines the knee)")
	}
	v.charts(s, n)
}

// charts checks that each chart the file names can be drawn from its
// steps; a file that names none gets the CPU chart, which every scenario
// can draw.
func (v *validator) charts(s *lab.Scenario, n *yaml.Node) {
	if len(s.Charts) == 0 {
		s.Charts = []lab.Chart{{Kind: lab.ChartCPU}}
		return
	}
	list := child(n, "charts")
	count := func(ok func(lab.Step) bool) int {
		k := 0
		for _, st := range s.Steps {
			if ok(st) {
				k++
			}
		}
		return k
	}
	seen := map[lab.ChartKind]bool{}
	for i, c := range s.Charts {
		line := at(n, "charts")
		if list != nil && i < len(list.Content) {
			line = list.Content[i].Line
		}
		if seen[c.Kind] {
			v.add(line, "chart %s is named twice", c.Kind)
		}
		seen[c.Kind] = true
		if len(c.Steps) > 0 && c.Kind != lab.ChartSpectrum {
			v.add(line, "chart %s: steps apply to a spectrum only", c.Kind)
		}
		switch c.Kind {
		case lab.ChartSweep:
			if count(func(st lab.Step) bool { return st.Loop == lab.Closed }) < 2 {
				v.add(line, "chart sweep needs two closed steps or more to draw a line through")
			}
		case lab.ChartLadder:
			if count(func(st lab.Step) bool { return st.Loop == lab.Open }) < 2 {
				v.add(line, "chart ladder needs two open steps or more")
			}
		case lab.ChartIdle:
			if count(func(st lab.Step) bool { return st.Loop == lab.Idle }) == 0 {
				v.add(line, "chart idle needs an idle step")
			}
		case lab.ChartFaults:
			if count(func(st lab.Step) bool { return st.Fault.Timed() }) == 0 {
				v.add(line, "chart faults needs a step with a crash or an upstream-flap fault")
			}
		case lab.ChartSpectrum:
			if len(c.Steps) == 0 {
				v.add(line, "chart spectrum: name its steps (steps: [...])")
			}
			for _, name := range c.Steps {
				if !slices.ContainsFunc(s.Steps, func(st lab.Step) bool { return st.Name == name }) {
					v.add(line, "chart spectrum: no step named %q", name)
				}
			}
		case lab.ChartCPU:
		default:
			v.add(line, "chart %q: want one of %v", c.Kind, lab.ChartKinds)
		}
	}
}

// profiles checks the scenario's profiles: quick and standard required,
// and trials enough for a median with an interval.
func (v *validator) profiles(s *lab.Scenario, n *yaml.Node) {
	profiles := child(n, "profiles")
	for _, p := range []lab.Profile{lab.Quick, lab.Standard} {
		spec, ok := s.Profiles[p]
		if !ok {
			v.add(at(n, "profiles"), "profile %s is missing", p)
			continue
		}
		pn := child(profiles, string(p))
		if spec.Duration <= 0 {
			v.add(at(pn, "duration"), "%s: duration must be > 0", p)
		}
		if spec.Warmup < 0 {
			v.add(at(pn, "warmup"), "%s: warmup must not be negative", p)
		}
		// The quick profile is a smoke test of the lab, whose report says
		// its figures are not for comparing: one trial shows a step runs.
		least, leastSide := 3, 2
		if p == lab.Quick {
			least, leastSide = 1, 1
		}
		if spec.Trials < least {
			v.add(at(pn, "trials"), "%s: trials must be at least %d, for a median with an interval", p, least)
		}
		if spec.MaxTrials != 0 && (spec.MaxTrials < spec.Trials || spec.MaxTrials > maxTrials) {
			v.add(at(pn, "max_trials"), "%s: max_trials must be between trials (%d) and %d", p, spec.Trials, maxTrials)
		}
		if spec.SideTrials != 0 && (spec.SideTrials < leastSide || spec.SideTrials > spec.Trials) {
			v.add(at(pn, "side_trials"), "%s: side_trials must be between %d and trials (%d)", p, leastSide, spec.Trials)
		}
	}
	if spec, ok := s.Profiles[lab.Thorough]; ok {
		if spec.MaxTrials != 0 && spec.MaxTrials < spec.Trials || spec.MaxTrials > maxTrials || spec.SideTrials != 0 && spec.SideTrials < 2 {
			v.add(child(profiles, string(lab.Thorough)).Line, "thorough: max_trials must be between trials and %d, side_trials at least 2", maxTrials)
		}
		pn := child(profiles, string(lab.Thorough))
		if spec.Duration <= 0 || spec.Warmup < 0 || spec.Trials < 3 {
			v.add(pn.Line, "thorough: duration must be > 0, warmup not negative, trials at least 3")
		}
	} else if std, ok := s.Profiles[lab.Standard]; ok {
		s.Profiles[lab.Thorough] = lab.ThoroughDefault(std)
	}
	for p := range s.Profiles {
		if !slices.Contains(lab.Profiles, p) {
			v.add(at(profiles, string(p)), "unknown profile %q: want quick, standard or thorough", p)
		}
	}
}

// headline checks what the scenario says it is for: a figure of the
// registry, a step that gives it, and a sentence why.
func (v *validator) headline(s *lab.Scenario, n *yaml.Node) {
	if h := s.Headline; h != nil {
		hn := child(n, "headline")
		if !h.Figure.Info().Headline {
			var names []string
			for _, f := range lab.HeadlineFigures() {
				names = append(names, string(f))
			}
			v.add(at(hn, "figure"), "headline figure %q: want one of %s", h.Figure, strings.Join(names, ", "))
		}
		switch {
		case h.Figure.Info().Reading == lab.Ladder && s.LatencyBound <= 0:
			v.add(at(hn, "figure"), "a knee headline needs latency_bound")
		case h.Figure.Info().Reading != lab.Ladder && !slices.ContainsFunc(s.Steps, func(st lab.Step) bool { return st.Name == h.Step }):
			v.add(at(hn, "step"), "headline step %q is not a step of this scenario", h.Step)
		case h.Figure == lab.FigBlastRadius && !slices.ContainsFunc(s.Steps, func(st lab.Step) bool { return st.Name == h.Step && st.Hog != nil }):
			v.add(at(hn, "figure"), "a blast_radius headline needs its step to have a hog; step %q has none", h.Step)
		case h.Figure == lab.FigBlastRadius && (s.Steps[0].Name == h.Step || s.Steps[0].Hog != nil):
			v.add(at(hn, "figure"), "a blast_radius headline is measured against the first step, which must run without the hog")
		case h.Figure == lab.FigRecovery && !slices.ContainsFunc(s.Steps, func(st lab.Step) bool { return st.Name == h.Step && st.Fault.Timed() }):
			v.add(at(hn, "figure"), "a recovery headline needs a step with a crash or upstream-flap fault; step %q has none", h.Step)
		}
		if strings.TrimSpace(h.Why) == "" {
			v.add(hn.Line, "headline: why is missing (one sentence: why this figure decides)")
		}
	} else {
		v.add(n.Line, "headline is missing: name the step and the figure that decide this scenario (see scenarios/README.md)")
	}
}

func (v *validator) step(s *lab.Scenario, st *lab.Step, n *yaml.Node) {
	if s.Mode == lab.Work {
		// The driver numbers a work step's lines by N itself, so N must be
		// a plain number it can move by a few.
		if k, ok := lineproto.ParseWork([]byte(st.Payload)); !ok || strconv.Itoa(k) != st.Payload {
			v.add(at(n, "payload"), "payload %q: work mode needs the number of SHA-256 rounds, 0 to %d, without leading zeros", st.Payload, lineproto.MaxWork)
		}
	}
	if st.Payload == "" {
		st.Payload = DefaultPayload
	}
	if strings.ContainsAny(st.Payload, "\r\n") {
		v.add(at(n, "payload"), "payload must not hold CR or LF")
	}
	switch st.Loop {
	case lab.Closed, lab.Open, lab.Churn, lab.Idle:
	default:
		v.add(at(n, "loop"), "loop %q: want closed, open, churn or idle", st.Loop)
	}
	v.connections(st, n)
	v.loopSettings(st, n)
	if st.Upstream != nil {
		if s.Mode != lab.Fetch {
			v.add(at(n, "upstream"), "upstream is set but mode is %s; it applies to fetch mode only", s.Mode)
		}
		v.upstream(*st.Upstream, child(n, "upstream"))
	}
	if st.Fault != nil {
		v.fault(s, st, child(n, "fault"))
	}
	if h := st.Hog; h != nil {
		hn := child(n, "hog")
		switch {
		case s.Mode != lab.Work || st.Loop != lab.Closed:
			v.add(at(n, "hog"), "hog applies to closed loops in work mode only (its heavy lines are work lines)")
		case h.CPU <= 0 || h.CPU.D() > MaxHogCPU:
			v.add(at(hn, "cpu"), "hog cpu %s: want more than 0 and at most %s of server CPU per heavy line", h.CPU, MaxHogCPU)
		}
	}
}

// connections checks a step's connections and its quick profile's.
func (v *validator) connections(st *lab.Step, n *yaml.Node) {
	conns := []struct {
		n    int
		line int
	}{{st.Connections, at(n, "connections")}}
	if st.Quick != nil {
		conns = append(conns, struct {
			n    int
			line int
		}{st.Quick.Connections, at(child(n, string(lab.Quick)), "connections")})
	}
	for i, c := range conns {
		if i > 0 && c.n == 0 {
			continue // not overridden
		}
		if c.n <= 0 {
			v.add(c.line, "connections must be > 0")
		} else if c.n > MaxConnections {
			v.add(c.line, "connections %d is over %d, which the open-file limit of 20,000 allows", c.n, MaxConnections)
		}
	}
}

// loopSettings checks the settings that belong to the step's loop: depth
// to a closed one, rate to an open one, neither to the others.
func (v *validator) loopSettings(st *lab.Step, n *yaml.Node) {
	switch st.Loop {
	case lab.Closed:
		if st.Depth == 0 {
			st.Depth = 1
		}
		if st.Depth < 0 {
			v.add(at(n, "depth"), "depth must be > 0")
		}
		if st.Rate != 0 {
			v.add(at(n, "rate"), "rate applies to open loops only; a closed loop sends when answers come")
		}
	case lab.Open:
		if st.Rate <= 0 {
			v.add(at(n, "rate"), "rate must be > 0")
		}
		if st.Quick != nil && st.Quick.Rate < 0 {
			v.add(at(child(n, string(lab.Quick)), "rate"), "rate must be > 0")
		}
		if st.Depth != 0 {
			v.add(at(n, "depth"), "depth applies to closed loops only")
		}
	default:
		if st.Depth != 0 || st.Rate != 0 {
			v.add(n.Line, "depth and rate do not apply to a %s loop", st.Loop)
		}
	}
}

// MaxHogCPU bounds a heavy line: past it the step measures one line, not
// a server under load.
const MaxHogCPU = time.Second

// fault checks a step's fault: its kind, that its settings belong to that
// kind, and that a timed fault leaves a before and an after in every
// profile's window.
func (v *validator) fault(s *lab.Scenario, st *lab.Step, n *yaml.Node) {
	f := st.Fault
	switch f.Kind {
	case lab.FaultCrash, lab.FaultUpstreamFlap:
		if st.Loop != lab.Closed {
			v.add(at(n, "kind"), "a %s fault needs a closed loop (the rate over time is what it measures)", f.Kind)
		}
		if f.At <= 0 {
			v.add(at(n, "at"), "at must be > 0: the rate before the fault is what recovery is measured against")
		}
		if f.Loss != 0 || f.Delay != 0 {
			v.add(n.Line, "loss and delay apply to a lossy-link fault only")
		}
		if f.Kind == lab.FaultCrash && f.For != 0 {
			v.add(at(n, "for"), "for does not apply to a crash: the container is started again at once")
		}
		if f.Kind == lab.FaultUpstreamFlap {
			if s.Mode != lab.Fetch {
				v.add(at(n, "kind"), "an upstream-flap fault needs fetch mode; this scenario is %s", s.Mode)
			}
			if f.For <= 0 {
				v.add(at(n, "for"), "for must be > 0: how long the upstream is down")
			}
		}
		for _, p := range lab.Profiles {
			spec, ok := s.Profiles[p]
			if !ok {
				continue
			}
			// A second of the window after the fault, at least, to see the rate come back.
			if end := f.At.D() + f.For.D() + time.Second; end > spec.Duration.D() {
				v.add(at(n, "at"), "%s: the fault ends at %v, less than 1s before the %v window closes; lengthen the window or move the fault", p, f.At.D()+f.For.D(), spec.Duration.D())
			}
		}
	case lab.FaultLossyLink:
		if f.Loss < 0 || f.Loss >= 1 {
			v.add(at(n, "loss"), "loss %v: want a share from 0 to below 1", f.Loss)
		}
		if f.Delay < 0 {
			v.add(at(n, "delay"), "delay must not be negative")
		}
		if f.Loss == 0 && f.Delay == 0 {
			v.add(n.Line, "a lossy-link fault needs loss or delay")
		}
		if f.At != 0 || f.For != 0 {
			v.add(n.Line, "at and for do not apply to a lossy link: it lasts the whole step")
		}
	default:
		v.add(at(n, "kind"), "fault kind %q: want crash, upstream-flap or lossy-link", f.Kind)
	}
}

func (v *validator) upstream(u lab.UpstreamSettings, n *yaml.Node) {
	for _, d := range []struct {
		key string
		val lab.Duration
	}{{"latency", u.Latency}, {"jitter", u.Jitter}, {"slow_latency", u.SlowLatency}} {
		if d.val < 0 {
			v.add(at(n, d.key), "%s must not be negative", d.key)
		}
	}
	for _, r := range []struct {
		key string
		val float64
	}{{"error_rate", u.ErrorRate}, {"slow_rate", u.SlowRate}} {
		if r.val < 0 || r.val > 1 {
			v.add(at(n, r.key), "%s %v: want 0 to 1", r.key, r.val)
		}
	}
	if u.Jitter > u.Latency {
		v.add(at(n, "jitter"), "jitter %v is over latency %v; delays would be cut at zero", u.Jitter, u.Latency)
	}
}
