//go:build docker

package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/plan"
	"github.com/linelab/linelab/lab/results"
)

// TestHelperLabRun is not a test: TestDockerKilledAndResumed runs the test
// binary as a lab process (a run, or the resume of one), to kill it.
func TestHelperLabRun(t *testing.T) {
	out := os.Getenv("LINELAB_HELPER_OUT")
	if out == "" {
		t.Skip("a helper process of TestDockerKilledAndResumed")
	}
	opts := killOptions(t, out)
	opts.Progress = os.Stdout
	opts.Resume = os.Getenv("LINELAB_HELPER_RESUME")
	if _, _, err := Run(context.Background(), opts); err != nil {
		fmt.Println("helper:", err)
	}
}

func killOptions(t *testing.T, out string) Options {
	opts := dockerOptions(t, out)
	opts.Impls = []string{"go-eventloop"}
	opts.Scenarios = []string{"echo-sweep"}
	return opts
}

// labProcess is a helper lab process and its progress lines.
type labProcess struct {
	cmd   *exec.Cmd
	lines chan string
}

func startLab(t *testing.T, out, resume string) *labProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLabRun$", "-test.v")
	cmd.Env = append(os.Environ(), "LINELAB_HELPER_OUT="+out, "LINELAB_HELPER_RESUME="+resume)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &labProcess{cmd: cmd, lines: make(chan string, 1000)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return p
}

// killAfter lets the process write n progress lines (or until one holds
// until), then kills it with SIGKILL: no cleanup of its own runs.
func (p *labProcess) killAfter(t *testing.T, n int, until string) {
	t.Helper()
	seen := 0
	for line := range p.lines {
		t.Log("lab process:", line)
		if strings.HasPrefix(line, "lab") || strings.HasPrefix(line, "[") {
			seen++
		}
		if seen >= n || (until != "" && strings.Contains(line, until)) {
			break
		}
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// TestDockerKilledAndResumed kills a run with SIGKILL at a random moment,
// starts a resume in another process and, while it runs, a second resume
// here, which must be refused at once naming the first; kills that one at
// a random moment too, resumes to the end, and wants every planned trial
// exactly once. The seed is in the log.
func TestDockerKilledAndResumed(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	out := t.TempDir()

	startLab(t, out, "").killAfter(t, 4+rng.IntN(8), "")
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(dirs) != 1 {
		t.Fatalf("run folders after the kill: %v", dirs)
	}
	dir := dirs[0]

	first := startLab(t, out, dir)
	for line := range first.lines {
		t.Log("lab process:", line)
		if strings.Contains(line, "resuming run") {
			break
		}
		if strings.Contains(line, "nothing to resume") {
			t.Skip("the run ended before the kill; nothing was tested (seed in the log)")
		}
	}
	opts := killOptions(t, out)
	opts.Resume = dir
	start := time.Now()
	_, _, err := Run(context.Background(), opts)
	want := "is still going (lab process " + strconv.Itoa(first.cmd.Process.Pid) + ")"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a second resume while the first runs: %v; want a refusal naming it (%s)", err, want)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the refusal took %v; want it at once", took)
	}
	first.killAfter(t, 1+rng.IntN(6), "")

	if _, _, err := Run(context.Background(), opts); err != nil && !strings.Contains(err.Error(), "nothing to resume") {
		t.Fatal(err)
	}
	f, err := results.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Interrupted != "" {
		t.Errorf("after the last resume: interrupted %q", f.Interrupted)
	}
	// trials.jsonl itself, not the summary (which drops copies): once each.
	b, err := os.ReadFile(filepath.Join(dir, results.TrialsFile))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var tr lab.Trial
		if err := json.Unmarshal([]byte(line), &tr); err != nil {
			continue // a line torn by the kill is cut off by the next resume
		}
		count[fmt.Sprintf("%s/%s/%d", tr.Scenario, tr.Step, tr.Trial)]++
	}
	for _, sk := range f.Skipped {
		count[fmt.Sprintf("%s/%s/%d", sk.Scenario, sk.Step, sk.Trial)]++
	}
	for _, sc := range f.Scenarios {
		for _, st := range sc.Steps {
			for n := 1; n <= plan.BaseTrials(sc, st.Name, f.Profile); n++ {
				if k := fmt.Sprintf("%s/%s/%d", sc.Name, st.Name, n); count[k] != 1 {
					t.Errorf("trial %s: %d copies; want exactly 1", k, count[k])
				}
			}
		}
	}
	assertNothingLeft(t)
}
