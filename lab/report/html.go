// Package report renders a run's results.json as one self-contained HTML
// page: a verdict in plain words first, then charts drawn as inline SVG,
// the conformance matrix, each implementation's code, and the environment.
// Everything the page needs is inside it (CSS and a little script are
// embedded with go:embed); it loads nothing, so it opens from disk offline.
// Every text that came from a server or a file goes through html/template
// or html.EscapeString.
package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"

	"github.com/linelab/linelab/lab/report/code"
	"github.com/linelab/linelab/lab/results"
)

// File is the report's name inside a run folder.
const File = "report.html"

//go:embed assets/report.css
var css string

//go:embed assets/report.js
var js string

var funcs = template.FuncMap{
	"highlight": code.Highlight,
	"css":       func() template.CSS { return template.CSS(css) },
	"js":        func() template.JS { return template.JS(js) },
}

var page = template.Must(template.New("page").Funcs(funcs).Parse(pageHTML))

// Render writes the report page of f.
func Render(f *results.File) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, Build(f)); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return b.Bytes(), nil
}

// WriteFiles writes report.html and summary.txt into dir, from f alone.
func WriteFiles(dir string, f *results.File) error {
	b, err := Render(f)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, File), b, 0o644); err != nil {
		return err
	}
	var t bytes.Buffer
	if err := WriteTable(&t, f); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.txt"), t.Bytes(), 0o644)
}

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>{{css}}</style>
</head>
<body>
<main>
<h1>linelab: the "Why gevent" servers, measured</h1>
<p class="sub">Run {{.RunID}} · {{.Profile}} profile · started {{.Started}}. Figures are medians of the trials with their range; every ratio is oriented so that above 1 is better.</p>
<nav><a href="#glance">At a glance</a><a href="#claims">The talk's claims</a>{{if .Releases.Rows}}<a href="#releases">Releases</a>{{end}}<a href="#verdict">Verdict</a><a href="#reading">How to read</a><a href="#scenarios">Scenarios</a><a href="#conformance">Conformance</a><a href="#code">Code</a><a href="#environment">Environment</a></nav>
{{range .Banners}}<div class="banner">{{.}}</div>{{end}}

