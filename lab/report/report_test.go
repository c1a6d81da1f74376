package report

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestModelGolden pins the page's data model for a fixed run.
func TestModelGolden(t *testing.T) {
	m := Build(fixture())
	for i := range m.Scenarios {
		for j := range m.Scenarios[i].Charts {
			// The SVG is checked by TestRender and the browser; the golden
			// file keeps to the figures.
			m.Scenarios[i].Charts[j].SVG = ""
		}
	}
	got, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "model.golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lab/report -update to create it)", err)
	}
	if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
		t.Errorf("model differs from %s; if the change is intended, run go test ./lab/report -update and review the diff", path)
	}
}

func TestVerdict(t *testing.T) {
	m := Build(fixture())
	v := m.Verdicts[0]
	if !strings.HasPrefix(v.Text, "go-eventloop leads on lines per second at c100") {
		t.Errorf("verdict %q", v.Text)
	}
	if len(v.Ratios) != 3 || v.Ratios[0].Impl != "go-eventloop" || !strings.HasPrefix(v.Ratios[0].Ratio, "4.00×") || !v.Ratios[0].DriverBound {
		t.Errorf("ratios %+v", v.Ratios)
	}
	idle := m.Verdicts[2]
	if !strings.Contains(idle.Text, "go-eventloop leads on memory per idle connection") || !strings.Contains(strings.Join(idle.Warnings, " "), "threads is missing") {
		t.Errorf("idle verdict %q %v", idle.Text, idle.Warnings)
	}
}

func TestRenderEscapesAndEmbeds(t *testing.T) {
	b, err := Render(fixture())
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, bad := range []string{"<script>alert(1)", `"<oops>"`, "'<b>&'", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q: unescaped text or a network reference", bad)
		}
	}
	for _, good := range []string{"&lt;script&gt;alert(1)", "&lt;oops&gt;", `<span class="k">def</span>`, "<svg", "<style>"} {
		if !strings.Contains(page, good) {
			t.Errorf("page lacks %q", good)
		}
	}
}

func TestCompare(t *testing.T) {
	a, b := fixture(), fixture()
	b.RunID = "20261127-120000"
	for i := range b.Steps {
		if b.Steps[i].Impl == "node" {
			s := &b.Steps[i].Summary.Throughput
			s.Center, s.Lo, s.Hi = s.Center*2, s.Lo*2, s.Hi*2
		}
	}
	m := BuildCompare(a, b)
	var up, same int
	for _, d := range m.Deltas {
		switch {
		case d.Impl == "node" && d.Class == "delta-up":
			up++
		case d.Impl != "node" && d.Class == "delta-same":
			same++
		default:
			t.Errorf("%s %s/%s: class %s, change %s", d.Impl, d.Scenario, d.Step, d.Class, d.Change)
		}
	}
	if up == 0 || same == 0 {
		t.Fatalf("up %d, same %d", up, same)
	}
	if err := WriteCompare(filepath.Join(t.TempDir(), "c.html"), a, b); err != nil {
		t.Fatal(err)
	}
}
