package results

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
)

// TestHelperHoldLock is not a test: TestLockHeldByAnotherProcess runs the
// test binary as a lab process that takes a folder's lock and waits.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("LINELAB_HOLD_LOCK")
	if dir == "" {
		t.Skip("a helper process of TestLockHeldByAnotherProcess")
	}
	if _, _, _, err := Acquire(dir, Lock{RunID: "holder", PID: os.Getpid(), Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("held\n")
	time.Sleep(time.Minute)
}

// TestLockHeldByAnotherProcess: while a process holds a folder's lock,
// another is refused at once with its name and Going says so; once it is
// killed (SIGKILL: no chance to clean up) the kernel has let the lock go,
// and the next Acquire gets it and learns that a run did not end.
func TestLockHeldByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	holder.Env = append(os.Environ(), "LINELAB_HOLD_LOCK="+dir)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("the holder said %q (%v)", line, err)
	}

	_, _, _, err = Acquire(dir, Lock{RunID: "second", PID: os.Getpid()})
	var held *HeldError
	if !errors.As(err, &held) || held.Lock.PID != holder.Process.Pid {
		t.Fatalf("Acquire while another process holds the lock: %v; want a HeldError naming pid %d", err, holder.Process.Pid)
	}
	if !strings.Contains(err.Error(), "run holder") {
		t.Errorf("refusal %q does not name the run", err)
	}
	if going, err := Going(dir); err != nil || !going {
		t.Errorf("Going = %v, %v; want true while the holder lives", going, err)
	}

	holder.Process.Kill()
	holder.Wait()
	if going, err := Going(dir); err != nil || going {
		t.Errorf("Going = %v, %v; want false once the holder is dead", going, err)
	}
	h, stale, ok, err := Acquire(dir, Lock{RunID: "third", PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if !ok || stale.RunID != "holder" {
		t.Errorf("stale lock = %+v, %v; want the dead holder's", stale, ok)
	}
	// In one process too, a second claim is refused while the first holds.
	if _, _, _, err := Acquire(dir, Lock{RunID: "fourth"}); !errors.As(err, &held) {
		t.Errorf("a second Acquire in the same process: %v; want refused", err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Release left the lock file (%v): the mark of a run that did not end", err)
	}
}

// TestRebuildKeepsOneCopyOfATrial: a trial appended twice (two resumes
// that raced before the lock was the kernel's) counts once, and the
// results say a copy was dropped.
func TestRebuildKeepsOneCopyOfATrial(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, meta())
	if err != nil {
		t.Fatal(err)
	}
	trials := []lab.Trial{trial("a", "r1k", 1, 1000, 500), trial("a", "r1k", 2, 1100, 500), trial("b", "r1k", 1, 900, 800)}
	for _, tr := range append(trials, trials[0]) {
		if err := w.Add(tr); err != nil {
			t.Fatal(err)
		}
	}
	f, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range f.Steps {
		n += len(s.Trials)
	}
	if want := len(trials); n != want {
		t.Errorf("%d trials after a duplicate; want %d", n, want)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "the copy dropped") {
		t.Errorf("warnings = %q; want the dropped copy said", f.Warnings)
	}
}
