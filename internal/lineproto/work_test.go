package lineproto

import (
	"strings"
	"testing"
)

// knownDigests are work answers computed apart from this package (Python's
// hashlib), so the chain, not only its code, is checked.
var knownDigests = map[string]string{
	"0":       "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9",
	"1":       "9c2e4d8fe97d881430de4e754b4205b9c27ce96715231cffc4337340cb110280",
	"12":      "f61dfe165988f16397824bec2225c98efeac60f3ebc1f60c426d303e35c9a616",
	"012":     "e858d78c2d4f93b7ed260e4de82aa540f187a4e5689c0af35b1c70b013296866",
	"1000":    "0e1bc1b458a262838a69f2be4e15e053aed13e3384454b586f86bcf6bef85c47",
	"0000005": "fd8a7dd141024c689815a64edb54021964b59b25e5d0e632e54231fe207ac4a7",
}

func TestAppendWork(t *testing.T) {
	t.Parallel()
	for p, want := range knownDigests {
		if got := string(AppendWork(nil, []byte(p))); got != "echo: "+want+"\n" {
			t.Errorf("AppendWork(%q) = %q, want the digest %s", p, got, want)
		}
	}
	for _, p := range []string{"", "-1", "+1", " 1", "1 ", "1\r", "1000001", "9999999", "00000001", "1e3", "0x10", "١"} {
		got := string(AppendWork(nil, []byte(p)))
		if !strings.HasPrefix(got, WorkErrorTag) || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
			t.Errorf("AppendWork(%q) = %q, want one line starting %q", p, got, WorkErrorTag)
		}
	}
}

func TestParseWork(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p  string
		n  int
		ok bool
	}{
		{"0", 0, true}, {"0000000", 0, true}, {"1000000", 1000000, true}, {"1000001", 0, false},
		{"", 0, false}, {"12345678", 0, false}, {"12a", 0, false},
	} {
		n, ok := ParseWork([]byte(c.p))
		if ok != c.ok || ok && n != c.n {
			t.Errorf("ParseWork(%q) = %d, %v; want %d, %v", c.p, n, ok, c.n, c.ok)
		}
	}
}
