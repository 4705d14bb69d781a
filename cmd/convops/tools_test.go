package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// runCommand runs `convops args…` in-process and returns its output and error.
func runCommand(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	out, errOut := &testkit.Buffer{}, &testkit.Buffer{}
	m := &Main{Stdout: out, Stderr: errOut, Getenv: func(string) string { return "" }}
	err = m.Run(context.Background(), args)
	return out.String(), errOut.String(), err
}

// TestVersion: --version names the build, and a binary built by go build
// in a git checkout the commit it was built from.
func TestVersion(t *testing.T) {
	out, _, err := runCommand(t, "--version")
	if err != nil || !regexp.MustCompile(`^convops \S+ commit \S+.*, go1\.\d+`).MatchString(out) {
		t.Fatalf("--version: %q, %v", out, err)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): the commit a build records is not checked", err)
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	built, err := exec.Command(bin, "--version").Output()
	if want := "commit " + strings.TrimSpace(string(head)); err != nil || !strings.Contains(string(built), want) {
		t.Errorf("the binary's --version: %q, %v; want %q", built, err, want)
	}

	// A release is stamped as scripts/release stamps it, and says so
	// even when the toolchain records nothing of the checkout.
	stamped := filepath.Join(t.TempDir(), "convops")
	ldflags := "-X main.version=9.8.7 -X main.commit=0123abcd -X main.built=2026-12-06T12:00:00Z"
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-ldflags", ldflags, "-o", stamped, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	got, err := exec.Command(stamped, "--version").Output()
	if want := "convops 9.8.7 commit 0123abcd (2026-12-06T12:00:00Z), go1."; err != nil || !strings.HasPrefix(string(got), want) {
		t.Errorf("a stamped build's --version: %q, %v; want it to begin %q", got, err, want)
	}
}

