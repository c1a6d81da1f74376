package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/client"
)

// LabelOwner names the lab process that created a container or network:
// host/pid/start, where start is the process's start time in clock ticks
// since boot (/proc/<pid>/stat), so that a pid the kernel has given to
// another process since does not pass for the lab.
const LabelOwner = "org.linelab.owner"

// Owner is a lab process.
type Owner struct {
	Host  string
	PID   int
	Start uint64
}

func (o Owner) String() string { return fmt.Sprintf("%s/%d/%d", o.Host, o.PID, o.Start) }

// Self is this process.
func Self() Owner {
	o, _ := OwnerOf(os.Getpid())
	return o
}

// OwnerOf is process pid of this host.
func OwnerOf(pid int) (Owner, error) {
	host, _ := os.Hostname()
	start, err := processStart(pid)
	return Owner{Host: host, PID: pid, Start: start}, err
}

// ParseOwner reads an owner label; ok is false for a label it cannot read
// (or none: what an older lab created).
func ParseOwner(s string) (Owner, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return Owner{}, false
	}
	pid, err1 := strconv.Atoi(parts[1])
	start, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return Owner{}, false
	}
	return Owner{Host: parts[0], PID: pid, Start: start}, true
}

// Alive says whether the owner still runs. A process on another host
// cannot be asked, so it counts as alive; so does this very process, whose
// earlier runs are over (Run is not re-entrant) but whose current run is not.
func (o Owner) Alive() bool {
	self := Self()
	if o.Host != self.Host {
		return true
	}
	start, err := processStart(o.PID)
	return err == nil && start == o.Start
}

// processStart reads the start time of pid from /proc/<pid>/stat: field
// 22, counted after the command name, which may hold spaces and parentheses.
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unreadable stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, errors.New("short stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// RunLeft is what one run left on the engine.
type RunLeft struct {
	RunID      string
	Owner      string // the owner label, "" when there is none
	Alive      bool   // its lab process still runs
	Removed    bool   // the sweep removed what it left
	Containers int
	Networks   int
}

// Sweep removes the containers and networks of runs whose lab process is
// gone (all of them with everything), and returns every run it found, the
// removed and the live ones. What this Runtime made is never touched.
func (r *Runtime) Sweep(ctx context.Context, everything bool) ([]RunLeft, error) {
	f := client.Filters{}.Add("label", LabelManaged+"=true")
	cs, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	ns, err := r.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	self := Self()
	var runs []RunLeft
	find := func(labels map[string]string) (*RunLeft, bool) {
		id := labels[LabelRun]
		if id == r.runID && r.runID != "" && labels[LabelOwner] == r.owner.String() {
			return nil, false // this Runtime's own (a resumed run's earlier process is another owner)
		}
		i := slices.IndexFunc(runs, func(x RunLeft) bool { return x.RunID == id })
		if i < 0 {
			o, ok := ParseOwner(labels[LabelOwner])
			alive := ok && o.Alive() && o != self
			runs = append(runs, RunLeft{RunID: id, Owner: labels[LabelOwner], Alive: alive, Removed: everything || !alive})
			i = len(runs) - 1
		}
		x := &runs[i]
		return x, x.Removed
	}
	var errs []error
	for _, c := range cs.Items {
		x, remove := find(c.Labels)
		if x == nil {
			continue
		}
		if !remove {
			x.Containers++
			continue
		}
		if c.State == "paused" {
			// A frozen container cannot take the signal that stops it.
			r.cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{})
		}
		if _, err := r.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			continue
		}
		x.Containers++
	}
	for _, n := range ns.Items {
		x, remove := find(n.Labels)
		if x == nil {
			continue
		}
		if !remove {
			x.Networks++
			continue
		}
		if _, err := r.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		x.Networks++
	}
	return runs, errors.Join(errs...)
}

// String says in words what a sweep did with one run's leftovers.
func (x RunLeft) String() string {
	who := "a lab process that left no name"
	if o, ok := ParseOwner(x.Owner); ok {
		who = fmt.Sprintf("lab process %d on %s", o.PID, o.Host)
	}
	id := cmp.Or(x.RunID, "(no run id)")
	switch {
	case x.Removed && x.Alive:
		return fmt.Sprintf("removed %s of run %s (%s still ran)", x.what(), id, who)
	case x.Removed:
		return fmt.Sprintf("removed %s of run %s (%s is gone)", x.what(), id, who)
	}
	return fmt.Sprintf("run %s is still going (%s): its %s left alone", id, who, x.what())
}

func (x RunLeft) what() string {
	n := func(k int, one string) string {
		if k == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", k, one)
	}
	return n(x.Containers, "container") + " and " + n(x.Networks, "network")
}
