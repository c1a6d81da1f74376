//go:build browser

package report

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/linelab/linelab/lab"
	"github.com/linelab/linelab/lab/results"
)

// TestBrowserReport opens a report from disk in headless Chromium with the
// network off, and checks that no console error and no network request
// happens, and that every chart draws every implementation it names. It
// judges the report of LINELAB_RUN (a run folder, as `make test` passes
// after its quick run) or, without it, the fixture's. The screenshot is saved
// beside the report and its path logged.
func TestBrowserReport(t *testing.T) {
	dir := os.Getenv("LINELAB_RUN")
	var f *results.File
	if dir == "" {
		// Kept after the test, so the screenshot can be looked at.
		dir = filepath.Join(os.TempDir(), "linelab-report-fixture")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f = fixture()
	} else {
		var err error
		if f, err = results.Load(dir); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFiles(dir, f); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	ctx, done := browser(t)
	defer done()

	var mu sync.Mutex
	var problems, requests []string
	err = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console.%s", e.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				problems = append(problems, "log: "+e.Entry.Text)
			}
		case *network.EventRequestWillBeSent:
			if u := e.Request.URL; !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
				requests = append(requests, u)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}},
	}); err != nil {
		t.Fatal(err)
	}
	// The viewport of a common laptop screen, 1,366 × 768, whatever the
	// browser's own frame takes.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path)); err != nil {
		t.Fatal(err)
	}
	// Every figure names its series; each must be drawn: a group with at
	// least one mark (point, bar or line) for every implementation.
	check := `(() => {
	  const out = {charts: 0, bad: []};
	  document.querySelectorAll("figure.chart-figure").forEach((fig, i) => {
	    out.charts++;
	    const svg = fig.querySelector("svg");
	    const title = fig.querySelector("figcaption").textContent;
	    if (!svg || svg.getBoundingClientRect().width < 100) { out.bad.push(title + ": no visible SVG"); return; }
	    for (const name of fig.dataset.series.split(",").filter(Boolean)) {
	      const g = Array.from(svg.querySelectorAll("g.series")).find(g => g.getAttribute("data-impl") === name);
	      if (!g || g.querySelectorAll("circle, rect.bar, polyline").length === 0) out.bad.push(title + ": nothing drawn for " + name);
	    }
	  });
	  return out;
	})()`
	type verdict struct {
		Charts int      `json:"charts"`
		Bad    []string `json:"bad"`
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[verdict](check))
	if err != nil {
		t.Fatal(err)
	}
	// The page opens on its answers: within the first two screens of a
	// 1,366 × 768 laptop, the headline sentences and the talk's claims,
	// each with a verdict; then the matrix, starting within them (a row
	// for every implementation but the floor, a column for every scenario
	// the machine ran), no wider than the window, no cell taller than three
	// lines, and in every cell a figure or the reason there is none.
	first := `(() => {
	  const t = document.getElementById("matrix");
	  if (!t) return {top: -1};
	  const hl = Array.from(document.querySelectorAll("#headlines li"));
	  const claims = document.getElementById("claims-table");
	  // Lines of text in a cell: each block (the ratio, the value, the
	  // range, or the reason there is none) by its height over its line.
	  const lines = e => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight));
	  const tallest = Math.max(...Array.from(t.querySelectorAll("td a")).map(a => {
	    const parts = Array.from(a.querySelectorAll(".v, .muted"));
	    return (a.querySelector("strong") ? 1 : 0) + parts.reduce((n, e) => n + lines(e), 0);
	  }));
	  return {
	    top: t.getBoundingClientRect().top, screen: window.innerHeight,
	    bottom: t.getBoundingClientRect().bottom + window.scrollY, width: t.getBoundingClientRect().right, window: window.innerWidth,
	    headlines: hl.length, headlinesBottom: hl.length ? hl[hl.length - 1].getBoundingClientRect().bottom + window.scrollY : 0,
	    tallest: tallest,
	    claims: claims ? Array.from(claims.querySelectorAll("tr[data-claim]")).map(r => r.dataset.claim + ": " + r.lastElementChild.textContent.trim()) : [],
	    claimsTop: claims ? claims.getBoundingClientRect().top + window.scrollY : -1,
	    claimsBottom: claims ? claims.getBoundingClientRect().bottom + window.scrollY : -1,
	    // Nothing on the page may make it scroll sideways.
	    wide: document.documentElement.scrollWidth <= window.innerWidth ? [] : Array.from(document.querySelectorAll("main *")).filter(e => {
	      if (e.getBoundingClientRect().right <= window.innerWidth + 1) return false;
	      for (let p = e.parentElement; p; p = p.parentElement) if (getComputedStyle(p).overflowX !== "visible") return false;
	      return true;
	    })
	      .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && e.className.baseVal === undefined ? "." + e.className : "")),
	    rows: Array.from(t.querySelectorAll("tr[data-impl]")).map(r => r.dataset.impl),
	    cols: Array.from(t.querySelectorAll("th[data-scenario]")).map(c => c.dataset.scenario),
	    blank: Array.from(t.querySelectorAll("td")).filter(td => td.textContent.trim() === "").length,
	    csvless: Array.from(document.querySelectorAll("figure.chart-figure")).filter(fig => {
	      const a = fig.querySelector("a.csv");
	      return !a || !a.getAttribute("href").startsWith("data:text/csv") || a.getAttribute("href").length < 60;
	    }).map(fig => fig.querySelector("figcaption").textContent),
	    // In a knee's verdict every rate but the ideal's comes with its range.
	    knees: Array.from(document.querySelectorAll(".verdict[data-knee] p, .verdict[data-knee] td")).map(e => e.textContent)
	      .filter(x => /\d lines\/s(?! \()/.test(x) && !/below the lowest rate/.test(x)),
	  };
	})()`
	type screen struct {
		Top             float64  `json:"top"`
		Screen          float64  `json:"screen"`
		Bottom          float64  `json:"bottom"`
		Width           float64  `json:"width"`
		Window          float64  `json:"window"`
		Headlines       int      `json:"headlines"`
		HeadlinesBottom float64  `json:"headlinesBottom"`
		Tallest         float64  `json:"tallest"`
		Claims          []string `json:"claims"`
		ClaimsTop       float64  `json:"claimsTop"`
		ClaimsBottom    float64  `json:"claimsBottom"`
		Wide            []string `json:"wide"`
		Rows            []string `json:"rows"`
		Cols            []string `json:"cols"`
		Blank           int      `json:"blank"`
		CSVless         []string `json:"csvless"`
		Knees           []string `json:"knees"`
	}
	sc, err := chromedp.Run(ctx, chromedp.Evaluate[screen](first))
	if err != nil {
		t.Fatal(err)
	}
	var wantRows, wantCols []string
	for _, impl := range f.Implementations {
		if impl.Role != lab.RoleFloor {
			wantRows = append(wantRows, impl.Name)
		}
	}
	for _, s := range f.Scenarios {
		if !slices.ContainsFunc(f.Skipped, func(sk results.Skip) bool { return sk.Impl == "" && sk.Scenario == s.Name }) {
			wantCols = append(wantCols, s.Name)
		}
	}
	switch {
	case sc.Top < 0:
		t.Error("the page has no matrix")
	case sc.Top > 2*sc.Screen:
		t.Errorf("the matrix starts at %.0f px, past the second screen (%.0f px)", sc.Top, 2*sc.Screen)
	case sc.Width > sc.Window:
		t.Errorf("the matrix is %.0f px wide, wider than the window (%.0f px)", sc.Width, sc.Window)
	case sc.Tallest > 3:
		t.Errorf("a matrix cell is %.1f lines of text tall; want at most three", sc.Tallest)
	}
	if want := len(Build(f).Headlines); sc.Headlines != want || want == 0 {
		t.Errorf("%d headline sentences on the page, want %d (and at least one)", sc.Headlines, want)
	} else if sc.HeadlinesBottom > 2*sc.Screen {
		t.Errorf("the headline sentences end at %.0f px, past the second screen", sc.HeadlinesBottom)
	}
	switch {
	case len(sc.Claims) != len(lab.Claims):
		t.Errorf("the claims section has %d claims (%q), want %d", len(sc.Claims), sc.Claims, len(lab.Claims))
	case sc.ClaimsBottom > 2*sc.Screen:
		t.Errorf("the claims end at %.0f px, past the second screen (%.0f px)", sc.ClaimsBottom, 2*sc.Screen)
	}
	for _, c := range sc.Claims {
		if _, verdict, _ := strings.Cut(c, ": "); !strings.HasPrefix(verdict, "holds") && !strings.HasPrefix(verdict, "does not hold") && !strings.HasPrefix(verdict, "cannot tell") {
			t.Errorf("a claim without a verdict: %q", c)
		}
	}
	for _, w := range sc.Wide {
		t.Errorf("%s reaches past the window's right edge: the page scrolls sideways", w)
	}
	t.Logf("first screens: headlines to %.0f px, claims %.0f–%.0f px, matrix %.0f–%.0f px, %.0f px wide, tallest cell %.0f lines", sc.HeadlinesBottom, sc.ClaimsTop, sc.ClaimsBottom, sc.Top, sc.Bottom, sc.Width, sc.Tallest)
	for _, c := range sc.Claims {
		t.Logf("claim %s", c)
	}
	if !slices.Equal(sc.Rows, wantRows) || !slices.Equal(sc.Cols, wantCols) {
		t.Errorf("matrix rows %v cols %v, want %v and %v", sc.Rows, sc.Cols, wantRows, wantCols)
	}
	if sc.Blank > 0 {
		t.Errorf("%d matrix cells say nothing", sc.Blank)
	}
	for _, c := range sc.CSVless {
		t.Errorf("chart %q has no CSV of its data", c)
	}
	for _, k := range sc.Knees {
		t.Errorf("a knee without its range: %q", k)
	}
	impls, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("section[id^=code-]").length`))
	if err != nil {
		t.Fatal(err)
	}
	if impls != len(f.Implementations) {
		t.Errorf("%d handlers in the code section, want %d", impls, len(f.Implementations))
	}
	// Side by side, as the talk showed them: the first two handlers share a row.
	row, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
	  const c = document.querySelectorAll("section[id^=code-]");
	  return c.length < 2 || Math.abs(c[0].getBoundingClientRect().top - c[1].getBoundingClientRect().top) < 1;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if !row {
		t.Error("the handlers are not side by side")
	}
	first1, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report-first-screen.png"), first1, 0o644); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(dir, "report-screenshot.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	t.Logf("report %s (%d bytes), %d charts, %d implementations; screenshot %s", path, info.Size(), v.Charts, impls, shotPath)

	mu.Lock()
	defer mu.Unlock()
	if v.Charts == 0 {
		t.Error("the page has no charts")
	}
	for _, b := range v.Bad {
		t.Error(b)
	}
	for _, p := range problems {
		t.Error(p)
	}
	for _, r := range requests {
		t.Errorf("network request to %s", r)
	}
}

// browser starts headless Chromium with no way to the network, and
// returns a tab's context and what ends it.
func browser(t *testing.T) (context.Context, func()) {
	t.Helper()
	chrome := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chrome = p
			break
		}
	}
	if chrome == "" {
		t.Fatal("no chromium on PATH: install it (apt-get install chromium); .ci/run does")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		// Belt and braces: a request that still got past the offline
		// emulation would meet a proxy on loopback that is not there.
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.WindowSize(1366, 768),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	ctx, cancelTab := chromedp.NewContext(ctx)
	return ctx, func() { cancelTab(); cancelAlloc(); cancel() }
}

// TestBrowserHostileReport renders a run whose server answers, sources,
// descriptions and failures hold script, event handlers and javascript:
// URLs (hostileFixture), opens it, and wants none of them to run or to be
// a live link or element.
func TestBrowserHostileReport(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFiles(dir, hostileFixture()); err != nil {
		t.Fatal(err)
	}
	ctx, done := browser(t)
	defer done()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(dir, File))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // what an onload or onerror would do, it has done
	type seen struct {
		Pwned    any `json:"pwned"`
		JSLinks  int `json:"jsLinks"`
		Handlers int `json:"handlers"`
		Scripts  int `json:"scripts"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[seen](`({
	  pwned: window.__pwned === undefined ? null : window.__pwned,
	  jsLinks: document.querySelectorAll('[href^="javascript:" i], [src^="javascript:" i], [action^="javascript:" i]').length,
	  handlers: Array.from(document.querySelectorAll("*")).filter(e => Array.from(e.attributes).some(a => /^on/i.test(a.name))).length,
	  scripts: Array.from(document.scripts).filter(s => /__pwned/.test(s.textContent)).length,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Pwned != nil || got.JSLinks > 0 || got.Handlers > 0 || got.Scripts > 0 {
		t.Errorf("hostile text came alive: %+v", got)
	}
}
