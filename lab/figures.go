package lab

import (
	"slices"
	"strings"
)

// The figures. A scenario's headline names one of the first group; the
// second group are figures that explain a headline, never rank by it.
const (
	FigThroughput  Figure = "throughput"           // answers (connections, for churn) per second
	FigLinesPerCPU Figure = "lines_per_cpu_second" // answers per second of the server's CPU
	FigP50         Figure = "p50"                  // median latency
	FigP99         Figure = "p99"                  // 99th percentile latency
	FigMemPerConn  Figure = "mem_per_connection"   // idle: working set per connection
	FigKnee        Figure = "knee"                 // open loops: highest rate with p99 under the bound
	FigSlowdown    Figure = "slowdown"             // p90 of the step over p90 of the first step
	FigRecovery    Figure = "recovery"             // fault steps: from the fault's end to the rate back
	// FigBlastRadius: how much the light lines' p99 grows, in µs, per ms
	// of CPU one heavy line costs (a hog step against the first step).
	FigBlastRadius Figure = "blast_radius"

	// FigConnsPerCPU is lines_per_cpu_second read from a churn step,
	// where each answer is a connection.
	FigConnsPerCPU Figure = "connections_per_cpu_second"
	FigSwitches    Figure = "switches_per_line" // the server's context switches per answer
	FigWaited      Figure = "waited_per_line"   // µs its tasks waited to run, per answer
	FigKernel      Figure = "kernel_share"      // the kernel's share of its CPU
	FigJain        Figure = "jain"              // Jain's index over a closed loop's connections
	FigHogShare    Figure = "hog_cpu_share"     // a hog step: the heavy lines' share of the CPU
)

// Unit is how a figure's values are written; the report has the words.
type Unit string

const (
	UnitPerSecond      Unit = "per second"  // answers per second
	UnitLinesPerCPU    Unit = "lines/CPU-s" // answers per server CPU-second
	UnitConnsPerCPU    Unit = "connections/CPU-s"
	UnitMicros         Unit = "µs" // a latency
	UnitBytesPerConn   Unit = "bytes/connection"
	UnitMillis         Unit = "ms"          // a duration
	UnitTimes          Unit = "×"           // a ratio of two readings
	UnitMicrosPerMilli Unit = "µs per ms"   // µs of one thing per ms of another
	UnitPerLine        Unit = "per line"    // a count per answer
	UnitMicrosPerLine  Unit = "µs per line" // a time per answer
	UnitShare          Unit = "share"       // 0 to 1
)

// Reading says what a figure is read from besides its own step's trials.
type Reading int

const (
	// OneStep: each trial of its step gives the figure on its own.
	OneStep Reading = iota
	// AgainstFirst: each trial of its step against the same trial of the
	// scenario's first step, which therefore decides too.
	AgainstFirst
	// Ladder: every rung of an open-loop ladder gives one figure a trial.
	Ladder
)

// FigureInfo is what the lab knows about a figure: the scenario loader,
// the plan, analysis (which figures may decide), the report and lab
// compare all read it here and nowhere else.
type FigureInfo struct {
	Figure Figure
	// Name is the figure in a reader's words, "%s" standing for its step
	// where it has one; Short is the same in a few words for the first
	// screen.
	Name, Short    string
	Unit           Unit
	HigherIsBetter bool
	Reading        Reading
	// Steady: how hard the driver or the upstream could push does not
	// move it (a cost per line, memory, a time against the step's own
	// rate), so a step they bounded may still rank by it.
	Steady bool
	// Headline: a scenario file may rank by it.
	Headline bool
}

var figures = []FigureInfo{
	{Figure: FigThroughput, Name: "answers per second at %s", Short: "answers per second at %s", Unit: UnitPerSecond, HigherIsBetter: true, Headline: true},
	{Figure: FigLinesPerCPU, Name: "lines per server CPU-second at %s", Short: "lines per CPU-second at %s", Unit: UnitLinesPerCPU, HigherIsBetter: true, Steady: true, Headline: true},
	{Figure: FigP50, Name: "the median round trip at %s", Short: "p50 at %s", Unit: UnitMicros, Headline: true},
	{Figure: FigP99, Name: "the 99th percentile round trip at %s", Short: "p99 at %s", Unit: UnitMicros, Headline: true},
	{Figure: FigMemPerConn, Name: "memory per idle connection", Short: "memory per connection", Unit: UnitBytesPerConn, Steady: true, Headline: true},
	{Figure: FigKnee, Name: "the highest rate with p99 under the bound", Short: "knee", Unit: UnitPerSecond, HigherIsBetter: true, Reading: Ladder, Headline: true},
	{Figure: FigSlowdown, Name: "how much p90 grows at %s", Short: "p90 growth at %s", Unit: UnitTimes, Reading: AgainstFirst, Headline: true},
	{Figure: FigRecovery, Name: "recovery after the fault of %s", Short: "recovery", Unit: UnitMillis, Steady: true, Headline: true},
	{Figure: FigBlastRadius, Name: "how much the light lines' p99 grows per ms of one heavy line's CPU at %s", Short: "blast radius at %s", Unit: UnitMicrosPerMilli, Reading: AgainstFirst, Steady: true, Headline: true},

	{Figure: FigConnsPerCPU, Name: "connections per server CPU-second at %s", Short: "connections per CPU-second at %s", Unit: UnitConnsPerCPU, HigherIsBetter: true, Steady: true},
	{Figure: FigSwitches, Name: "context switches per line", Short: "switches per line", Unit: UnitPerLine, Steady: true},
	{Figure: FigWaited, Name: "time waiting to run per line", Short: "run-queue wait", Unit: UnitMicrosPerLine, Steady: true},
	{Figure: FigKernel, Name: "the kernel's share of the server's CPU", Short: "kernel share", Unit: UnitShare, Steady: true},
	{Figure: FigJain, Name: "Jain's fairness index over the connections", Short: "fairness", Unit: UnitShare, HigherIsBetter: true},
	{Figure: FigHogShare, Name: "the heavy lines' share of the server's CPU", Short: "hog's CPU share", Unit: UnitShare},
}

// Info is what the lab knows about f; the zero FigureInfo (Figure "")
// for a name it does not know.
func (f Figure) Info() FigureInfo {
	if i := slices.IndexFunc(figures, func(x FigureInfo) bool { return x.Figure == f }); i >= 0 {
		return figures[i]
	}
	return FigureInfo{}
}

// Known reports whether f is a figure of the registry.
func (f Figure) Known() bool { return f.Info().Figure != "" }

// HeadlineFigures lists the figures a scenario file may rank by, in the
// registry's order.
func HeadlineFigures() []Figure {
	var out []Figure
	for _, x := range figures {
		if x.Headline {
			out = append(out, x.Figure)
		}
	}
	return out
}

// At is the figure's Name with its step filled in.
func (i FigureInfo) At(step string) string { return fill(i.Name, step) }

// Label is the figure's Short without its step, for a place that names
// the step already.
func (i FigureInfo) Label() string { return strings.TrimSuffix(i.Short, " at %s") }

// ShortAt is the figure's Short with its step filled in.
func (i FigureInfo) ShortAt(step string) string { return fill(i.Short, step) }

func fill(s, step string) string { return strings.Replace(s, "%s", step, 1) }
