// Package linetest serves hand-written line servers on loopback for tests:
// the deliberately wrong, slow or closing servers that the conformance
// suite and the driver must recognise.
package linetest

import (
	"bufio"
	"net"
	"testing"
)

// Serve listens on a free loopback port and, on every connection, calls
// handle with the connection, the line's index on it and the line without
// its LF, until handle returns false or the client goes. It returns the
// address; the listener closes when the test ends.
func Serve(t testing.TB, handle func(c net.Conn, n int, line []byte) bool) string {
	t.Helper()
	return ServeConn(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for n := 0; ; n++ {
			line, err := r.ReadBytes('\n')
			if err != nil || !handle(c, n, line[:len(line)-1]) {
				return
			}
		}
	})
}

// ServeConn listens on a free loopback port and hands every connection to
// handle, closing it when handle returns. It returns the address; the
// listener closes when the test ends.
func ServeConn(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}
