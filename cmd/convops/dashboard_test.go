package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/convops/convops/client"
	"github.com/convops/convops/internal/testkit"
)

// chromium finds a Chromium to drive. Without one the test is skipped,
// unless CONVOPS_REQUIRE_BROWSER is set (CI sets it, after installing
// Debian's chromium), so that it can never be skipped unnoticed there.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CONVOPS_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH, and CONVOPS_REQUIRE_BROWSER is set")
	}
	t.Skip("no chromium on PATH (apt-get install chromium); the wallboard is not tested")
	return ""
}

// pageState is what the wallboard shows.
type pageState struct {
	Status string            `json:"status"`
	Tiles  map[string]string `json:"tiles"` // id → text shown
	Raw    map[string]string `json:"raw"`   // id → the API's value
	Skills [][]string        `json:"skills"`
	Agents [][]string        `json:"agents"`
	Bars   int               `json:"bars"`
	Levels int               `json:"levels"` // points of the service-level line
	Remote []string          `json:"remote"` // resources loaded from another origin
}

const readPage = `(() => {
  const tiles = {}, raw = {};
  for (const id of ["total-ccp", "total-consumer", "total-system", "total-resolved", "avg-handling", "p90-handling", "service-level"]) {
    const el = document.getElementById(id);
    tiles[id] = el.textContent; raw[id] = el.dataset.value || "";
  }
  const rows = (id) => Array.from(document.querySelectorAll("#" + id + " tbody tr")).map((tr) => Array.from(tr.children).map((td) => td.textContent));
  return {
    status: document.getElementById("status").dataset.state,
    tiles, raw, skills: rows("skills"), agents: rows("agents"),
    bars: document.querySelectorAll("#chart svg g > rect").length,
    levels: (document.querySelector("#chart polyline.sl")?.getAttribute("points") || "").split(" ").filter(Boolean).length,
    remote: performance.getEntriesByType("resource").map((e) => e.name).filter((n) => !n.startsWith(location.origin)),
  };
})()`

