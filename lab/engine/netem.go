package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// NetemUnavailable says why a lossy link cannot be made on this machine,
// and what would fix it.
type NetemUnavailable struct{ Why string }

func (e *NetemUnavailable) Error() string { return "no lossy link: " + e.Why }

// Netem makes the container's link on the run's network lossy: every
// packet the container sends is dropped with probability loss and
// delayed by delay (Linux's netem queueing discipline on its interface).
// It runs this machine's tc, from Debian's iproute2, inside the
// container's network namespace (nsenter), so it needs the engine on this
// machine, root, tc and nsenter, and a kernel built with netem; a
// *NetemUnavailable error says which is missing. Undo takes it off.
func (c *Container) Netem(ctx context.Context, loss float64, delay time.Duration) (undo func(context.Context) error, err error) {
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		return nil, &NetemUnavailable{fmt.Sprintf("the engine is not on this machine (DOCKER_HOST=%s); netem runs this machine's tc in the container's namespace", h)}
	}
	if os.Geteuid() != 0 {
		return nil, &NetemUnavailable{"the lab does not run as root, which entering a container's network namespace and changing its queueing discipline needs; try: sudo make lab"}
	}
	for _, tool := range []string{"tc", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			pkg := map[string]string{"tc": "iproute2", "nsenter": "util-linux"}[tool]
			return nil, &NetemUnavailable{fmt.Sprintf("%s is not installed; try: sudo apt-get install %s", tool, pkg)}
		}
	}
	pid, err := c.Pid(ctx)
	if err != nil {
		return nil, err
	}
	ns := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	if _, err := os.Stat(ns); pid == 0 || err != nil {
		return nil, &NetemUnavailable{fmt.Sprintf("the lab cannot see the container's process %d (%s): run it on the Docker host, outside any container of its own", pid, ns)}
	}
	dev, err := c.device(ctx, ns)
	if err != nil {
		return nil, err
	}
	args := []string{"qdisc", "replace", "dev", dev, "root", "netem"}
	if delay > 0 {
		args = append(args, "delay", fmt.Sprintf("%dus", delay.Microseconds()))
	}
	if loss > 0 {
		args = append(args, "loss", strconv.FormatFloat(loss*100, 'f', -1, 64)+"%")
	}
	if out, err := inNetns(ctx, ns, "tc", args...); err != nil {
		if strings.Contains(out, "qdisc kind is unknown") {
			return nil, &NetemUnavailable{"this kernel has no netem queueing discipline (CONFIG_NET_SCH_NETEM, module sch_netem); tc said: " + out}
		}
		if strings.Contains(out, "Operation not permitted") {
			return nil, &NetemUnavailable{"changing the container's queueing discipline is not permitted here (CAP_NET_ADMIN); tc said: " + out}
		}
		return nil, fmt.Errorf("tc %s in %s: %w: %s", strings.Join(args, " "), c.Name, err, out)
	}
	return func(ctx context.Context) error {
		if out, err := inNetns(ctx, ns, "tc", "qdisc", "del", "dev", dev, "root"); err != nil {
			return fmt.Errorf("take netem off %s of %s: %w: %s", dev, c.Name, err, out)
		}
		return nil
	}, nil
}

// device finds the container's interface that holds its address on the
// run's network.
func (c *Container) device(ctx context.Context, ns string) (string, error) {
	out, err := inNetns(ctx, ns, "ip", "-o", "-4", "addr", "show")
	if err != nil {
		return "", fmt.Errorf("list the interfaces of %s: %w: %s", c.Name, err, out)
	}
	ip := c.IP()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		// "2: eth0    inet 172.18.0.3/16 brd ..."
		if len(f) >= 4 && f[2] == "inet" {
			if a, _, err := net.ParseCIDR(f[3]); err == nil && a.String() == ip {
				return strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"), nil
			}
		}
	}
	return "", errors.New("no interface of " + c.Name + " holds its address " + ip)
}

func inNetns(ctx context.Context, ns, cmd string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + ns, cmd}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
