package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

// TestDemo: `convops demo` serves a backfilled account, fed live, with a
// read-only token that reads and cannot write.
func TestDemo(t *testing.T) {
	logs := &testkit.Buffer{}
	m := &Main{Stdout: logs, Stderr: logs, Getenv: func(string) string { return "" }}
	ready := make(chan [2]string, 1)
	demo := &DemoCommand{main: m, ready: func(dashboard, token string) { ready <- [2]string{dashboard, token} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--backfill", "3000", "--per-hour", "36000"})
	}()
	var dashboard, token string
	select {
	case r := <-ready:
		dashboard, token = r[0], r[1]
	case err := <-done:
		t.Fatalf("demo stopped: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("demo not ready in 60 s\n%s", logs)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	u, err := url.Parse(dashboard)
	if err != nil || u.Path != "/dashboard/" || !strings.Contains(u.Fragment, "account=demo") {
		t.Fatalf("dashboard URL %q", dashboard)
	}
	for _, want := range []string{dashboard, "Read-only token:  " + token, "curl -s -H \"Authorization: Bearer $TOKEN\""} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the demo does not print %q", want)
		}
	}
	base := u.Scheme + "://" + u.Host

	total := func() int {
		req, _ := http.NewRequest("GET", base+"/operations/api/account/demo/msgconversation?v=1&timeframe=1440", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct {
			MetricsTotals struct {
				Total int `json:"totalResolvedConversations"`
			} `json:"metricsTotals"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&a) != nil {
			t.Fatalf("demo query: %d", resp.StatusCode)
		}
		return a.MetricsTotals.Total
	}
	first := total()
	if first < 3000 {
		t.Fatalf("%d conversations in the demo's day, want the 3000 backfilled at least", first)
	}
	// Live traffic: 36000 an hour is 10 a second on average (2.5 at the
	// quietest hour).
	testkit.Eventually(t, 30*time.Second, func() bool { return total() > first })

	// The token shown reads; it does not write.
	req, _ := http.NewRequest("POST", base+"/ingest/account/demo/events", strings.NewReader(`[]`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("the read-only token's ingest: %d, want 403", resp.StatusCode)
	}
}
