package lineproto

import (
	"bufio"
	"io"
)

// Writer buffers protocol lines. Nothing reaches the connection until Flush,
// so a server answering pipelined requests can send many answers in one
// write.
type Writer struct {
	bw  *bufio.Writer
	tmp []byte
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer { return &Writer{bw: bufio.NewWriter(w)} }

// WriteEcho writes the echo-mode answer to payload p.
func (w *Writer) WriteEcho(p []byte) error {
	w.tmp = AppendEcho(w.tmp[:0], p)
	_, err := w.bw.Write(w.tmp)
	return err
}

// WriteRequest writes payload p as one request line; ErrLF if p holds an LF.
func (w *Writer) WriteRequest(p []byte) error {
	var err error
	if w.tmp, err = AppendRequest(w.tmp[:0], p); err != nil {
		return err
	}
	_, err = w.bw.Write(w.tmp)
	return err
}

// WriteLine writes an already framed line (it must end with LF) as it is.
func (w *Writer) WriteLine(line []byte) error {
	_, err := w.bw.Write(line)
	return err
}

// Flush sends everything buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }
