package report

import (
	"fmt"
	"html"

	"github.com/linelab/linelab/lab/units"
)

// esc escapes text set into an SVG or HTML fragment built by hand.
func esc(s string) string { return html.EscapeString(s) }

// The axes' tick formats.

func fmtCount(v float64) string { return units.Count(v) }

func fmtMicros(v float64) string { return units.Micros(v) }

func fmtBytes(v float64) string { return units.Bytes(v) }

func fmtCores(v float64) string { return fmt.Sprintf("%.2f", v) }