<h2 id="glance">At a glance</h2>
{{if .Headlines}}<ul class="headlines" id="headlines">{{range .Headlines}}<li data-scenario="{{.Scenario}}"><a href="#s-{{.Scenario}}">{{.Scenario}}</a> <span class="hint">{{.Figure}}{{with .Trials}}, {{.}}{{end}}:</span> {{.Chain}}{{with .Unranked}} <span class="hint">({{.}})</span>{{end}}</li>{{end}}</ul>
<p class="hint">Best first, among the figures that decide. “&gt;”: the rank test separates the two neighbours (p &lt; 0.05); “~”: their trials cannot tell them apart (benchstat's ~); “?”: too few trials for the test to ever tell them apart (it needs {{.TrialsNeeded}} a side).</p>{{end}}
{{if .Claims}}<h2 id="claims">The talk's claims, tested</h2>
<table class="claims" id="claims-table">
<tr><th>claim</th><th>this run's figures</th><th>verdict</th></tr>
{{range .Claims}}<tr data-claim="{{.ID}}" class="claim-{{.Class}}"><td><strong>{{.Claim}}</strong><div class="hint">Test: {{if .Link}}<a href="{{.Link}}">{{.Test}}</a>{{else}}{{.Test}}{{end}}.</div></td><td>{{range .Figures}}<div>{{.}}</div>{{end}}{{with .Today}}<div class="hint">Today: {{.}}</div>{{end}}</td><td class="verdict-{{.Class}}">{{.Verdict}}</td></tr>
{{end}}</table>
<p class="hint">The rules live in lab/analysis (claims.go): a verdict is taken only from figures whose ranges separate; one trial, noisy trials whose ranges overlap, or a rate the driver bounded give "cannot tell".</p>{{end}}
<table class="glance" id="matrix">
<tr><th>implementation</th>{{range .Matrix.Cols}}<th data-scenario="{{.Scenario}}"><a href="#s-{{.Scenario}}">{{.Scenario}}</a><div class="hint">{{.Figure}}{{if .Reference}}, against {{.Reference}}{{end}}</div></th>{{end}}</tr>
{{range .Matrix.Rows}}<tr data-impl="{{.Impl}}"><th><span class="impl-dot" style="background: {{.Color}}"></span>{{.Impl}}</th>{{range .Cells}}<td{{if .Rank}} style="{{.Style}}" data-rank="{{.Rank}}"{{end}}{{if .Mark}} class="undecided" title="{{.Mark}}"{{else if .Empty}} title="{{.Empty}}"{{end}}><a href="{{.Link}}">{{if .Rank}}<strong>{{.Ratio}}</strong>{{if .Mark}}<sup>*</sup>{{end}}<span class="v">{{.Value}}</span>{{if .Range}}<span class="v">{{.Range}}</span>{{end}}{{else}}<span class="muted">{{.Short}}</span>{{end}}</a></td>{{end}}</tr>
{{end}}</table>
<p class="hint">Each cell is a scenario's headline figure (named under the scenario) as a ratio to the reference named there: the C floor server where it ran, the physical limit of this machine, else the best implementation; colour ranks the implementations within the scenario, green the best. Every cell links to its evidence; the verdicts below say it in words.{{if .Matrix.NotHere}} Not run on this machine: {{range $i, $n := .Matrix.NotHere}}{{if $i}}; {{end}}{{$n}}{{end}}.{{end}}</p>
{{if .Matrix.Notes}}<p class="hint">* cannot decide: {{range $i, $n := .Matrix.Notes}}{{if $i}}; {{end}}{{$n}}{{end}}.</p>{{end}}

{{if .Releases.Rows}}
<h2 id="releases">Release over release</h2>
<p class="hint">Each reference server ran on every Debian release below, as its own entry (<code>name@release</code>), its trials interleaved with all the others in this run. A cell is the scenario's headline figure on that release with its range over trials; under it, the change from the release to its left as a ratio with the interval the two ranges allow, oriented so that above 1 is better, and whether it is more than the trials' spread (the ranges do not overlap) and at least 2%: better (green), worse (red), within the noise, or no change (under 2%); a change that cannot be judged (noisy trials, a driver-bound figure, a smoke test) is given without an interval and says why. {{if .Releases.Same}}{{range $i, $n := .Releases.Same}}{{if $i}}, {{end}}{{$n}}{{end}} ran once: built with the repository's Go toolchain FROM scratch, the same image on every release.{{end}}</p>
<div class="glance-wrap"><table class="releases" id="releases-table">
<tr><th>server</th><th>scenario</th>{{range .Releases.Releases}}<th data-release="{{.}}">{{.}}</th>{{end}}</tr>
{{range .Releases.Rows}}<tr data-impl="{{.Service}}" data-scenario="{{.Scenario}}"><th>{{.Service}}</th><td><a href="#s-{{.Scenario}}">{{.Scenario}}</a><div class="hint">{{.Figure}}</div></td>{{range .Cells}}<td{{if .Style}} style="{{.Style}}"{{end}}>{{.Value}}{{if .Change}}<span class="v">{{.Change}}: {{.Verdict}}</span>{{end}}</td>{{end}}</tr>
{{end}}</table></div>
{{end}}

<h2 id="verdict">Verdict</h2>
{{if .Warnings}}<div class="warnings"><strong>Read these first:</strong><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
{{range .Verdicts}}
<div class="verdict" data-scenario="{{.Scenario}}"{{if .Knee}} data-knee="1"{{end}}>
<p><strong>{{.Scenario}}.</strong> {{.Text}}</p>
<p class="hint">{{.Decided}}</p>
{{if gt (len .Sep.Chain) 1}}<p class="hint">The ranking through the rank test, best first ({{.Sep.TrialsText}}; “&gt;” separated at p &lt; 0.05, “~” not, “?” too few trials to tell): {{.Sep.Text}}.</p>{{end}}
{{if .Ratios}}<table><tr><th>implementation</th><th>figure</th><th>against {{.Against}}</th><th>where its CPU went</th><th></th></tr>
{{range .Ratios}}<tr data-impl="{{.Impl}}"><td>{{.Impl}}</td><td class="num">{{.Value}}</td><td class="num{{if .Better}} better{{end}}">{{.Ratio}}</td><td>{{.Why}}</td><td>{{if .DriverBound}}<span class="flag">driver-bound</span>{{end}}{{if .Errors}}<span class="flag err">{{.Errors}} errors</span>{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Warnings}}<ul class="muted">{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
</div>
{{end}}

<h2 id="reading">How to read the numbers</h2>
<ul class="reading">
<li><strong>Trials and ranges.</strong> Every step ran several times, its trials interleaved with every other implementation's in an order shuffled per round, with only the server under test running (the others paused). A figure is the median trial; the range beside it is the lowest and highest trial.</li>
<li><strong>Driver-bound.</strong> The driver, the upstream translator and the lab share one core. A trial is driver-bound when that core was at least 90% busy, when a closed loop left the server's core idle while that core was at least 80% busy (and 15 points busier than the server's: the server waited for lines; in fetch mode only below 90% of the ideal, where the upstream's latency is not what held it), when an open loop's lines left more than 1 ms late, or when a closed loop came within 20% of the driver's calibrated ceiling. Such a figure may describe the lab, not the server; no winner or knee is taken from it. Upstream-bound: the translator took a large part of a saturated core.</li>
<li><strong>Lines per server CPU-second</strong> is what a line costs the server, whatever the driver could offer: with one driver core against one server core, a closed loop costs the driver about what it costs the server, so raw rates of fast servers meet the driver's limit first.</li>
<li><strong>Open loops</strong> send on a fixed schedule whatever the answers do, a burst every tick of at most 250 µs. Latency counts from each line's scheduled time (corrected for coordinated omission); throughput counts answers that arrived in the window. Lines never answered within the grace period are errors ("unanswered"), so a server that falls behind shows it.</li>
<li><strong>The floor.</strong> The floor server is a minimal epoll echo server in C: no model anyone argues for, only the least code a CPU can run. Its lines per server CPU-second is the physical limit of this machine and its kernel; the "of floor" column gives every server's efficiency as a share of it, at the same step. It only echoes, so fetch scenarios run without it.</li>
<li><strong>Canary.</strong> Before every trial the lab measures a short closed loop against a fixed Go server. Its reading against the run's median (the canary column) shows how fast the machine was for those trials; a trial more than 25% off the median so far is run again (at most one in ten of a step's trials), and a step whose trials are noisy says when the canary moved with them.</li>
</ul>

