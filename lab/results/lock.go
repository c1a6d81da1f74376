package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/linelab/linelab/lab"
)

// LockFile marks a run folder whose run is going, or whose lab process
// died before it could end the run; a run that ends removes it.
const LockFile = "lab.lock"

// Lock is who is writing a run folder.
type Lock struct {
	RunID   string    `json:"run_id"`
	PID     int       `json:"pid"`
	Owner   string    `json:"owner"` // host/pid/start, as on the run's containers
	Started time.Time `json:"started"`
}

// WriteLock writes dir's lock.
func WriteLock(dir string, l Lock) error {
	return writeJSON(filepath.Join(dir, LockFile), l)
}

// ReadLock reads dir's lock; ok is false when there is none.
func ReadLock(dir string) (l Lock, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if errors.Is(err, os.ErrNotExist) {
		return Lock{}, false, nil
	}
	if err != nil {
		return Lock{}, false, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return Lock{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, LockFile), err)
	}
	return l, true, nil
}

// RemoveLock removes dir's lock.
func RemoveLock(dir string) error {
	if err := os.Remove(filepath.Join(dir, LockFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
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
	var miss []Missing
	for _, sc := range f.Scenarios {
		if notHere[sc.Name] {
			continue
		}
		want := sc.Profiles[f.Profile].Trials
		for _, impl := range f.Implementations {
			if out[impl.Name] || (impl.Role == lab.RoleFloor && sc.Mode != "echo") {
				continue
			}
			for _, st := range sc.Steps {
				k := key{impl.Name, sc.Name, st.Name}
				if n := have[k]; n < want && !ended[k] {
					miss = append(miss, Missing{Impl: impl.Name, Scenario: sc.Name, Step: st.Name, Have: n, Want: want})
				}
			}
		}
	}
	return miss
}
