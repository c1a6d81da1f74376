package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/results"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil, {"fly"}, {"run", "--profile", "slow"}, {"run", "extra"}, {"report"}, {"compare", "a"},
	} {
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) || hintFor(err) != "lab help" {
			t.Errorf("lab %v: err = %v, want a usage error with a hint", args, err)
		}
	}
}

// TestLayoutRefused: asking the servers for every core leaves none for the
// driver, on any machine; the message names the layout and the machine.
func TestLayoutRefused(t *testing.T) {
	if goruntime.NumCPU() < 2 {
		t.Skip("one core: everything shares it, there is nothing to split")
	}
	n := strconv.Itoa(goruntime.NumCPU())
	err := run(context.Background(), []string{"run", "--server-cores", n}, &bytes.Buffer{}, &bytes.Buffer{})
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--server-cores "+n+" leaves no core for the driver on this "+n+"-core machine") {
		t.Fatalf("lab run --server-cores %s: err = %v, want a usage error naming the layout", n, err)
	}
}

func TestList(t *testing.T) {
	t.Chdir(filepath.Join("..", "..", ".."))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"list"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go-eventloop", "twisted-inline", "fetch-sweep", "c10k-idle"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %s:\n%s", want, out.String())
		}
	}
}

// TestReportRebuildsAnInterruptedRun: a folder with run.json and
// trials.jsonl but no results.json (a killed run) gets both rebuilt.
func TestReportRebuildsAnInterruptedRun(t *testing.T) {
	dir := t.TempDir()
	meta := results.File{RunID: "x", Profile: lab.Quick, Started: time.Now(),
		Implementations: []lab.Implementation{{Name: "a"}},
		Scenarios: []lab.Scenario{{Name: "s", Mode: "echo", Steps: []lab.Step{{Name: "c1", Loop: lab.Closed, Connections: 1}},
			Profiles: map[lab.Profile]lab.ProfileSpec{lab.Quick: {Trials: 3}}}}}
	w, err := results.Create(dir, meta)
	if err != nil {
		t.Fatal(err)
	}
	w.Add(lab.Trial{Impl: "a", Scenario: "s", Step: "c1", Trial: 1, Throughput: 1000, Lines: 1000})
	// No Close: the run was killed, and left its lock file, which no
	// process holds any more (the kernel let the lock go with it).
	lock, _ := json.Marshal(results.Lock{RunID: "x", PID: 4242, Owner: "host/4242/1"})
	if err := os.WriteFile(filepath.Join(dir, results.LockFile), lock, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"report", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{results.ResultsFile, "report.html", "summary.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(out.String(), "only 1 of 3 trials") && !strings.Contains(out.String(), "1.00k") {
		t.Errorf("table:\n%s", out.String())
	}
	f, err := results.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Interrupted, "ended before the run did") {
		t.Errorf("interrupted = %q; want the dead lab process named", f.Interrupted)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(page), "2 planned trials are missing, in 1 steps: a s/c1 (1 of 3)") {
		t.Errorf("the report does not say which trials are missing")
	}
}
