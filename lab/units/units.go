// Package units writes the lab's numbers as a person reads them: counts
// (12.3k), latencies from µs (1.25ms), sizes (12.0 KiB) and core sets
// ("cores 2-3"). The terminal table, the report and the progress lines all
// write through it, so the same figure reads the same everywhere.
package units

import (
	"cmp"
	"fmt"
	"strings"
)

// Count prints 12345 as 12.3k.
func Count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// Micros prints a latency in µs with a fitting unit.
func Micros(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// Cores names a cpuset in words: "core 1", "cores 3-6"; other words
// ("unpinned (one core)") as they are.
func Cores(set string) string {
	switch {
	case set == "" || strings.ContainsAny(set, " ("):
		return cmp.Or(set, "unknown cores")
	case strings.ContainsAny(set, ",-"):
		return "cores " + set
	}
	return "core " + set
}

// Bytes prints a size in KiB or MiB.
func Bytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
