package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/linelab/linelab/lab/driver"
)

// dial connects to addr and copies in to the connection and the
// connection to out until the peer is done; the end of in closes the
// connection's write side (a half close), as the lab's own would.
func dial(ctx context.Context, addr string, in io.Reader, out, status io.Writer) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintln(status, err)
		return err
	}
	defer c.Close()
	fmt.Fprintln(status, driver.GateConnected)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		io.Copy(c, in)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	io.Copy(out, c)
	// The peer closed: what the lab still sends has nowhere to go.
	select {
	case <-sent:
	case <-time.After(100 * time.Millisecond):
	}
	return nil
}