// TestIngestAndQueryCommands: `convops ingest` sends a JSON array and an
// NDJSON file, sends again what the server could not take at once, reports
// refused lines by number; `convops query` prints the API's answer.
func TestIngestAndQueryCommands(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--now", testkit.NowText)

	// A JSON array over several lines: one invalid event on line 4, one
	// repeated on line 5.
	array := `[
  {"conversationId":"c1","skillId":3,"agentId":2,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":426000},
  {"conversationId":"c2","skillId":3,"agentId":6,"resolvedBy":"CONSUMER","resolvedAt":"2026-11-27T13:21:00Z","handlingTimeMs":95000},
  {"conversationId":"bad","resolvedBy":"NOBODY","resolvedAt":"2026-11-27T13:21:00Z","handlingTimeMs":1},
  {"conversationId":"c1","skillId":3,"agentId":2,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":426000}
]`
	arrayFile := filepath.Join(dir, "events.json")
	os.WriteFile(arrayFile, []byte(array), 0o600)

	// The server refuses the first two requests with 503: they are sent again.
	flaky := flakyProxy(t, s.url, 2)

	out, errOut, err := runCommand(t, "ingest", "--url", flaky, "--token", testToken, "--account", "123", "--batch", "2", arrayFile)
	if err == nil || !strings.Contains(err.Error(), "1 of 4 lines were refused") {
		t.Errorf("ingest: err %v", err)
	}
	if !strings.Contains(out, "4 events read: 2 accepted, 1 duplicates, 1 refused") || !strings.Contains(out, "line 4: ") {
		t.Errorf("ingest summary:\n%s", out)
	}
	if !strings.Contains(errOut, "retrying in") {
		t.Errorf("no retry reported:\n%s", errOut)
	}

	// NDJSON, with a line that is not JSON (line 2) and a blank line.
	ndjson := `{"conversationId":"c3","skillId":4,"resolvedBy":"SYSTEM","resolvedAt":1795786000000,"handlingTimeMs":3600000}
not json

{"conversationId":"c4","agentId":2,"resolvedBy":"consumer","resolvedAt":"2026-11-27T13:25:00Z","handlingTimeMs":1000}
`
	ndjsonFile := filepath.Join(dir, "events.ndjson")
	os.WriteFile(ndjsonFile, []byte(ndjson), 0o600)
	out, _, err = runCommand(t, "ingest", "--url", s.url, "--token", testToken, "--account", "123", ndjsonFile)
	if err == nil || !strings.Contains(out, "3 events read: 2 accepted, 0 duplicates, 1 refused") || !strings.Contains(out, "line 2: the line is not a JSON object") {
		t.Errorf("ndjson ingest: %v\n%s", err, out)
	}

	// At a bound of the server, the lines before are sent, the rest not.
	bounded := startServer(t, "--data-dir", filepath.Join(dir, "bounded"), "--now", testkit.NowText, "--max-agents-per-account", "2")
	var lines strings.Builder
	for i := range 6 {
		fmt.Fprintf(&lines, `{"conversationId":"b%d","agentId":%d,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:25:00Z","handlingTimeMs":1}`+"\n", i, i)
	}
	boundFile := filepath.Join(dir, "bound.ndjson")
	os.WriteFile(boundFile, []byte(lines.String()), 0o600)
	out, _, err = runCommand(t, "ingest", "--url", bounded.url, "--token", testToken, "--account", "123", boundFile)
	if err == nil || !strings.Contains(err.Error(), "line 3: ") || !strings.Contains(err.Error(), "--max-agents-per-account") ||
		!strings.Contains(out, "2 accepted") {
		t.Errorf("ingest past a bound: %v\n%s", err, out)
	}

	// {"events": [...]} on one line is not NDJSON.
	wrapped := filepath.Join(dir, "wrapped.json")
	os.WriteFile(wrapped, []byte(`{"events":[{"conversationId":"c5","resolvedBy":"SYSTEM","resolvedAt":"2026-11-27T13:25:00Z","handlingTimeMs":7}]}`), 0o600)
	if out, _, err := runCommand(t, "ingest", "--url", s.url, "--token", testToken, "--account", "123", wrapped); err != nil || !strings.Contains(out, "1 accepted") {
		t.Errorf("wrapped ingest: %v\n%s", err, out)
	}

	// query --json prints the API's answer as it is.
	const params = "v=1&timeframe=60&skillIds=all&agentIds=2,6&interval=30"
	_, api := s.do(t, "GET", "/operations/api/account/123/msgconversation?"+params, testToken, "")
	out, _, err = runCommand(t, "query", "--url", s.url, "--token", testToken, "--account", "123", "--timeframe", "60",
		"--skill-ids", "all", "--agent-ids", "2,6", "--interval", "30", "--json")
	if err != nil || out != api+"\n" {
		t.Errorf("query --json: %v\n%s\nwant\n%s", err, out, api)
	}
	// The table: the account's totals, then skills with their agents.
	out, _, err = runCommand(t, "query", "--url", s.url, "--token", testToken, "--account", "123", "--timeframe", "60", "--skill-ids", "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^listed skills +5 +1 +2 +2 +`),
		regexp.MustCompile(`(?m)^skill 3 +2 +1 +1 +0 +4m 21s$`),
		regexp.MustCompile(`(?m)^  agent 2 +1 +1 +0 +0 +7m 06s$`),
		regexp.MustCompile(`(?m)^skill 4 +1 +0 +0 +1 +1h 00m$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("query table lacks %s:\n%s", want, out)
		}
	}

	// With --percentiles and --thresholds, a column each: skill 3's
	// conversations took 426 s and 95 s (p50 95 s, p90 426 s, within 1%),
	// one of two within 300 s; skill 4's one took an hour.
	out, _, err = runCommand(t, "query", "--url", s.url, "--token", testToken, "--account", "123", "--timeframe", "60", "--skill-ids", "3,4",
		"--percentiles", "50,90", "--thresholds", "300")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ +resolved +by agent +by consumer +by system +avg handling +p50 +p90 +within 300s$`),
		regexp.MustCompile(`(?m)^skill 3 +2 +1 +1 +0 +4m 21s +1m 3[45]s +7m 0[3-9]s +50.0%$`),
		regexp.MustCompile(`(?m)^  agent 6 +1 +0 +1 +0 +1m 35s +1m 3[45]s +1m 3[45]s +100.0%$`),
		regexp.MustCompile(`(?m)^skill 4 +1 +0 +0 +1 +1h 00m +(59m|1h 00m).* +0.0%$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("query table with tails lacks %s:\n%s", want, out)
		}
	}

	// Mistakes are said clearly.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "--url", s.url, "--token", testToken, "--account", "123", "--timeframe", "0"}, "400: "},
		{[]string{"query", "--url", s.url, "--token", testToken, "--account", "123", "--percentiles", "100"}, "percentiles"},
		{[]string{"query", "--url", s.url, "--token", testToken, "--account", "123", "--thresholds", "0"}, "thresholds"},
		{[]string{"query", "--url", s.url, "--account", "123"}, "no key"},
		{[]string{"query", "--url", s.url, "--token", "wrong", "--account", "123"}, "401: "},
		{[]string{"query", "--url", "localhost", "--token", testToken, "--account", "123"}, "--url must be"},
		{[]string{"ingest", "--url", s.url, "--token", testToken, "--account", "123", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"ingest", "--url", s.url, "--token", testToken, "--account", "123"}, "give one FILE"},
	} {
		if _, _, err := runCommand(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// TestMetricsEndpoint: /metrics counts requests by route and status, events
// by outcome, refusals by cause, the fold's lag, the log and the snapshot;
// no account id appears in it.
func TestMetricsEndpoint(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--now", testkit.NowText, "--max-inflight-bytes", "1048576")
	const account = "acct-5531"
	ev := `[{"conversationId":"c1","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":4},
		{"conversationId":"c2","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":4}]`
	for range 2 {
		if status, body := s.do(t, "POST", "/ingest/account/"+account+"/events", testToken, ev); status != 200 {
			t.Fatalf("ingest: %d %s", status, body)
		}
	}
	if status, _ := s.do(t, "POST", "/ingest/account/"+account+"/events", testToken, `[{"conversationId":"x"},{"conversationId":"y"},{"conversationId":"z"}]`); status != 400 {
		t.Fatalf("invalid ingest: %d", status)
	}
	if status, _ := s.do(t, "GET", "/operations/api/account/"+account+"/msgconversation?v=1&timeframe=60", testToken, ""); status != 200 {
		t.Fatal("query failed")
	}
	// A body larger than the budget allows: 429, cause memory.
	req, _ := http.NewRequest("POST", s.url+"/ingest/account/"+account+"/events", strings.NewReader(strings.Repeat(" ", 1<<20)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 429 {
		t.Fatalf("over-budget ingest: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A snapshot, asked for as an operator would.
	syscall.Kill(syscall.Getpid(), syscall.SIGUSR1)

	var families map[string]*dtoFamily
	var text string
	testkit.Eventually(t, 20*time.Second, func() bool {
		_, text = s.do(t, "GET", "/metrics", "", "")
		families = parseMetrics(t, text)
		return families["convops_snapshot_age_seconds"] != nil
	})
	if strings.Contains(text, account) {
		t.Error("an account id appears in /metrics")
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
		says   string
	}{
		{"convops_http_requests_total", map[string]string{"route": "/ingest/account/{accountID}/events", "status": "200"}, eq(2), "2"},
		{"convops_http_requests_total", map[string]string{"route": "/ingest/account/{accountID}/events", "status": "400"}, eq(1), "1"},
		{"convops_http_requests_total", map[string]string{"route": "/operations/api/account/{accountID}/msgconversation", "status": "200"}, eq(1), "1"},
		{"convops_http_request_duration_seconds", map[string]string{"route": "/operations/api/account/{accountID}/msgconversation"}, eq(1), "1 observation"},
		{"convops_ingest_events_total", map[string]string{"outcome": "accepted"}, eq(2), "2"},
		{"convops_ingest_events_total", map[string]string{"outcome": "duplicate"}, eq(2), "2"},
		{"convops_ingest_refused_events_total", map[string]string{"reason": "invalid"}, eq(3), "3"},
		{"convops_http_refused_total", map[string]string{"status": "429", "cause": "memory"}, eq(1), "1"},
		{"convops_fold_lag_messages", nil, eq(0), "0"},
		{"convops_fold_lag_seconds", nil, eq(0), "0"},
		{"convops_log_messages", nil, func(v float64) bool { return v >= 2 }, ">= 2"},
		{"convops_log_bytes", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"convops_log_up", nil, eq(1), "1"},
		{"convops_store_accounts", nil, eq(1), "1"},
		{"convops_store_dedupe_keys", nil, eq(2), "2"},
		{"convops_snapshot_age_seconds", nil, func(v float64) bool { return v >= 0 && v < 600 }, "recent"},
		{"convops_streams_open", nil, eq(0), "0"},
		{"convops_signed_requests_refused_total", nil, eq(0), "0"},
		{"convops_nonce_bucket_bytes", nil, func(v float64) bool { return v >= 0 }, ">= 0"},
		{"convops_nonce_bucket_limit_bytes", nil, eq(256 << 20), "256 MiB"},
		{"process_resident_memory_bytes", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"go_goroutines", nil, func(v float64) bool { return v > 0 }, "> 0"},
	} {
		v, ok := families[c.name].value(c.labels)
		if !ok || !c.want(v) {
			t.Errorf("%s%v = %v (found %v), want %s", c.name, c.labels, v, ok, c.says)
		}
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// dtoFamily is a parsed metric family.
type dtoFamily struct {
	samples []sample
}

type sample struct {
	labels map[string]string
	value  float64
}

// value returns the value of the sample whose labels include labels (for a
// histogram, its count).
func (f *dtoFamily) value(labels map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.samples {
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// parseMetrics parses Prometheus's text format with Prometheus's own parser.
func parseMetrics(t *testing.T, text string) map[string]*dtoFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus's text format: %v", err)
	}
	out := map[string]*dtoFamily{}
	for name, mf := range mfs {
		f := &dtoFamily{}
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				s.value = m.GetUntyped().GetValue()
			}
			f.samples = append(f.samples, s)
		}
		out[name] = f
	}
	return out
}

// flakyProxy passes requests to target after answering the first refusals
// of them with a JSON 503, and returns its URL.
func flakyProxy(t *testing.T, target string, refusals int32) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var seen atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= refusals {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			fmt.Fprint(w, `{"code":503,"message":"not now"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(flaky.Close)
	return flaky.URL
}
