package upstream

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTranslate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"hello my friend":            "ahoy me matey",
		"Hello, where is the money?": "Ahoy, whar be th' doubloons?",
		"unknown words stay":         "unknown words stay",
		"a\rb\nc":                    "a b c",
		"\x00\xff hello":             "\x00\xff ahoy",
		"":                           "",
		"hellothere":                 "hellothere",
	} {
		if got := Translate(in); got != want {
			t.Errorf("Translate(%q) = %q, want %q", in, got, want)
		}
	}
	if len(pirate) < 30 {
		t.Errorf("dictionary has %d words, want at least 30", len(pirate))
	}
}

// serve runs svc on a loopback port until the test ends and returns its URL.
func serve(t *testing.T, svc *Service) string {
	t.Helper()
	url, err := svc.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown() })
	return url
}

func get(t *testing.T, srv, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestService(t *testing.T) {
	t.Parallel()
	svc, err := New(Behaviour{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, svc)
	if code, body := get(t, srv, "/translate?text="+url.QueryEscape("hello; my friend")); code != 200 || body != "ahoy; me matey" {
		t.Errorf("translate: %d %q", code, body)
	}
	if code, body := get(t, srv, "/translate?text=a;b+c"); code != 200 || body != "a;b c" {
		t.Errorf("raw ';' and '+': %d %q", code, body)
	}
	if code, _ := get(t, srv, "/translate"); code != 400 {
		t.Errorf("no text: %d", code)
	}
	if code, body := get(t, srv, "/healthz"); code != 200 || body != "ok" {
		t.Errorf("healthz: %d %q", code, body)
	}
	// Change the behaviour while it runs: every answer fails now.
	resp, err := http.Post(srv+"/control?error_rate=1&latency=1ms", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("control: %v %v", err, resp.Status)
	}
	if code, _ := get(t, srv, "/translate?text=x"); code != 503 {
		t.Errorf("after error_rate=1: %d, want 503", code)
	}
	for _, bad := range []string{"error_rate=2", "latency=2h", "jitter=-1s", "slow_latency=87600h", "refuse=10m", "refuse=0s"} {
		resp, _ = http.Post(srv+"/control?"+bad, "", nil)
		if resp.StatusCode != 400 {
			t.Errorf("%s accepted: %s", bad, resp.Status)
		}
		resp.Body.Close()
	}
	_, body := get(t, srv, "/stats")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests != 4 || st.Translated != 2 || st.Errors != 1 || st.BadRequest != 1 {
		t.Errorf("stats %+v", st)
	}
	http.Post(srv+"/stats/reset", "", nil)
	if svc.Stats() != (Stats{}) {
		t.Errorf("after reset: %+v", svc.Stats())
	}
}

func TestLatencyAndJitter(t *testing.T) {
	t.Parallel()
	svc, _ := New(Behaviour{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond}, 7)
	for range 200 {
		d, fail, slow := svc.draw()
		if d < 10*time.Millisecond || d > 30*time.Millisecond || fail || slow {
			t.Fatalf("draw = %v %v %v, want 10–30 ms", d, fail, slow)
		}
	}
	svc.SetBehaviour(Behaviour{SlowRate: 1, SlowLatency: time.Second})
	if d, _, slow := svc.draw(); !slow || d != time.Second {
		t.Fatalf("slow draw = %v %v", d, slow)
	}
}

func TestParseBehaviour(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LATENCY": "50ms", "JITTER": "10ms", "ERROR_RATE": "0.5"}
	b, err := ParseBehaviour(Behaviour{}, func(k string) string { return env[k] })
	if err != nil || b.Latency != 50*time.Millisecond || b.Jitter != 10*time.Millisecond || b.ErrorRate != 0.5 {
		t.Fatalf("%+v %v", b, err)
	}
	_, err = ParseBehaviour(Behaviour{}, func(k string) string { return map[string]string{"LATENCY": "soon"}[k] })
	if err == nil || !strings.Contains(err.Error(), `latency="soon"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestBrokenRoutes checks the three prefixes that break the contract on
// purpose, as the conformance suite relies on them.
func TestBrokenRoutes(t *testing.T) {
	t.Parallel()
	svc, err := New(Behaviour{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, svc)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(srv + "/redirect/translate?text=hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/translate?text=hello" {
		t.Errorf("redirect: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if code, body := get(t, srv, "/huge/translate?text=x"); code != 200 || len(body) != MaxBody+1 || strings.ContainsAny(body, "\r\n") {
		t.Errorf("huge: %d, %d bytes", code, len(body))
	}
	start := time.Now()
	resp, err = http.Get(srv + "/drip/translate?text=x")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	_, err = io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	if took := time.Since(start); err != nil || took < 2*DripEvery {
		t.Errorf("drip: 3 bytes in %v (%v), want at least %v", took, err, 2*DripEvery)
	}
}

// An outage closes the kept-alive connections, refuses new ones, and ends
// by itself; the connection that asked for it gets its answer.
func TestOutage(t *testing.T) {
	t.Parallel()
	svc, err := New(Behaviour{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, svc)
	host := strings.TrimPrefix(srv, "http://")
	kept, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	fmt.Fprintf(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(kept)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("kept-alive request: %v %v", resp, err)
	} else {
		io.ReadAll(resp.Body)
	}
	resp, err := http.Post(srv+"/control?refuse=400ms", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("control: %s, close %v; want 200 and the connection closed after it", resp.Status, resp.Close)
	}
	began := time.Now()
	kept.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("the kept-alive connection: read %v, want EOF (closed by the outage)", err)
	}
	if c, err := net.Dial("tcp", host); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Errorf("connecting during the outage: %v, want connection refused", err)
	}
	if resp, err := http.Post(srv+"/control?refuse=1s", "", nil); err == nil {
		resp.Body.Close()
		t.Errorf("a second outage during the first was answered %s", resp.Status)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", host)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still down 3 s after a 400 ms outage: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(began); d < 350*time.Millisecond {
		t.Errorf("back after %v, want about 400 ms", d)
	}
	if code, body := get(t, srv, "/translate?text=hello"); code != 200 || body != "ahoy" {
		t.Errorf("after the outage: %d %q", code, body)
	}
	if resp, err := http.Post(srv+"/control?refuse=soon", "", nil); err != nil || resp.StatusCode != 400 {
		t.Errorf("refuse=soon: %v %v, want 400", resp, err)
	}
}
