// Package lineproto is the one codec of the linelab line protocol (version 1.2),
// shared by the Go servers and the lab's driver.
//
// The protocol, in short: a request is every byte up to and including the next
// LF; its payload is those bytes without the LF and without one CR directly
// before it. A payload may hold any byte but LF. At most MaxLine bytes may come
// before an LF; more than that with no LF is an error, and the server answers
// "error: line too long\n" and closes. The answer to payload P is
// "echo: " + P + "\n" (in fetch mode the upstream's body takes P's place; in
// work mode the hex digest of N chained SHA-256 rounds, N being P's value).
// Bytes after the last LF at end of input are not a request. A server stops
// reading a connection that holds more than MaxUnsent bytes of answers not
// yet sent, or MaxInProgress requests not yet answered, and reads again once
// below (v1.2).
//
// The package owns framing only: it never touches sockets, so every rule is
// tested over in-memory readers.
package lineproto

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxLine is the longest line the protocol allows: payload plus its possible
// CR, without the LF.
const MaxLine = 65536

// Backpressure (v1.2): past either bound a server stops reading the
// connection, so a client that sends and never reads costs it no more.
const (
	MaxUnsent     = 1 << 20 // bytes of answers held for one connection
	MaxInProgress = 64      // requests of one connection in progress at once
)

// Prefixes and fixed lines of the protocol.
const (
	EchoPrefix       = "echo: "
	ErrorPrefix      = "error: "
	UpstreamErrorTag = "error: upstream"
	TooLongLine      = "error: line too long\n"
)

var (
	// ErrLineTooLong means more than the limit arrived with no LF.
	ErrLineTooLong = errors.New("line too long")
	// ErrUnterminated means input ended with bytes after the last LF; those
	// bytes are not a request.
	ErrUnterminated = errors.New("unterminated line at end of input")
	// ErrLF means a payload given to a writer holds an LF, which no payload may.
	ErrLF = errors.New("payload contains LF")
)

// LineTooLongError reports a line over the limit. It matches ErrLineTooLong
// with errors.Is.
type LineTooLongError struct {
	Limit int // the limit in force
	Seen  int // bytes seen with no LF when the reader gave up
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("line too long: %d bytes with no LF, limit %d", e.Seen, e.Limit)
}

// Is makes errors.Is(err, ErrLineTooLong) true.
func (e *LineTooLongError) Is(target error) bool { return target == ErrLineTooLong }

// Next frames the first request in buf. It returns the payload (a sub-slice
// of buf, CR stripped) and how many bytes of buf the request used, LF
// included. n is 0 when buf holds no complete request yet; err is then a
// *LineTooLongError if buf already holds more than max bytes with no LF.
// A complete line that is too long is an error too.
func Next(buf []byte, max int) (payload []byte, n int, err error) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		if len(buf) > max {
			return nil, 0, &LineTooLongError{Limit: max, Seen: len(buf)}
		}
		return nil, 0, nil
	}
	if i > max {
		return nil, 0, &LineTooLongError{Limit: max, Seen: i}
	}
	payload = buf[:i]
	if i > 0 && payload[i-1] == '\r' {
		payload = payload[:i-1]
	}
	return payload, i + 1, nil
}

// AppendEcho appends the echo-mode answer to payload p.
func AppendEcho(dst, p []byte) []byte {
	dst = append(dst, EchoPrefix...)
	dst = append(dst, p...)
	return append(dst, '\n')
}

// AppendRequest appends payload p as a request line. It fails with ErrLF if
// p holds an LF, since that would make two requests.
func AppendRequest(dst, p []byte) ([]byte, error) {
	if bytes.IndexByte(p, '\n') >= 0 {
		return dst, ErrLF
	}
	dst = append(dst, p...)
	return append(dst, '\n'), nil
}

// AppendUpstreamError appends an "error: upstream" line with an optional
// detail. LFs and CRs in the detail become spaces, so the answer stays one line.
func AppendUpstreamError(dst []byte, detail string) []byte {
	dst = append(dst, UpstreamErrorTag...)
	if detail != "" {
		dst = append(dst, ": "...)
		for i := 0; i < len(detail); i++ {
			c := detail[i]
			if c == '\n' || c == '\r' {
				c = ' '
			}
			dst = append(dst, c)
		}
	}
	return append(dst, '\n')
}
