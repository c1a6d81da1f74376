package lineproto

import (
	"errors"
	"io"
)

// Reader reads requests (or answers) one line at a time with a mandatory
// limit. It keeps its own buffer rather than wrapping bufio.Reader, because
// bufio.ReadSlice blocks until its buffer fills; the protocol wants the
// too-long error as soon as limit+1 bytes are in, and a small buffer for the
// common short line (idle connections stay cheap).
type Reader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unread data is buf[r:w]
	max  int
	err  error
}

const initialBuffer = 4096

// NewReader returns a Reader over rd that allows lines of at most max bytes
// before the LF. max must be positive; MaxLine is the protocol's.
func NewReader(rd io.Reader, max int) *Reader {
	if max <= 0 {
		panic("lineproto: NewReader needs a positive limit")
	}
	return &Reader{rd: rd, max: max}
}

// ReadLine returns the next payload, valid until the next call. At the end of
// input it returns io.EOF, or ErrUnterminated when bytes after the last LF
// were dropped. A line over the limit gives a *LineTooLongError, after which
// the Reader is not usable. Other read errors are returned as they are.
func (r *Reader) ReadLine() ([]byte, error) {
	for {
		p, n, err := Next(r.buf[r.r:r.w], r.max)
		if err != nil {
			r.err = err
			return nil, err
		}
		if n > 0 {
			r.r += n
			return p, nil
		}
		if r.err != nil {
			if errors.Is(r.err, io.EOF) && r.w > r.r {
				r.r = r.w
				return nil, ErrUnterminated
			}
			return nil, r.err
		}
		r.fill()
	}
}

// Buffered reports how many bytes are read but not yet returned, so a server
// can flush its answers when no further request is waiting.
func (r *Reader) Buffered() int { return r.w - r.r }

func (r *Reader) fill() {
	if r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) {
		size := max(2*len(r.buf), initialBuffer)
		size = min(size, r.max+1) // one byte past the limit is enough to know
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	r.err = err // (0, nil) from a reader only means: call again
}
