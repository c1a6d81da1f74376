package lineproto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r *Reader) ([]string, error) {
	t.Helper()
	var got []string
	for {
		p, err := r.ReadLine()
		if err != nil {
			return got, err
		}
		got = append(got, string(p))
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxLine)
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		wantErr error
	}{
		{"one line", "hello\n", MaxLine, []string{"hello"}, io.EOF},
		{"crlf", "hello\r\n", MaxLine, []string{"hello"}, io.EOF},
		{"only one CR stripped", "a\r\r\n", MaxLine, []string{"a\r"}, io.EOF},
		{"CR inside kept", "a\rb\n", MaxLine, []string{"a\rb"}, io.EOF},
		{"empty line", "\n", MaxLine, []string{""}, io.EOF},
		{"empty crlf", "\r\n", MaxLine, []string{""}, io.EOF},
		{"nul and invalid utf-8", "a\x00\xff\xfeb\n", MaxLine, []string{"a\x00\xff\xfeb"}, io.EOF},
		{"many", "a\nb\n\nc\n", MaxLine, []string{"a", "b", "", "c"}, io.EOF},
		{"trailing partial", "a\nbc", MaxLine, []string{"a"}, ErrUnterminated},
		{"nothing", "", MaxLine, nil, io.EOF},
		{"exactly the limit", long + "\n", MaxLine, []string{long}, io.EOF},
		{"limit counts the CR", long[1:] + "\r\n", MaxLine, []string{long[1:]}, io.EOF},
		{"one over with LF", long + "x\n", MaxLine, nil, ErrLineTooLong},
		{"one over with CR", long + "\r\n", MaxLine, nil, ErrLineTooLong},
		{"one over no LF", long + "x", MaxLine, nil, ErrLineTooLong},
		{"small limit", "abcd\nabcde\n", 4, []string{"abcd"}, ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, wrap := range []struct {
				name string
				fn   func(io.Reader) io.Reader
			}{
				{"whole", func(r io.Reader) io.Reader { return r }},
				{"one byte", iotest.OneByteReader},
				{"half", iotest.HalfReader},
				{"data+EOF", iotest.DataErrReader},
			} {
				r := NewReader(wrap.fn(strings.NewReader(tt.in)), tt.max)
				got, err := readAll(t, r)
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("%s: err = %v, want %v", wrap.name, err, tt.wantErr)
				}
				if !equal(got, tt.want) {
					t.Errorf("%s: lines = %q, want %q", wrap.name, short(got), short(tt.want))
				}
			}
		})
	}
}

// TestReaderTooLongEarly checks that the error comes as soon as limit+1 bytes
// are in, without waiting for more input (a server must not hang on it).
func TestReaderTooLongEarly(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(strings.Repeat("y", 11))) // 11 > limit 10; then nothing more
	}()
	_, err := NewReader(pr, 10).ReadLine()
	var tl *LineTooLongError
	if !errors.As(err, &tl) || tl.Limit != 10 {
		t.Fatalf("err = %v, want *LineTooLongError with limit 10", err)
	}
	pw.Close()
}

func TestReaderPassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), MaxLine)
	got, err := readAll(t, r)
	if !errors.Is(err, boom) || !equal(got, []string{"a"}) {
		t.Fatalf("got %q, %v; want [a], boom", got, err)
	}
}

func TestNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		payload string
		n       int
		err     error
	}{
		{"", "", 0, nil},
		{"abc", "", 0, nil},
		{"abc\nrest", "abc", 4, nil},
		{"ab\r\n", "ab", 4, nil},
		{"abcde", "", 0, ErrLineTooLong},
		{"abcde\n", "", 0, ErrLineTooLong},
		{"abcd\n", "abcd", 5, nil},
	}
	for _, tt := range tests {
		p, n, err := Next([]byte(tt.in), 4)
		if string(p) != tt.payload || n != tt.n || !errors.Is(err, tt.err) {
			t.Errorf("Next(%q) = %q, %d, %v; want %q, %d, %v", tt.in, p, n, err, tt.payload, tt.n, tt.err)
		}
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must(t, w.WriteEcho([]byte("hi\x00")))
	must(t, w.WriteRequest([]byte("q\r")))
	must(t, w.WriteLine([]byte(TooLongLine)))
	if buf.Len() != 0 {
		t.Fatalf("wrote %d bytes before Flush", buf.Len())
	}
	must(t, w.Flush())
	if want := "echo: hi\x00\nq\r\nerror: line too long\n"; buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	if err := w.WriteRequest([]byte("a\nb")); !errors.Is(err, ErrLF) {
		t.Fatalf("WriteRequest with LF: err = %v, want ErrLF", err)
	}
}

func TestAppendUpstreamError(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "error: upstream\n",
		"status 503":        "error: upstream: status 503\n",
		"dial\r\nrefused\n": "error: upstream: dial  refused \n",
	} {
		if got := string(AppendUpstreamError(nil, in)); got != want {
			t.Errorf("AppendUpstreamError(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRoundTrip writes payloads as requests and reads them back: every payload
// without LF must come back unchanged, whatever the chunking.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), []byte("a\r"), uint8(1))
	f.Add([]byte{0, 0xff, '\r'}, []byte(""), uint8(3))
	f.Fuzz(func(t *testing.T, a, b []byte, chunk uint8) {
		var in []byte
		var want []string
		for _, p := range [][]byte{a, b} {
			var err error
			in, err = AppendRequest(in, p)
			if err != nil {
				if bytes.IndexByte(p, '\n') < 0 {
					t.Fatalf("AppendRequest(%q): %v", p, err)
				}
				return
			}
			want = append(want, strings.TrimSuffix(string(p), "\r"))
		}
		r := NewReader(&chunked{data: in, n: int(chunk%16) + 1}, MaxLine)
		got, err := readAll(t, r)
		if err != io.EOF || !equal(got, want) {
			t.Fatalf("got %q, %v; want %q, EOF", got, err, want)
		}
	})
}

// FuzzReader feeds arbitrary input: the reader must never panic, never return
// a payload with an LF or over the limit, and never return more bytes than in.
func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), uint8(8))
	f.Add([]byte(strings.Repeat("z", 40)+"\n"), uint8(32))
	f.Fuzz(func(t *testing.T, in []byte, limit uint8) {
		max := int(limit%64) + 1
		r := NewReader(bytes.NewReader(in), max)
		total := 0
		for {
			p, err := r.ReadLine()
			if err != nil {
				return
			}
			if bytes.IndexByte(p, '\n') >= 0 || len(p) > max {
				t.Fatalf("bad payload %q (limit %d)", p, max)
			}
			total += len(p) + 1
			if total > len(in) {
				t.Fatalf("returned more than the input")
			}
		}
	})
}

func BenchmarkReader(b *testing.B) {
	line := []byte(strings.Repeat("p", 32) + "\n")
	data := bytes.Repeat(line, 1024)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), MaxLine)
		for {
			if _, err := r.ReadLine(); err != nil {
				break
			}
		}
	}
}

func BenchmarkAppendEcho(b *testing.B) {
	p := []byte(strings.Repeat("p", 32))
	var dst []byte
	for b.Loop() {
		dst = AppendEcho(dst[:0], p)
	}
}

type chunked struct {
	data []byte
	n    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func short(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		if len(x) > 20 {
			x = x[:20] + "…"
		}
		out[i] = x
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
