package report

import (
	"fmt"
	"html"
)

// esc escapes text set into an SVG or HTML fragment built by hand.
func esc(s string) string { return html.EscapeString(s) }

// fmtCores is the tick format of an axis of cores busy.
func fmtCores(v float64) string { return fmt.Sprintf("%.2f", v) }
