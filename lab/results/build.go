package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/linelab/linelab/lab"
)

// Files of a run folder.
const (
	RunFile     = "run.json"
	TrialsFile  = "trials.jsonl"
	ResultsFile = "results.json"
)

// Writer streams a run to its folder.
type Writer struct {
	dir string
	mu  sync.Mutex
	run File
	f   *os.File
}

// Create makes dir and writes run.json from meta (no steps yet).
func Create(dir string, meta File) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	meta.Schema = Schema
	w := &Writer{dir: dir, run: meta}
	if err := writeJSON(filepath.Join(dir, RunFile), meta); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, TrialsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	w.f = f
	return w, nil
}

// Open reopens a run folder to add trials to it (lab run --resume):
// run.json as it is, trials.jsonl appended after its last whole line. A
// torn last line, from a run killed mid-write, is cut off first, so the
// next trial starts a line of its own.
func Open(dir string) (*Writer, error) {
	meta, err := Meta(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, TrialsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 < len(b) {
		if err := os.Truncate(path, int64(i+1)); err != nil {
			return nil, fmt.Errorf("cut the torn last line of %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{dir: dir, run: *meta, f: f}, nil
}

// Dir is the run folder.
func (w *Writer) Dir() string { return w.dir }

// Update changes the run's metadata (conformance, calibration, failures)
// and rewrites run.json.
func (w *Writer) Update(f func(*File)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.run)
	return writeJSON(filepath.Join(w.dir, RunFile), w.run)
}

// Add appends one trial to trials.jsonl and syncs it: a trial reported
// done is on disk, whatever stops the machine next.
func (w *Writer) Add(t lab.Trial) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return w.f.Sync()
}

// Close closes trials.jsonl and writes results.json from what is on disk.
func (w *Writer) Close() (*File, error) {
	w.mu.Lock()
	err := w.f.Close()
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return Rebuild(w.dir)
}

// Rebuild reads run.json and trials.jsonl of dir, summarises, and writes
// results.json.
func Rebuild(dir string) (*File, error) {
	var f File
	if err := readJSON(filepath.Join(dir, RunFile), &f); err != nil {
		return nil, err
	}
	f.Schema = Schema // results.json is this version's, whatever wrote run.json
	tf, err := os.Open(filepath.Join(dir, TrialsFile))
	if err != nil {
		return nil, err
	}
	defer tf.Close()
	var trials []lab.Trial
	type key struct {
		impl, scenario, step string
		trial                int
	}
	seen := map[key]int{} // line of each trial's first copy
	sc := bufio.NewScanner(tf)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var t lab.Trial
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			// A run killed mid-write leaves a torn last line; say so, keep the rest.
			f.Warnings = append(f.Warnings, fmt.Sprintf("%s:%d: unreadable trial dropped: %v", TrialsFile, n, err))
			continue
		}
		// One copy per trial: the first measured stands.
		k := key{t.Impl, t.Scenario, t.Step, t.Trial}
		if first, dup := seen[k]; dup {
			f.Warnings = append(f.Warnings, fmt.Sprintf("%s:%d: trial %d of %s %s %s again (first at line %d): the copy dropped", TrialsFile, n, t.Trial, t.Impl, t.Scenario, t.Step, first))
			continue
		}
		seen[k] = n
		trials = append(trials, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", TrialsFile, err)
	}
	Summarize(&f, trials)
	if err := writeJSON(filepath.Join(dir, ResultsFile), f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Meta reads run.json of dir, without touching anything in it.
func Meta(dir string) (*File, error) {
	var f File
	if err := readJSON(filepath.Join(dir, RunFile), &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Load reads results.json of dir.
func Load(dir string) (*File, error) {
	var f File
	if err := readJSON(filepath.Join(dir, ResultsFile), &f); err != nil {
		return nil, err
	}
	if !slices.Contains(readable, f.Schema) {
		return nil, fmt.Errorf("%s: schema %q, this lab reads %s", filepath.Join(dir, ResultsFile), f.Schema, strings.Join(readable, " and "))
	}
	return &f, nil
}

// writeJSON replaces path with v as indented JSON so that a crash at any
// moment, power cut included, leaves either the old file or the new one:
// a synced temporary file renamed over it, then the folder synced so the
// rename itself is on disk.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the entries of dir (a file created or renamed there)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
