package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/linelab/linelab/lab/plan"
)

// LockFile marks a run folder whose run is going, or whose lab process
// died before it could end the run; a run that ends removes it. The
// process writing the folder holds an flock on it for its whole life: the
// kernel drops that lock with the process, however it ends, so a lock
// that nobody holds is the mark of a lab process that died.
const LockFile = "lab.lock"

// Lock is who is writing a run folder.
type Lock struct {
	RunID   string    `json:"run_id"`
	PID     int       `json:"pid"`
	Owner   string    `json:"owner"` // host/pid/start, as on the run's containers
	Started time.Time `json:"started"`
}

// HeldError is the refusal of a run folder that another lab process is
// writing.
type HeldError struct {
	Dir  string
	Lock Lock // as that process wrote it (empty if it had not yet)
}

func (e *HeldError) Error() string {
	if e.Lock.PID == 0 {
		return fmt.Sprintf("%s is being written by another lab process", e.Dir)
	}
	return fmt.Sprintf("%s is being written by run %s (lab process %d, since %s)", e.Dir, e.Lock.RunID, e.Lock.PID, e.Lock.Started.Format(time.RFC3339))
}

// Held is a run folder's lock, held by this process until Release.
type Held struct {
	f    *os.File
	path string
}

// Acquire takes dir's lock for l's process, or fails at once with a
// *HeldError when another process holds it. stale is the lock a process
// that died left behind (ok false when there was none): its run did not
// end.
func Acquire(dir string, l Lock) (h *Held, stale Lock, ok bool, err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, Lock{}, false, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		held, _, _ := ReadLock(dir)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, Lock{}, false, &HeldError{Dir: dir, Lock: held}
		}
		return nil, Lock{}, false, fmt.Errorf("lock %s: %w", dir, err)
	}
	if b, _ := io.ReadAll(io.LimitReader(f, 1<<16)); len(b) > 0 {
		ok = json.Unmarshal(b, &stale) == nil
	}
	b, err := json.Marshal(l)
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, Lock{}, false, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Held{f: f, path: path}, stale, ok, nil
}

// Release removes the lock file, the mark of a run that ended, then lets
// the lock go.
func (h *Held) Release() error {
	err := os.Remove(h.path)
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abandon lets the lock go but leaves its file: the mark of a run that did
// not end (its results could not be written, say).
func (h *Held) Abandon() error { return h.f.Close() }

// ReadLock reads dir's lock; ok is false when there is none.
func ReadLock(dir string) (l Lock, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if errors.Is(err, os.ErrNotExist) {
		return Lock{}, false, nil
	}
	if err != nil {
		return Lock{}, false, err
	}
	if len(b) == 0 {
		return Lock{}, true, nil // being written this instant
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return Lock{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, LockFile), err)
	}
	return l, true, nil
}

// Going says whether a live process holds dir's lock (its run is being
// written now); a lock file that nobody holds was left by one that died.
func Going(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); {
	case err == nil:
		return false, nil // closing the file lets it go
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, nil
	default:
		return false, fmt.Errorf("%s: %w", filepath.Join(dir, LockFile), err)
	}
}

// MarkInterrupted records in dir's run.json why its run stopped, unless
// it already says.
func MarkInterrupted(dir, why string) error {
	var f File
	path := filepath.Join(dir, RunFile)
	if err := readJSON(path, &f); err != nil {
		return err
	}
	if f.Interrupted != "" {
		return nil
	}
	f.Interrupted = why
	return writeJSON(path, f)
}

// Missing is a step of the plan with fewer trials than the profile asks,
// in a run that stopped early.
type Missing struct {
	Impl, Scenario, Step string
	Have, Want           int // trials run or skipped, and planned
}

// Missing lists the steps of an interrupted run that lack trials: the
// plan's trials of every step, for every implementation that stayed in
// the run, less those run, skipped or ended by a failure. A run that ended
// has none.
func (f *File) Missing() []Missing {
	if f.Interrupted == "" {
		return nil
	}
	type key struct{ impl, scen, step string }
	have := map[key]int{}
	for _, s := range f.Steps {
		have[key{s.Impl, s.Scenario, s.Step}] += len(s.Trials)
	}
	notHere := map[string]bool{} // scenarios this machine could not run
	for _, sk := range f.Skipped {
		if sk.Impl == "" {
			notHere[sk.Scenario] = true
		}
		have[key{sk.Impl, sk.Scenario, sk.Step}]++
	}
	ended := map[key]bool{}
	out := map[string]bool{}
	for _, x := range f.Failures {
		if x.LeftOut {
			out[x.Impl] = true
		}
		ended[key{x.Impl, x.Scenario, x.Step}] = true
	}
	// The plan, made again from what the run recorded, says how many
	// trials each step wants.
	p := plan.Make(plan.Input{Profile: f.Profile, Impls: f.Implementations, Scenarios: f.Scenarios, Seed: f.Seed})
	seen := map[key]bool{}
	var miss []Missing
	for _, t := range p.Base() {
		k := key{t.Impl, t.Scenario, t.Step}
		if seen[k] || notHere[k.scen] || out[k.impl] || ended[k] {
			continue
		}
		seen[k] = true
		if n, want := have[k], p.Want(k.impl, k.scen, k.step); n < want {
			miss = append(miss, Missing{Impl: k.impl, Scenario: k.scen, Step: k.step, Have: n, Want: want})
		}
	}
	return miss
}
