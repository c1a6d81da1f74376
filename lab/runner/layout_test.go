package runner

import (
	"slices"
	"strings"
	"testing"
)

func cores(n int) []int {
	c := make([]int, n)
	for i := range c {
		c[i] = i
	}
	return c
}

func TestPlanLayout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                     string
		avail                    []int
		server, driver           int
		wantServer, wantDriver   string
		wantUpstream, wantRefuse string
	}{
		{name: "2 cores, default: 1:1, the upstream with the driver", avail: cores(2), wantDriver: "0", wantServer: "1", wantUpstream: "0"},
		{name: "2 cores, asked 1:1", avail: cores(2), server: 1, driver: 1, wantDriver: "0", wantServer: "1", wantUpstream: "0"},
		{name: "2 cores, 2 server cores", avail: cores(2), server: 2, wantRefuse: "--server-cores 2 leaves no core for the driver on this 2-core machine"},
		{name: "2 cores, 2 driver cores", avail: cores(2), driver: 2, wantRefuse: "--driver-cores 2 leaves no core for the servers"},
		{name: "2 cores, 1 and 2", avail: cores(2), server: 1, driver: 2, wantRefuse: "--server-cores 1 with --driver-cores 2 need 3 cores and this machine has 2 (cores 0-1)"},
		{name: "3 cores, default: the upstream alone", avail: cores(3), wantDriver: "0", wantServer: "1", wantUpstream: "2"},
		{name: "8 cores, default", avail: cores(8), wantDriver: "0-2", wantServer: "3-6", wantUpstream: "7"},
		{name: "8 cores, 2 server cores", avail: cores(8), server: 2, wantDriver: "0-4", wantServer: "5-6", wantUpstream: "7"},
		{name: "8 cores, 6 server cores", avail: cores(8), server: 6, wantDriver: "0", wantServer: "1-6", wantUpstream: "7"},
		{name: "8 cores, 7 server cores", avail: cores(8), server: 7, wantDriver: "0", wantServer: "1-7", wantUpstream: "0"},
		{name: "8 cores, 4 and 4", avail: cores(8), server: 4, driver: 4, wantDriver: "0-3", wantServer: "4-7", wantUpstream: "0-3"},
		{name: "8 cores, 2 driver cores", avail: cores(8), driver: 2, wantDriver: "0-1", wantServer: "2-5", wantUpstream: "6"},
		{name: "8 cores, 5 and 4", avail: cores(8), server: 5, driver: 4, wantRefuse: "need 9 cores and this machine has 8"},
		{name: "64 cores, default", avail: cores(64), wantDriver: "0-30", wantServer: "31-62", wantUpstream: "63"},
		{name: "64 cores, 1 server core", avail: cores(64), server: 1, wantDriver: "0-61", wantServer: "62", wantUpstream: "63"},
		{name: "64 cores, 16 and 8", avail: cores(64), server: 16, driver: 8, wantDriver: "0-7", wantServer: "8-23", wantUpstream: "24"},
		{name: "a cpuset that is not 0..n-1", avail: []int{4, 5, 9, 10}, wantDriver: "4", wantServer: "5,9", wantUpstream: "10"},
		{name: "negative", avail: cores(8), server: -1, wantRefuse: "cannot be negative"},
		{name: "1 core: all share it", avail: cores(1), wantDriver: "0", wantServer: "0", wantUpstream: "0"},
		{name: "1 core, 2 asked", avail: cores(1), server: 2, wantRefuse: "more cores than this machine's one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := PlanLayout(tc.avail, tc.server, tc.driver)
			if tc.wantRefuse != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantRefuse) {
					t.Fatalf("PlanLayout = %+v, %v; want it refused with %q", l, err, tc.wantRefuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [3]string{CPUSet(l.Driver), CPUSet(l.Server), CPUSet(l.Upstream)}
			if want := [3]string{tc.wantDriver, tc.wantServer, tc.wantUpstream}; got != want {
				t.Fatalf("driver, server, upstream = %q, want %q", got, want)
			}
			if !l.Shared && slices.ContainsFunc(l.Server, func(c int) bool { return slices.Contains(l.Driver, c) }) {
				t.Errorf("servers %v and driver %v overlap", l.Server, l.Driver)
			}
		})
	}
}

func TestCPUSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []int
		want string
	}{{nil, ""}, {[]int{1}, "1"}, {[]int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"}} {
		if got := CPUSet(tc.in); got != tc.want {
			t.Errorf("CPUSet(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if got := cpuList(tc.want); !slices.Equal(got, tc.in) {
			t.Errorf("cpuList(%q) = %v, want %v", tc.want, got, tc.in)
		}
	}
}

// TestPlanApart: two machines, the servers' with the upstream, the
// driver's to itself.
func TestPlanApart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ns, nd, server, driver int
		want                   string // server / upstream / driver
		err                    string
	}{
		{8, 4, 0, 0, "0-6 / 7 / 0-3", ""},
		{2, 2, 0, 0, "0 / 1 / 0-1", ""},
		{1, 2, 0, 0, "0 / 0 / 0-1", ""},
		{64, 64, 32, 8, "0-31 / 32 / 0-7", ""},
		{8, 4, 8, 0, "0-7 / 7 / 0-3", ""},
		{2, 4, 3, 0, "", "--server-cores 3, and the servers' machine has 2 cores"},
		{2, 4, 0, 5, "", "--driver-cores 5, and the driver's machine has 4 cores"},
	} {
		l, err := PlanApart(cores(c.ns), cores(c.nd), c.server, c.driver)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: error %v, want %q", c, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		if got := CPUSet(l.Server) + " / " + CPUSet(l.Upstream) + " / " + CPUSet(l.Driver); got != c.want {
			t.Errorf("%+v: %s, want %s", c, got, c.want)
		}
	}
}

// FuzzCPUList: a cpuset read back from run.json, whatever it holds, names
// cores in range and round-trips through CPUSet once it is sorted and
// unique.
func FuzzCPUList(f *testing.F) {
	for _, s := range []string{"1", "0-2,5,7-8", "", "3-1", "-1", "0-99999999999", "1,,2", " 4 - 6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, set string) {
		got := cpuList(set)
		if len(got) > maxCPU*len(strings.Split(set, ",")) {
			t.Fatalf("cpuList(%q) named %d cores", set, len(got))
		}
		for _, c := range got {
			if c < 0 || c >= maxCPU {
				t.Fatalf("cpuList(%q) named core %d", set, c)
			}
		}
		u := slices.Compact(slices.Sorted(slices.Values(got)))
		if back := cpuList(CPUSet(u)); !slices.Equal(back, u) {
			t.Errorf("cpuList(CPUSet(%v)) = %v", u, back)
		}
	})
}
