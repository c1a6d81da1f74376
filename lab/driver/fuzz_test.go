package driver

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cmsg is one control message as the kernel lays it out on 64-bit Linux.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.SizeofCmsghdr, unix.SizeofCmsghdr+len(data)+8)
	binary.NativeEndian.PutUint64(b, uint64(unix.SizeofCmsghdr+len(data)))
	binary.NativeEndian.PutUint32(b[8:], uint32(level))
	binary.NativeEndian.PutUint32(b[12:], uint32(typ))
	b = append(b, data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// FuzzStamp feeds the control-message parser of the open loop's reads any
// bytes: it must find a timestamp where there is one and never read past
// the buffer.
func FuzzStamp(f *testing.F) {
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts, 1_700_000_000)
	binary.NativeEndian.PutUint64(ts[8:], 123)
	good := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts)
	other := cmsg(unix.SOL_SOCKET, unix.SCM_RIGHTS, []byte{1, 2, 3, 4, 5})
	f.Add(good)
	f.Add(append(other, good...))
	f.Add(other[:len(other)-3]) // a length past the padding
	f.Add([]byte{})
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, oob []byte) {
		got, ok := stamp(oob)
		if bytes.HasPrefix(oob, good) && (!ok || !got.Equal(time.Unix(1_700_000_000, 123))) {
			t.Errorf("stamp(%x) = %v, %v; want the timestamp at its head", oob, got, ok)
		}
	})
}

// FuzzReadEvents feeds the reader of a driver container's output any
// bytes: it returns a result or an error, and a result it returns decodes
// or says why not.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte(`{"result":{"lines":3}}` + "\n"))
	f.Add([]byte(`{"error":"dial: refused"}` + "\n"))
	f.Add([]byte("panic: oops\ngoroutine 1\n"))
	f.Add([]byte(`{"result":{"lines":1,"latency":"HISTFAAAAB"}}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, out []byte) {
		w, err := ReadEvents(bytes.NewReader(out))
		if err != nil {
			return
		}
		if w == nil {
			t.Fatal("no result and no error")
		}
		w.Result() // must not panic, whatever it holds
	})
}
