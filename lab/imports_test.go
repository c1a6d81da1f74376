package lab

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mayImport is the lab's layering (docs/ARCHITECTURE.md), written once:
// which of the project's packages each package may import, the root lab
// always allowed. The pure ones (plan, analysis, units, the report's plot
// and code) import nothing of the project but the root, so any stage may
// call them; nothing but a command imports the runner or the report.
var mayImport = map[string][]string{
	"lab":              {},
	"lab/catalog":      {},
	"lab/scenario":     {"internal/lineproto"},
	"lab/plan":         {},
	"lab/analysis":     {},
	"lab/units":        {},
	"lab/upstream":     {},
	"lab/metrics":      {},
	"lab/driver":       {"internal/lineproto", "lab/upstream"},
	"lab/engine":       {"internal/lineproto", "lab/driver", "lab/metrics"},
	"lab/results":      {"internal/conformance", "lab/plan", "lab/analysis"},
	"lab/runner":       {"internal/conformance", "internal/lineproto", "lab/catalog", "lab/scenario", "lab/plan", "lab/engine", "lab/driver", "lab/metrics", "lab/upstream", "lab/results", "lab/analysis", "lab/units"},
	"lab/report":       {"lab/results", "lab/analysis", "lab/units", "lab/report/plot", "lab/report/code"},
	"lab/report/plot":  {},
	"lab/report/code":  {},
	"lab/cmd/lab":      {"lab/engine", "lab/runner", "lab/results", "lab/report"},
	"lab/cmd/agent":    {"internal/conformance", "lab/driver", "lab/metrics"},
	"lab/cmd/upstream": {"lab/upstream"},
}

// onlyIn are the outside modules that one package alone wraps (STYLE 1).
var onlyIn = map[string][]string{
	"github.com/testcontainers/": {"lab/engine"},
	"github.com/moby/":           {"lab/engine"},
	"github.com/docker/":         {"lab/engine"},
	"gopkg.in/yaml":              {"lab/scenario"},
	"github.com/compose-spec/":   {"lab/catalog"},
	"github.com/chromedp/":       {"lab/report"}, // the browser test
}

// TestImports: no package of lab/ imports what the layering does not
// allow, and each outside dependency stays in the package that wraps it
// (its tests included).
func TestImports(t *testing.T) {
	const module = "github.com/linelab/linelab/"
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		pkg := filepath.ToSlash(filepath.Join("lab", filepath.Dir(path)))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		allowed, known := mayImport[pkg]
		if !known {
			t.Errorf("%s: package %s is not in mayImport; add it with what it may import", path, pkg)
			return nil
		}
		seen[pkg] = true
		test := strings.HasSuffix(path, "_test.go")
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if mod, ok := strings.CutPrefix(p, module); ok {
				// A test may reach further for its fixtures.
				if !test && mod != "lab" && mod != pkg && !slices.Contains(allowed, mod) {
					t.Errorf("%s imports %s; %s may import only %v", path, mod, pkg, allowed)
				}
				continue
			}
			for prefix, owners := range onlyIn {
				if strings.HasPrefix(p, prefix) && !slices.Contains(owners, pkg) {
					t.Errorf("%s imports %s, which only %v may", path, p, owners)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 15 {
		t.Fatalf("read %d packages; the walk did not find lab/", len(seen))
	}
}