<h2 id="scenarios">Scenarios</h2>
{{range .Scenarios}}
<section id="s-{{.Name}}">
<h3>{{.Name}} <span class="muted">({{.Mode}} mode)</span></h3>
<p>{{.Description}}</p>
{{range .Charts}}<figure class="chart-figure" data-series="{{range $i, $s := .Series}}{{if $i}},{{end}}{{$s}}{{end}}">
<figcaption>{{.Title}} <a class="csv" download="{{.File}}" href="{{.CSV}}">data (CSV)</a></figcaption><p class="hint">{{.Hint}}</p>
{{.SVG}}
</figure>{{end}}
{{if .NotHere}}<p class="warn">Not run on this machine: {{.NotHere}}</p>{{end}}
{{if .Rows}}<div class="wrap"><table>
<tr><th>implementation</th><th>step</th><th>throughput</th><th>range</th><th>p50</th><th>p99</th><th>p99.9</th><th>lines/CPU-s</th><th title="lines per server CPU-second as a share of the C floor server's at the same step: the physical limit on this machine">of floor</th><th>server cores</th><th title="server CPU per line ÷ the driver's: above 1, the driver spends less on a line than the server">driver headroom</th><th title="the machine's canary before these trials, against the run's median">canary</th><th>memory</th><th>threads</th><th title="closed loops: Jain's index over the answers each connection got (1: all alike), and the least-served connection's answers over the mean">fairness (slowest)</th><th title="the server's context switches per answer (voluntary: it blocked; involuntary: it was preempted), the time its tasks waited for a CPU per answer, and the kernel's share of its CPU">scheduler per line</th><th></th></tr>
{{range .Rows}}<tr data-impl="{{.Impl}}"><td>{{.Impl}}</td><td>{{.Step}}</td><td class="num">{{.Throughput}}</td><td class="num">{{.Range}}</td><td class="num">{{.P50}}</td><td class="num">{{.P99}}</td><td class="num">{{.P999}}</td><td class="num">{{.LinesPerCPU}}</td><td class="num">{{.OfFloor}}</td><td class="num">{{.Cores}}</td><td class="num">{{.Headroom}}</td><td class="num">{{.Canary}}</td><td class="num">{{.Memory}}</td><td class="num">{{.Threads}}</td><td class="num">{{.Fairness}}</td><td class="num">{{.Sched}}</td><td>{{range .Flags}}<span class="flag">{{.}}</span>{{end}}</td></tr>
{{end}}</table></div>{{end}}
{{if .Faults}}<div class="wrap"><table class="faults">
<tr><th>implementation</th><th>step</th><th title="from the fault's end (the container running again, the upstream answering again) to the end of the first 100 ms bucket in which the rate was back at 90% of its level before the fault">back within</th><th title="from the fault's start to the first correct answer to a line sent after the fault was over">first answer</th><th title="lines sent and never answered: reset, closed, timed out or unanswered">lines lost</th><th>error lines</th><th title="connects that failed while the server was down">refused connects</th><th title="connections the clients had to open again; the protocol keeps them open through an upstream failure">reconnects</th><th>clients saw</th></tr>
{{range .Faults}}<tr data-impl="{{.Impl}}"><td>{{.Impl}}</td><td>{{.Step}}</td><td class="num">{{.Recovery}}</td><td class="num">{{.FirstAnswer}}</td><td class="num">{{.Lost}}</td><td class="num">{{.ErrorLines}}</td><td class="num">{{.Refused}}</td><td class="num">{{.Reconnects}}</td><td>{{.Seen}}</td></tr>
{{end}}</table></div>
<p class="hint">Medians over the trials. Clients here retry a failed connect every 10 ms, each connect bounded to 200 ms in a crash step.</p>{{end}}
{{if .Hogs}}<div class="wrap"><table class="hogs">
<tr><th>implementation</th><th>step</th><th title="the server's CPU for one heavy line, sized before each trial from its own CPU per SHA-256 round, and the N that took">heavy line</th><th title="heavy answers per second on the one heavy connection">heavy rate</th><th title="the heavy lines' share of the server's CPU in the window: near 100%, the heavy connection had the server to itself; near 0, it was starved">its CPU share</th><th>heavy p50</th><th title="the light lines' p99 in the first step, without the hog, and in this step, with it">light p99</th><th title="how much the light lines' p99 grew per ms of one heavy line's CPU, trial by trial against the same trial without the hog: 1 ms per ms means every light line in the tail waited out a whole heavy line">blast radius</th><th title="Jain's index over the light connections' answers with the hog (the least-served connection's share)">light fairness</th></tr>
{{range .Hogs}}<tr data-impl="{{.Impl}}"><td>{{.Impl}}</td><td>{{.Step}}</td><td class="num">{{.Line}}</td><td class="num">{{.Rate}}</td><td class="num">{{.Share}}</td><td class="num">{{.HeavyP50}}</td><td class="num">{{.LightP99}}</td><td class="num">{{.Blast}}</td><td class="num">{{.Fairness}}</td></tr>
{{end}}</table></div>{{end}}
{{if .Skipped}}<p class="hint">Not run, to spend the time where the answer is:</p><ul class="muted">{{range .Skipped}}<li>{{.}}</li>{{end}}</ul>{{end}}
</section>
{{end}}

