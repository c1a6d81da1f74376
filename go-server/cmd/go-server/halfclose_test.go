package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linelab/linelab/lab/upstream"
)

// TestSlowReaderAfterHalfClose: a client pipelines 300 fetches with 36 KB
// payloads (9 MB of answers), half-closes, and reads only later, so the
// answers outlive the server's view of the connection. gnet dropped what
// it still held to write when it saw the EOF: 252 of 300 answers in 1 of
// 5 tries, before go-eventloop wrote through a backlog (the conformance
// case never-reads checks echo mode; fetch mode with payloads this large
// is for the Go servers here).
func TestSlowReaderAfterHalfClose(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstream.Behaviour{})
	for _, model := range []string{"goroutine", "eventloop"} {
		addr := startServer(t, map[string]string{"MODEL": model, "MODE": "fetch", "UPSTREAM_URL": up})
		for try := 0; try < 3; try++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Repeat("hello ", 6000) + "\n"
			var in []byte
			for range 300 {
				in = append(in, line...)
			}
			go func() { c.Write(in); c.(*net.TCPConn).CloseWrite() }()
			time.Sleep(700 * time.Millisecond)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			c.Close()
			n := bytes.Count(got, []byte("\n"))
			want := bytes.Repeat([]byte("echo: "+upstream.Translate(line[:len(line)-1])+"\n"), 300)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s, try %d: %d of 300 answers, %d of %d bytes, %v", model, try+1, n, len(got), len(want), err)
			}
		}
	}
}
