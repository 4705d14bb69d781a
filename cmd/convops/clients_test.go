package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/internal/testkit"
)

// Clients no one here wrote, calling a real server: a Node script with the
// npm package oauth-1.0a and Node's fetch, a Python script with Debian's
// requests-oauthlib, and one with Python's urllib and a bearer token
// (clients/). Each finds the numbers of a known account; what each prints
// must be, byte for byte, the server's answer to the same query. They are
// skipped where their tools are missing, except with
// CONVOPS_REQUIRE_CLIENTS=1 (CI, where .ci/run installs them).
func TestThirdPartyClients(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	const (
		bearer         = "third-party-bearer"
		consumerKey    = "tp-consumer-key"
		consumerSecret = "tp-consumer-secret"
		token          = "tp-token"
		tokenSecret    = "tp-token-secret"
	)
	if err := auth.WriteFile(keys, &auth.File{Keys: []auth.Key{
		{Name: "bearer", Accounts: []string{"4242"}, Scopes: []string{"read", "write"}, BearerSHA256: auth.HashToken(bearer)},
		{Name: "oauth", Accounts: []string{"4242"}, Scopes: []string{"read"},
			OAuth1: &auth.OAuth1Credentials{ConsumerKey: consumerKey, ConsumerSecret: consumerSecret, Token: token, TokenSecret: tokenSecret}},
	}}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--keys", keys, "--now", testkit.NowText)
	events := `[
		{"conversationId":"n1","skillId":3,"agentId":7,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":426000},
		{"conversationId":"n2","skillId":3,"agentId":8,"resolvedBy":"CONSUMER","resolvedAt":"2026-11-27T13:05:00Z","handlingTimeMs":95000},
		{"conversationId":"n3","skillId":-1,"resolvedBy":"SYSTEM","resolvedAt":"2026-11-27T12:50:00Z","handlingTimeMs":0},
		{"conversationId":"n4","skillId":-1,"agentId":7,"resolvedBy":"CCP","resolvedAt":"2026-11-27T12:45:00Z","handlingTimeMs":60000},
		{"conversationId":"n5","resolvedBy":"CONSUMER","resolvedAt":"2026-11-27T11:00:00Z","handlingTimeMs":1000}]`
	if status, body := s.do(t, "POST", "/ingest/account/4242/events", bearer, events); status != 200 {
		t.Fatalf("ingest: %d %s", status, body)
	}
	answer := func(query string) string {
		status, body := s.do(t, "GET", "/operations/api/account/4242/msgconversation?"+query, bearer, "")
		if status != 200 {
			t.Fatalf("%s: %d %s", query, status, body)
		}
		return body
	}
	env := append(os.Environ(), "CONVOPS_URL="+s.url, "ACCOUNT=4242", "CONSUMER_KEY="+consumerKey, "CONSUMER_SECRET="+consumerSecret,
		"TOKEN="+token, "TOKEN_SECRET="+tokenSecret, "BEARER_TOKEN="+bearer, "EXPECT_TOTAL=4", "EXPECT_SKILLS=-1,3", "EXPECT_AGENT_TOTAL=3", "EXPECT_AGENTS=7,8")
	python := "/usr/bin/python3" // Debian's, with Debian's packages
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	for _, c := range []struct {
		name    string
		command []string
		ready   func() string // why it cannot run here, or ""
		query   string
	}{
		{"node oauth-1.0a", []string{"node", "../../clients/node/check.mjs"}, func() string {
			if _, err := exec.LookPath("node"); err != nil {
				return "node is not installed"
			}
			if _, err := os.Stat("../../clients/node/node_modules/oauth-1.0a"); err != nil {
				return "clients/node has no node_modules (npm ci --prefix clients/node)"
			}
			return ""
		}, "timeframe=60&v=1&skillIds=all"},
		{"python requests-oauthlib", []string{python, "../../clients/python/check_oauth.py"}, func() string {
			if exec.Command(python, "-c", "import requests_oauthlib").Run() != nil {
				return "Debian's python3-requests-oauthlib is not installed"
			}
			return ""
		}, "timeframe=60&v=1&agentIds=all"},
		{"python urllib", []string{python, "../../clients/python/check_urllib.py"}, func() string {
			if _, err := exec.LookPath(python); err != nil {
				return "python3 is not installed"
			}
			return ""
		}, "timeframe=60&v=1&interval=30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if why := c.ready(); why != "" {
				if os.Getenv("CONVOPS_REQUIRE_CLIENTS") != "" {
					t.Fatal(why)
				}
				t.Skip(why)
			}
			cmd := exec.Command(c.command[0], c.command[1:]...)
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("%v: %v\n%s%s", c.command, err, out, stderr)
			}
			want := answer(c.query)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 2 || lines[0] != want || lines[1] != want {
				t.Errorf("the answers it got by GET and POST are not the server's:\n%s\nwant twice:\n%s", out, want)
			}
		})
	}
}

