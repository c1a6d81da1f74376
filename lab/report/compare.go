package report

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"

	"github.com/linelab/linelab/lab/results"
)

// Delta is one implementation × step present in both runs.
type Delta struct {
	Impl, Scenario, Step string
	A, B                 string // throughput medians with range
	Change               string // "+12.0%"
	P99A, P99B           string
	Class                string // delta-up, delta-down, delta-same
	Note                 string // why a change is or is not beyond the noise
}

// CompareModel is the comparison page.
type CompareModel struct {
	A, B   string // run ids
	EnvA   []KV
	EnvB   []KV
	Deltas []Delta
	Only   []string // steps in one run only
}

// BuildCompare lines two runs up step by step. A change is flagged only
// when the two runs' trial ranges do not overlap: with three trials each,
// anything else is within the noise.
func BuildCompare(a, b *results.File) *CompareModel {
	m := &CompareModel{A: a.RunID, B: b.RunID, EnvA: environment(a), EnvB: environment(b)}
	seen := map[string]bool{}
	for _, sa := range a.Steps {
		key := sa.Impl + "/" + sa.Scenario + "/" + sa.Step
		seen[key] = true
		sb := find(b, sa.Impl, sa.Scenario, sa.Step)
		if sb == nil {
			m.Only = append(m.Only, key+" (only in "+a.RunID+")")
			continue
		}
		ta, tb := sa.Summary.Throughput, sb.Summary.Throughput
		d := Delta{Impl: sa.Impl, Scenario: sa.Scenario, Step: sa.Step,
			A:    fmt.Sprintf("%s [%s–%s]", results.Count(ta.Center), results.Count(ta.Lo), results.Count(ta.Hi)),
			B:    fmt.Sprintf("%s [%s–%s]", results.Count(tb.Center), results.Count(tb.Lo), results.Count(tb.Hi)),
			P99A: results.Micros(sa.Summary.P99.Center), P99B: results.Micros(sb.Summary.P99.Center),
			Class: "delta-same", Change: "~", Note: "within the noise: the trial ranges overlap"}
		if ta.Center > 0 {
			change := (tb.Center - ta.Center) / ta.Center * 100
			d.Change = fmt.Sprintf("%+.1f%%", change)
			if tb.Lo > ta.Hi || tb.Hi < ta.Lo {
				d.Note = "beyond the noise: the trial ranges do not overlap"
				d.Class = "delta-up"
				if change < 0 {
					d.Class = "delta-down"
				}
			} else {
				d.Change = "~ (" + d.Change + ")"
			}
			if math.IsInf(change, 0) || math.IsNaN(change) {
				d.Change = "—"
			}
		}
		if sa.Summary.DriverBound || sb.Summary.DriverBound {
			d.Note += "; driver-bound in at least one run"
		}
		m.Deltas = append(m.Deltas, d)
	}
	for _, sb := range b.Steps {
		if key := sb.Impl + "/" + sb.Scenario + "/" + sb.Step; !seen[key] {
			m.Only = append(m.Only, key+" (only in "+b.RunID+")")
		}
	}
	return m
}

var comparePage = template.Must(template.New("compare").Funcs(funcs).Parse(compareHTML))

// WriteCompare writes the comparison of runs a and b to path.
func WriteCompare(path string, a, b *results.File) error {
	var buf bytes.Buffer
	if err := comparePage.Execute(&buf, BuildCompare(a, b)); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

const compareHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>linelab: {{.A}} against {{.B}}</title><style>{{css}}</style></head>
<body><main>
<h1>linelab: run {{.A}} against run {{.B}}</h1>
<p class="sub">Throughput medians with the range of their trials. A change is coloured only where the two ranges do not overlap; "~" means no difference beyond the noise.</p>
<table><tr><th>implementation</th><th>scenario</th><th>step</th><th>{{.A}}</th><th>{{.B}}</th><th>change</th><th>p99 {{.A}}</th><th>p99 {{.B}}</th><th>note</th></tr>
{{range .Deltas}}<tr data-impl="{{.Impl}}"><td>{{.Impl}}</td><td>{{.Scenario}}</td><td>{{.Step}}</td><td class="num">{{.A}}</td><td class="num">{{.B}}</td><td class="num {{.Class}}">{{.Change}}</td><td class="num">{{.P99A}}</td><td class="num">{{.P99B}}</td><td class="muted">{{.Note}}</td></tr>
{{end}}</table>
{{if .Only}}<h2>In one run only</h2><ul>{{range .Only}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Environments</h2>
<table><tr><th></th><th>{{.A}}</th><th>{{.B}}</th></tr>
{{range $i, $kv := .EnvA}}<tr><th>{{$kv.Key}}</th><td>{{$kv.Value}}</td><td>{{(index $.EnvB $i).Value}}</td></tr>{{end}}</table>
</main><script>{{js}}</script></body></html>
`
