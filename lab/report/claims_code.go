package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/analysis"
	"github.com/linelab/linelab/lab/report/code"
	"github.com/linelab/linelab/lab/units"
)

// sources are the texts of an implementation's handler files.
func (d claimData) sources(impl string) (paths, texts []string) {
	for _, s := range d.f.Sources {
		if s.Impl == impl {
			paths, texts = append(paths, s.Path), append(texts, s.Text)
		}
	}
	return paths, texts
}

// shape counts an implementation's handler files (analysis.CountShape).
func (d claimData) shape(impl lab.Implementation) analysis.Shape {
	sh := analysis.Shape{Impl: impl.Name, Callbacks: impl.Flow == lab.Callbacks}
	for _, s := range d.f.Sources {
		if s.Impl != impl.Name {
			continue
		}
		h, dp, n := analysis.CountShape(code.Lang(s.Path), s.Text)
		sh.Handed, sh.Depth, sh.Lines = sh.Handed+h, max(sh.Depth, dp), sh.Lines+n
	}
	return sh
}

func (d claimData) backwards() ClaimView {
	v := ClaimView{ID: string(lab.ClaimBackwards), Link: "#code",
		Claim: "Callbacks read backwards; closures and greenlets read in the order they run.",
		Test:  "the handlers' sources, counted, not read: functions handed to the framework to call later (addCallback and lambdas in Python, arrow functions and function expressions in JavaScript)"}
	var shapes []analysis.Shape
	var cb, inOrder []string
	for _, impl := range d.f.Implementations {
		if impl.Role != lab.RoleServer || impl.Language == "go" {
			continue // the talk's languages; Go is today's answer
		}
		sh := d.shape(impl)
		if sh.Lines == 0 {
			continue
		}
		shapes = append(shapes, sh)
		words := fmt.Sprintf("%s %d", sh.Impl, sh.Handed)
		if sh.Callbacks {
			cb = append(cb, words)
		} else {
			inOrder = append(inOrder, words)
		}
	}
	fd := analysis.Backwards(shapes)
	if len(cb) > 0 {
		v.Figures = append(v.Figures, "functions handed to the framework, callbacks: "+strings.Join(cb, ", "))
	}
	if len(inOrder) > 0 {
		v.Figures = append(v.Figures, "in order: "+strings.Join(inOrder, ", "))
	}
	if g := d.todayGo(); g != "" {
		for _, impl := range d.f.Implementations {
			if impl.Name == g {
				sh := d.shape(impl)
				v.Today = fmt.Sprintf("A goroutine's handler is written in order as threads' is: %s hands over %d functions in %d lines, and Go's scheduler, not the code, decides where it waits.", g, sh.Handed, sh.Lines)
			}
		}
	}
	why := map[analysis.Reason]string{analysis.ReasonMissing: "the run holds no handler in the callbacks style or none in order"}
	if len(fd.What) == 2 {
		why[analysis.ReasonNoMore] = fmt.Sprintf("%s hands over no more functions than %s", fd.What[0], fd.What[1])
	}
	v.Verdict, v.Class = d.verdictWords(fd, why, "")
	if fd.Answer == analysis.Holds {
		v.Verdict = "holds, by the count: every handler in the callbacks style hands more of its work to the framework than any written in order"
	}
	return v
}

// patched is the implementation that runs the threaded server's own
// files on a cooperative scheduler: the monkey-patched threads.
func (d claimData) patched() (string, bool) {
	base, _ := d.sources(d.threads)
	if len(base) == 0 {
		return "", false
	}
	for _, impl := range d.f.Implementations {
		paths, _ := d.sources(impl.Name)
		if impl.Name != d.threads && impl.Scheduling == lab.Cooperative && !slices.ContainsFunc(base, func(p string) bool { return !slices.Contains(paths, p) }) {
			return impl.Name, true
		}
	}
	return "", false
}

func (d claimData) monkey() ClaimView {
	v := ClaimView{ID: string(lab.ClaimMonkey),
		Claim: "Monkey patching turns the threaded code asynchronous with one added line.",
		Test:  "the patched threads against threads: lines added and changed, memory per idle connection, blast radius, CPU per line at the most connections"}
	name, ok := d.patched()
	if !ok {
		fd := analysis.Finding{Answer: analysis.CannotTell, Reason: analysis.ReasonMissing}
		v.Verdict, v.Class = d.verdictWords(fd, map[analysis.Reason]string{analysis.ReasonMissing: "no server of this run runs the threaded server's files patched"}, "")
		return v
	}
	_, from := d.sources(d.threads)
	_, to := d.sources(name)
	p := analysis.Patched{}
	p.Changed, p.Added = analysis.LinesChanged(from, to)
	v.Figures = []string{fmt.Sprintf("%s runs %s files with %d %s of code added in files of its own and %d of %s changed",
		name, possessive(d.threads), p.Added, plural(p.Added, "line", "lines"), p.Changed, possessive(d.threads))}
	if sc, ok := d.scenarioOf(lab.ClaimMonkey, lab.FigMemPerConn); ok {
		v.Link = "#s-" + sc.Name
		p.MemThreads, p.MemPatched, p.MemGreenlets = d.headStat(sc, d.threads), d.headStat(sc, name), d.headStat(sc, talkPeer)
		v.Figures = append(v.Figures, lab.FigMemPerConn.Info().Name+" ("+sc.Name+"): "+d.memText(sc, d.threads, name, talkPeer))
	}
	if sc, ok := d.scenarioOf(lab.ClaimMonkey, lab.FigBlastRadius); ok {
		p.RadiusThreads, p.RadiusPatched = d.headStat(sc, d.threads), d.headStat(sc, name)
		v.Figures = append(v.Figures, lab.FigBlastRadius.Info().Label()+" ("+sc.Name+"): "+d.radiusText(sc, d.threads)+", "+d.radiusText(sc, name))
	}
	if sc, ok := d.scenarioOf(lab.ClaimMonkey, lab.FigLinesPerCPU); ok && len(sc.Steps) > 0 {
		last := sc.Steps[len(sc.Steps)-1].Name
		var parts []string
		for _, impl := range []string{d.threads, name} {
			if st := find(d.f, impl, sc.Name, last); st != nil {
				parts = append(parts, impl+" "+units.Count(st.Summary.LinesPerCPU.Center))
			}
		}
		v.Figures = append(v.Figures, fmt.Sprintf("%s (%s): %s", lab.FigLinesPerCPU.Info().ShortAt(last), sc.Name, strings.Join(parts, ", ")))
	}
	fd := analysis.Monkey(p)
	why := map[analysis.Reason]string{
		analysis.ReasonMissing:  "c10k-idle did not run (lab run --scenario c10k-idle)",
		analysis.ReasonNotAsync: "an idle connection of " + name + " costs about what a thread's does",
		analysis.ReasonChanged:  fmt.Sprintf("%s changed %d lines of the threaded code", name, p.Changed),
	}
	v.Verdict, v.Class = d.verdictWords(fd, why, "while the handler waits: a handler that computes holds up every connection of "+name+", as in any cooperative server, where threads' are not")
	if sc, ok := d.scenarioOf(lab.ClaimMonkey, lab.FigMemPerConn); ok {
		if g := d.todayGo(); g != "" {
			v.Today = "Goroutines give code written as threads' is a cost per idle connection nearer greenlets' without a patch: " + d.memText(sc, g) + "."
		}
	}
	return v
}