<h2 id="conformance">Conformance</h2>
<p class="hint">Each implementation against the protocol's cases before any load: ✓ passed, ✗ failed (open it for the details), · does not apply to the modes that ran. An implementation that fails is left out of the load.</p>
<div class="wrap"><table class="matrix">
<tr><th>implementation</th>{{range .Conformance.Cases}}<th class="case">{{.}}</th>{{end}}</tr>
{{range .Conformance.Rows}}<tr data-impl="{{.Impl}}"><th>{{.Impl}}</th>{{range .Cells}}<td class="{{.State}}">{{if eq .State "pass"}}✓{{else if eq .State "fail"}}<details><summary>✗</summary><pre>{{.Detail}}</pre></details>{{else}}·{{end}}</td>{{end}}</tr>
{{end}}</table></div>

<h2 id="code">Code beside the numbers</h2>
<p class="hint">The handler of each implementation side by side, as the talk showed them, as it was when the run started, with its lines of code (not blank, not only a comment). The talk argued from code like this; the numbers above are what it costs.</p>
<div class="code-grid">
{{range .Impls}}
<section class="code-card" id="code-{{.Name}}" data-impl="{{.Name}}">
<h3><span class="impl-dot" style="background: {{.Color}}"></span>{{.Name}} <span class="muted">{{range .Sources}}{{.Lines}} lines{{end}}</span>{{if .Failed}} <span class="flag err">left the run</span>{{end}}</h3>
<p class="hint">{{.Model}} · {{.Runtime}}{{range .Sources}} · {{.Path}}{{end}}</p>
<p class="hint">{{.Description}}</p>
{{if .Failed}}<p class="flag err">{{.Failed}}</p>{{end}}
{{range .Sources}}<pre class="code lang-{{.Lang}}">{{highlight .Lang .Text}}</pre>{{end}}
</section>
{{end}}
</div>

<h2 id="environment">Environment and reproducibility</h2>
<table>{{range .Env}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}
<tr><th>driver ceiling</th><td>{{.Calibration}}</td></tr>
{{range .DriverCost}}<tr><th>driver cost: {{.Key}}</th><td>{{.Value}}</td></tr>{{end}}
<tr><th>rerun with</th><td><code>{{.Command}}</code></td></tr></table>
<h3>Images</h3>
<div class="wrap"><table><tr><th>implementation</th><th>image</th><th>id</th><th>size</th><th>runtimes</th></tr>
{{range .Images}}<tr><td>{{.Impl}}</td><td>{{.Ref}}</td><td><code>{{.ID}}</code></td><td class="num">{{.Size}}</td><td>{{.Runtimes}}</td></tr>{{end}}</table></div>
<h3>Scenario definitions</h3>
{{range .Definitions}}<details><summary>{{.Name}}</summary><pre>{{.Text}}</pre></details>{{end}}
</main>
<script>{{js}}</script>
</body>
</html>
`
