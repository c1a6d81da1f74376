// Package report renders a run's results.json as one self-contained HTML page.
package report

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/linelab/linelab/lab/results"
)

// File is the report's name inside a run folder.
const File = "report.html"

// WriteFiles writes the report and the text summary into dir.
func WriteFiles(dir string, f *results.File, repo string) error {
	out, err := os.Create(filepath.Join(dir, "summary.txt"))
	if err != nil {
		return err
	}
	defer out.Close()
	return results.WriteTable(out, f)
}

// WriteCompare writes the comparison of two runs to path.
func WriteCompare(path string, a, b *results.File) error {
	return errors.New("compare: not built yet")
}
