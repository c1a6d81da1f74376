package upstream

import (
	"strings"
	"testing"
)

// FuzzTranslate: any text, valid UTF-8 or not, becomes one line of body,
// the same each time.
func FuzzTranslate(f *testing.F) {
	for _, s := range []string{"hello my friend", "Hello\r\nWorld", "\xff\xfe\x00hello", "", "treasure+map%20", strings.Repeat("a", 70000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := Translate(text)
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("Translate(%q) = %q holds a line break", text, got)
		}
		if again := Translate(text); again != got {
			t.Errorf("Translate(%q) twice: %q, then %q", text, got, again)
		}
	})
}