// TestDashboardInChromium drives the wallboard in headless Chromium against
// a server with known data: the numbers on the page are the API's, they
// change when events are ingested, the tables sort, and screenshots at
// 1280×800 and 390×844 are written to the test's temp dir (or to
// $CONVOPS_SCREENSHOTS, to keep them).
func TestDashboardInChromium(t *testing.T) {
	browser := chromium(t)
	s := startServer(t, "--data-dir", t.TempDir(), "--now", testkit.NowText)
	post := func(events string) {
		t.Helper()
		if status, body := s.do(t, "POST", "/ingest/account/wall/events", testToken, events); status != 200 {
			t.Fatalf("ingest: %d %s", status, body)
		}
	}
	var b strings.Builder
	b.WriteString("[")
	for i := range 300 {
		if i > 0 {
			b.WriteString(",")
		}
		by := []string{"CCP", "CCP", "CONSUMER", "SYSTEM"}[i%4]
		agent := ""
		if i%7 != 0 {
			agent = fmt.Sprintf(`"agentId":%d,`, 100+i%12)
		}
		at := time.Date(2026, 11, 27, 13, 29, 0, 0, time.UTC).Add(-time.Duration(i*4) * time.Minute)
		fmt.Fprintf(&b, `{"conversationId":"w%d","skillId":%d,%s"resolvedBy":"%s","resolvedAt":"%s","handlingTimeMs":%d}`,
			i, 1+i%5, agent, by, at.Format(time.RFC3339), 60000+i*7000)
	}
	b.WriteString("]")
	post(b.String())

	// The page asks for the last 24 hours in 1-hour intervals, every skill
	// and every agent, their 90th percentile and their service level for
	// the target (10 minutes until it is changed).
	target := 600
	want := func() client.Answer {
		params := fmt.Sprintf("v=1&timeframe=1440&interval=60&skillIds=all&agentIds=all&percentiles=90&thresholds=%d", target)
		_, body := s.do(t, "GET", "/operations/api/account/wall/msgconversation?"+params, testToken, "")
		var a client.Answer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 800))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browserCtx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first action starts the browser, which lives as long as the
	// context of that action: that one has no timeout, the others do.
	if err := chromedp.Do(browserCtx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browserCtx, 2*time.Minute)
	defer cancelTimeout()

	page := s.url + "/dashboard/#" + url.Values{"account": {"wall"}, "token": {testToken}}.Encode()
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#board"))); err != nil {
		t.Fatalf("open the wallboard: %v", err)
	}
	// The page's icon is there (a browser asks for one, and a 404 is an
	// error in its console), and / leads to the page.
	icon, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`fetch(document.querySelector('link[rel="icon"]').href).then(r => r.status + " " + r.headers.get("Content-Type"))`, chromedp.EvalAwaitPromise))
	if err != nil || icon != "200 image/svg+xml" {
		t.Errorf("the page's icon: %q, %v", icon, err)
	}
	landed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/").then(r => new URL(r.url).pathname + " " + r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || landed != "/dashboard/ 200" {
		t.Errorf("/ in the browser: %q, %v", landed, err)
	}
	read := func() pageState {
		t.Helper()
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return st
	}
	// showing waits until the page shows a's numbers everywhere (its two
	// streams arrive apart), and reports what still differs after 30 s.
	showing := func(a client.Answer) pageState {
		t.Helper()
		var st pageState
		deadline := time.Now().Add(30 * time.Second)
		for {
			st = read()
			problems := pageProblems(st, a, target)
			if st.Status == "live" && len(problems) == 0 {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page (%s) does not show the API's answer: %s", st.Status, strings.Join(problems, "; "))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	a := want()
	st := showing(a)
	if len(st.Remote) > 0 {
		t.Errorf("the page loaded resources from elsewhere: %v", st.Remote)
	}
	// The fragment's token is kept in the browser and taken out of the address.
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	kept, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("convops.wallboard")`))
	if strings.Contains(href, testToken) || !strings.Contains(kept, testToken) {
		t.Errorf("address %q, storage %q: the token belongs in storage only", href, kept)
	}
	shoot(t, ctx, "wallboard-1280x800.png", 1280, 800)

	// Events ingested: the page follows.
	post(`[{"conversationId":"new-1","skillId":2,"agentId":105,"resolvedBy":"SYSTEM","resolvedAt":"2026-11-27T13:29:10Z","handlingTimeMs":5000},
	       {"conversationId":"new-2","skillId":9,"agentId":200,"resolvedBy":"CONSUMER","resolvedAt":"2026-11-27T13:28:10Z","handlingTimeMs":1000}]`)
	a2 := want()
	if totals(&a2.MetricsData).Resolved != totals(&a.MetricsData).Resolved+2 {
		t.Fatalf("the API's total went from %d to %d", totals(&a.MetricsData).Resolved, totals(&a2.MetricsData).Resolved)
	}
	showing(a2)

	// Another target: the service level, its tile and its column, follow.
	target = 1800
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#target"), "1800")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("target").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	showing(want())

	// The skills table sorts by a column on a click, and back.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#skills th:first-child`))); err != nil {
		t.Fatal(err)
	}
	st = read()
	for i := 1; i < len(st.Skills); i++ {
		if skillOrder(st.Skills[i-1][0]) > skillOrder(st.Skills[i][0]) {
			t.Errorf("after a click on Skill, rows are not in ascending order: %v", st.Skills)
			break
		}
	}

	// A phone.
	shoot(t, ctx, "wallboard-390x844.png", 390, 844)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || overflow {
		t.Error("the page is wider than a 390-pixel phone")
	}
}

func skillOrder(text string) int {
	if text == "unassigned" {
		return -1
	}
	n, _ := strconv.Atoi(text)
	return n
}

