package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linelab/linelab/lab"
)

// TestTableGolden pins the terminal table of the fixture run, and that a
// smoke test's table opens with the same warning as its page.
func TestTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "table.golden.txt")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lab/report -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("table differs from %s; if the change is intended, run go test ./lab/report -update and review the diff", path)
	}
	quick := fixture()
	quick.Profile = lab.Quick
	b.Reset()
	if err := WriteTable(&b, quick); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); first != smokeWarning {
		t.Errorf("a smoke test's table opens with %q; want the page's warning", first)
	}
}