// TestBackfillFromLivePerson: the migration guide's backfill, end to end:
// clients/python/lp_export.py pages through a Messaging Interactions API
// (here a stand-in that serves LivePerson's page format on loopback, with
// OAuth 1.0a demanded) into files, and `convops import liveperson` sends
// them to a real server; conversations that closed before the 24-hour
// window are left out, open ones are counted as skipped.
func TestBackfillFromLivePerson(t *testing.T) {
	python := "/usr/bin/python3"
	if exec.Command(python, "-c", "import requests_oauthlib").Run() != nil {
		if os.Getenv("CONVOPS_REQUIRE_CLIENTS") != "" {
			t.Fatal("Debian's python3-requests-oauthlib is not installed")
		}
		t.Skip("Debian's python3-requests-oauthlib is not installed")
	}
	now := time.Now().UnixMilli()
	var records []string
	for i := range 250 {
		status, end := "CLOSE", now-int64(i)*4*60*1000 // one every 4 minutes, back 16 hours
		switch {
		case i%10 == 9:
			status, end = "OPEN", -1
		case i%25 == 24:
			end = now - 30*3600*1000 // closed before the window
		}
		records = append(records, fmt.Sprintf(`{"info":{"conversationId":"lp-%d","status":%q,"endTimeL":%d,"closeReason":"AGENT","latestSkillId":%d,"latestAgentId":"%d"},`+
			`"interactions":[{"assignedAgentId":"%d","interactionTimeL":%d}],"agentParticipants":[],"transfers":[]}`,
			i, status, end, i%3, 100+i%4, 100+i%4, end-60000))
	}
	var searches atomic.Int32
	lp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Start struct{ From, To int64 } `json:"start"`
			End   struct{ From, To int64 } `json:"end"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if r.Method != "POST" || r.URL.Path != "/messaging_history/api/account/4343/conversations/search" ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "OAuth ") || body.Start.From == 0 || body.Start.To < body.Start.From ||
			body.End.From < now-24*3600*1000 || body.End.To < body.End.From || limit < 1 || limit > 100 {
			http.Error(w, `{"error":"bad request"}`, 400)
			return
		}
		searches.Add(1)
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		end := min(offset+limit, len(records))
		fmt.Fprintf(w, `{"_metadata":{"count":%d},"conversationHistoryRecords":[%s]}`, len(records), strings.Join(records[min(offset, end):end], ","))
	}))
	defer lp.Close()

	dir := t.TempDir()
	out := filepath.Join(dir, "pages")
	// Without its key's variables it says which it needs, not a traceback.
	bare := exec.Command(python, "../../clients/python/lp_export.py", "--account", "4343", "--out", out, "--base-url", lp.URL)
	bare.Env = []string{"LP_TOKEN=t"}
	said, err := bare.CombinedOutput()
	if code := bare.ProcessState.ExitCode(); code != 2 || strings.Contains(string(said), "Traceback") ||
		!strings.Contains(string(said), "missing: LP_CONSUMER_KEY, LP_CONSUMER_SECRET, LP_TOKEN_SECRET") {
		t.Errorf("without the key's variables: exit %d, %v:\n%s", code, err, said)
	}
	cmd := exec.Command(python, "../../clients/python/lp_export.py", "--account", "4343", "--out", out, "--base-url", lp.URL)
	cmd.Env = append(os.Environ(), "LP_CONSUMER_KEY=k", "LP_CONSUMER_SECRET=s", "LP_TOKEN=t", "LP_TOKEN_SECRET=ts")
	report, err := cmd.CombinedOutput()
	if err != nil || searches.Load() != 3 || !strings.Contains(string(report), "245 records in 3 pages") || !strings.Contains(string(report), "5 closed before the 24-hour window") {
		t.Fatalf("export: %v, %d searches:\n%s", err, searches.Load(), report)
	}

	s := startServer(t, "--data-dir", filepath.Join(dir, "data"))
	pages, _ := filepath.Glob(filepath.Join(out, "*.json"))
	summary, _, err := runCommand(t, append([]string{"import", "liveperson", "--url", s.url, "--token", testToken, "--account", "4343"}, pages...)...)
	if err != nil || !strings.Contains(summary, "3 files: 220 conversations accepted, 0 duplicates, 25 records skipped (not closed), 0 files refused") {
		t.Fatalf("import: %v\n%s", err, summary)
	}
	if _, body := s.do(t, "GET", "/operations/api/account/4343/msgconversation?timeframe=1440&v=1", testToken, ""); !strings.Contains(body, `"totalResolvedConversations":220,`) {
		t.Errorf("after the backfill: %s", body)
	}
}
