package runner

import (
	"fmt"
	"strconv"
	"strings"
)

// Layout is which cores do what in a run: the lab process (the driver),
// every server container, and the upstream translator. The driver's and the
// servers' cores never overlap: on a shared core each figure would be the
// sum of both.
type Layout struct {
	Driver   []int
	Server   []int
	Upstream []int // the driver's cores when no core is left for it alone
	Shared   bool  // one core for everything: a machine with one core
}

// PlanLayout splits the cores in avail (the lab's own affinity, in order)
// between the servers and the driver. server and driver are the numbers of
// cores asked for, 0 for the default: half the cores to the servers (1:1
// on 2 cores), the rest to the driver but one, which the upstream gets to
// itself when there are at least 3 (so that the translator never takes the
// driver's time). Asked-for numbers that overlap or do not fit are refused
// with the layout in the message; a core left over goes to the upstream.
func PlanLayout(avail []int, server, driver int) (Layout, error) {
	n := len(avail)
	switch {
	case server < 0 || driver < 0:
		return Layout{}, fmt.Errorf("layout: %d server cores and %d driver cores: a count of cores cannot be negative", server, driver)
	case n == 0:
		return Layout{}, fmt.Errorf("layout: the lab may run on no core at all (its CPU affinity is empty)")
	case n == 1:
		if server > 1 || driver > 1 {
			return Layout{}, fmt.Errorf("layout: %s asks for more cores than this machine's one", describe(server, driver))
		}
		// Nothing to split: everything shares the one core, and the report
		// says so.
		return Layout{Driver: avail, Server: avail, Upstream: avail, Shared: true}, nil
	}
	asked := describe(server, driver)
	if server == 0 {
		server = n / 2
		if driver > 0 {
			server = min(server, n-driver)
		}
	}
	if driver == 0 {
		driver = n - server
		if driver >= 2 {
			driver-- // the upstream's own core
		}
	}
	if server < 1 || driver < 1 {
		who := "servers"
		if driver < 1 {
			who = "driver"
		}
		return Layout{}, fmt.Errorf("layout: %s leaves no core for the %s on this %d-core machine: the servers and the driver need at least one core each, and never the same one", asked, who, n)
	}
	if server+driver > n {
		return Layout{}, fmt.Errorf("layout: %s need %d cores and this machine has %d (cores %s): the servers and the driver may not share a core, so ask for at most %d in all",
			asked, server+driver, n, CPUSet(avail), n)
	}
	l := Layout{Driver: avail[:driver], Server: avail[driver : driver+server]}
	l.Upstream = l.Driver
	if driver+server < n {
		l.Upstream = avail[driver+server : driver+server+1]
	}
	return l, nil
}

func describe(server, driver int) string {
	switch {
	case driver == 0:
		return fmt.Sprintf("--server-cores %d", server)
	case server == 0:
		return fmt.Sprintf("--driver-cores %d", driver)
	}
	return fmt.Sprintf("--server-cores %d with --driver-cores %d", server, driver)
}

// CPUSet writes cores as a cpuset, with ranges: "0", "1,3", "2-5".
func CPUSet(cores []int) string {
	var parts []string
	for i := 0; i < len(cores); {
		j := i
		for j+1 < len(cores) && cores[j+1] == cores[j]+1 {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, strconv.Itoa(cores[i]))
		default:
			parts = append(parts, strconv.Itoa(cores[i])+"-"+strconv.Itoa(cores[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// PlanApart splits two machines' cores (serverAvail, driverAvail) when the
// servers and the driver each have one: the servers get all their
// machine's cores but one, which the upstream gets to itself (on a 1-core
// machine it shares the servers'), and the driver all of its machine's.
// server and driver are the counts asked for, 0 for these defaults.
func PlanApart(serverAvail, driverAvail []int, server, driver int) (Layout, error) {
	ns, nd := len(serverAvail), len(driverAvail)
	switch {
	case server < 0 || driver < 0:
		return Layout{}, fmt.Errorf("layout: %d server cores and %d driver cores: a count of cores cannot be negative", server, driver)
	case ns == 0 || nd == 0:
		return Layout{}, fmt.Errorf("layout: an engine says its machine has no cores (servers' %d, driver's %d)", ns, nd)
	case server > ns:
		return Layout{}, fmt.Errorf("layout: --server-cores %d, and the servers' machine has %d cores", server, ns)
	case driver > nd:
		return Layout{}, fmt.Errorf("layout: --driver-cores %d, and the driver's machine has %d cores", driver, nd)
	}
	if server == 0 {
		server = max(ns-1, 1)
	}
	if driver == 0 {
		driver = nd
	}
	l := Layout{Server: serverAvail[:server], Driver: driverAvail[:driver]}
	l.Upstream = serverAvail[server-1 : server]
	if server < ns {
		l.Upstream = serverAvail[server : server+1]
	}
	return l, nil
}