// shoot writes a screenshot of the viewport at w×h.
func shoot(t *testing.T, ctx context.Context, name string, w, h int64) {
	t.Helper()
	// The chart is drawn again 150 ms after a resize.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h), chromedp.Sleep(500*time.Millisecond)); err != nil {
		t.Fatalf("resize: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("CONVOPS_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// pageProblems compares what the page shows with the API's answer, its
// service levels those of target (seconds), and says what differs.
func pageProblems(st pageState, a client.Answer, target int) []string {
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	m := totals(&a.MetricsData)
	p90, level := m.Percentiles["90"].All, m.Within[target].ServiceLevel
	if st.Raw["p90-handling"] != strconv.FormatInt(p90, 10) || st.Tiles["p90-handling"] != formatMs(float64(p90)) {
		errorf("the p90 tile shows %q (value %q), the API says %d ms", st.Tiles["p90-handling"], st.Raw["p90-handling"], p90)
	}
	if st.Raw["service-level"] != strconv.FormatFloat(level, 'f', -1, 64) || st.Tiles["service-level"] != percent(level) {
		errorf("the service-level tile shows %q (value %q), the API says %v", st.Tiles["service-level"], st.Raw["service-level"], level)
	}
	for id, want := range map[string]int64{"total-ccp": m.ResolvedByCCP, "total-consumer": m.ResolvedByConsumer, "total-system": m.ResolvedBySystem, "total-resolved": m.Resolved} {
		if st.Tiles[id] != commas(want) || st.Raw[id] != strconv.FormatInt(want, 10) {
			errorf("%s shows %q (value %q), want %s", id, st.Tiles[id], st.Raw[id], commas(want))
		}
	}
	if got, _ := strconv.ParseFloat(st.Raw["avg-handling"], 64); got != m.AvgTime || st.Tiles["avg-handling"] != formatMs(m.AvgTime) {
		errorf("average handling time shows %q (value %q), want %s (%v)", st.Tiles["avg-handling"], st.Raw["avg-handling"], formatMs(m.AvgTime), m.AvgTime)
	}
	if len(st.Skills) != len(a.SkillsMetricsPerAgent.MetricsPerSkill) || len(st.Agents) != len(a.AgentsMetrics.MetricsPerAgent) {
		errorf("tables of %d skills and %d agents, want %d and %d", len(st.Skills), len(st.Agents), len(a.SkillsMetricsPerAgent.MetricsPerSkill), len(a.AgentsMetrics.MetricsPerAgent))
	}
	for _, row := range st.Skills {
		id := row[0]
		if id == "unassigned" {
			id = "-1"
		}
		s, ok := a.SkillsMetricsPerAgent.MetricsPerSkill[id]
		if !ok || row[1] != commas(s.MetricsTotals.Resolved) || row[2] != commas(s.MetricsTotals.ResolvedByCCP) || row[5] != formatMs(s.MetricsTotals.AvgTime) ||
			row[6] != formatMs(float64(s.MetricsTotals.Percentiles["90"].All)) || row[7] != percent(s.MetricsTotals.Within[target].ServiceLevel) {
			errorf("skill row %v, the API says %+v", row, s.MetricsTotals)
		}
	}
	for _, row := range st.Agents {
		ag, ok := a.AgentsMetrics.MetricsPerAgent[row[0]]
		if !ok || row[1] != commas(ag.Resolved) || row[3] != commas(ag.ResolvedByConsumer) || row[4] != commas(ag.ResolvedBySystem) ||
			row[6] != formatMs(float64(ag.Percentiles["90"].All)) || row[7] != percent(ag.Within[target].ServiceLevel) {
			errorf("agent row %v, the API says %+v", row, ag)
		}
	}
	if st.Bars == 0 {
		errorf("the chart has no bars")
	}
	// One point of the service-level line per interval with conversations.
	withData := 0
	for _, iv := range a.MetricsByIntervals {
		if totals(&iv.MetricsData).Resolved > 0 {
			withData++
		}
	}
	if st.Levels != withData || withData == 0 {
		errorf("the service-level line has %d points, the API %d intervals with conversations", st.Levels, withData)
	}
	return problems
}

// percent writes a service level as the page does: "61.7%".
func percent(level float64) string { return strconv.FormatFloat(100*level, 'f', 1, 64) + "%" }

// commas writes n with thousands separators, as the page does.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
