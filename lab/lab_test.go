package lab

import "testing"

func TestUpstreamVersion(t *testing.T) {
	for in, want := range map[string]string{
		"24.11.0-1":              "24.11.0",
		"4:14.2.0-1":             "14.2.0",
		"20.19.2+dfsg-1+deb13u3": "20.19.2",
		"18.20.4+dfsg-1~deb12u3": "18.20.4",
		"0.21.0+ds1-3":           "0.21.0",
		"go1.26.8":               "1.26.8",
		"1.2.3":                  "1.2.3",
		"":                       "",
	} {
		if got := UpstreamVersion(in); got != want {
			t.Errorf("UpstreamVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
