package server

import (
	"bytes"
	"testing"
)

func TestCheckBody(t *testing.T) {
	t.Parallel()
	mib := bytes.Repeat([]byte("a"), MaxBody)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		body    []byte
		want    []byte
		wantErr string
	}{
		{"a translation", []byte("ahoy\n"), []byte("ahoy"), ""},
		{"CRLF and blank lines at the end", []byte("ahoy\r\n\r\n"), []byte("ahoy"), ""},
		{"empty", nil, nil, ""},
		{"a MiB and a CRLF", cat(mib, []byte("\r\n")), mib, ""},
		{"a byte over", cat(mib, []byte("a")), nil, "body over 1048576 bytes"},
		// A reader stops at MaxBody+3 bytes, so these may be the first of
		// "a…a\r\n\r\nmore": line endings at the MiB mark are not its end.
		{"the first bytes of a longer body", cat(mib, []byte("\r\n\r")), nil, "body over 1048576 bytes"},
		{"a line break inside", []byte("one\ntwo"), nil, "body holds a line break"},
	}
	for _, tt := range tests {
		got, err := CheckBody(tt.body)
		switch {
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: err = %v", tt.name, err)
		case !bytes.Equal(got, tt.want):
			t.Errorf("%s: body of %d bytes, want %d", tt.name, len(got), len(tt.want))
		}
	}
}

// FuzzCheckBody: whatever an upstream sends, what CheckBody accepts is one
// answer line of at most MaxBody bytes.
func FuzzCheckBody(f *testing.F) {
	for _, s := range []string{"ahoy matey", "ahoy\r\n", "a\nb", "\r\n\r\n", "", "x\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := CheckBody(body)
		if err != nil {
			return
		}
		if bytes.IndexByte(got, '\n') >= 0 || len(got) > MaxBody || bytes.HasSuffix(got, []byte("\r")) {
			t.Errorf("CheckBody(%q) accepted %q", body, got)
		}
	})
}
