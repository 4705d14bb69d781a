package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/internal/testkit"
)

// runningServer is `convops serve` running in-process.
type runningServer struct {
	url  string
	logs *testkit.Buffer
	stop func() error // stops like SIGTERM and returns Run's error
}

// testToken is the bearer token of writeTestKeys's all-accounts key.
const testToken = "test-token-all-accounts"

// writeTestKeys writes a keys file with one read-write key for all accounts.
func writeTestKeys(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	f := &auth.File{Keys: []auth.Key{{Name: "test", Accounts: []string{"*"}, Scopes: []string{"read", "write"}, BearerSHA256: auth.HashToken(testToken)}}}
	if err := auth.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveError runs the server and returns the error it stops with; it fails
// the test if the server becomes ready.
func serveError(t *testing.T, args ...string) (string, error) {
	t.Helper()
	logs := &testkit.Buffer{}
	cmd := NewServeCommand(&Main{Stdout: logs, Stderr: logs, Getenv: func(string) string { return "" }})
	if err := cmd.ParseFlags(append([]string{"--listen", "127.0.0.1:0"}, args...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx) }()
	select {
	case err := <-done:
		return logs.String(), err
	case <-cmd.Ready():
		cancel()
		<-done
		t.Fatalf("the server started, where it should have stopped with an error:\n%s", logs)
	}
	return "", nil
}

// startServer runs `convops serve` with args on 127.0.0.1:0 and waits until
// it is ready. Without --keys in args, it uses writeTestKeys's file.
func startServer(t *testing.T, args ...string) *runningServer {
	t.Helper()
	return startServerWith(t, nil, args...)
}

// startServerWith is startServer with setup applied to the command first.
func startServerWith(t *testing.T, setup func(*ServeCommand), args ...string) *runningServer {
	t.Helper()
	logs := &testkit.Buffer{}
	m := &Main{Stdout: logs, Stderr: logs, Getenv: func(string) string { return "" }}
	cmd := NewServeCommand(m)
	if setup != nil {
		setup(cmd)
	}
	if !slices.Contains(args, "--keys") {
		args = append(args, "--keys", writeTestKeys(t))
	}
	if err := cmd.ParseFlags(append([]string{"--listen", "127.0.0.1:0"}, args...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx) }()
	select {
	case <-cmd.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("server stopped before it was ready: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("server not ready after 60s:\n%s", logs)
	}
	var once sync.Once
	var runErr error
	s := &runningServer{url: "http://" + cmd.Addr().String(), logs: logs}
	s.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *runningServer) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

var restartQueries = []string{
	"timeframe=1440&v=1",
	"timeframe=60&v=1&skillIds=all&agentIds=all&interval=15",
	"timeframe=1440&v=1&skillIds=1,2,-1&interval=60",
	"timeframe=30&v=1&agentIds=10,11,12",
	"timeframe=1440&v=1&skillIds=all&agentIds=10,11&interval=60&percentiles=50,90,99.9&thresholds=60,600",
	"timeframe=240&v=1&percentiles=0.1,99&thresholds=1,86400",
}

// TestRestartGivesIdenticalAnswers ingests over HTTP, stops the server, starts
// it again on the same data dir, and expects byte-identical answers (their
// percentiles and counts within thresholds too): from the snapshot the stop
// wrote, and again from the whole log once the snapshot is gone.
func TestRestartGivesIdenticalAnswers(t *testing.T) {
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--now", testkit.NowText}
	s := startServer(t, args...)

	base := time.Date(2026, 11, 27, 13, 29, 0, 0, time.UTC)
	var batches []string
	for b := range 5 {
		var events []string
		for i := range 200 {
			n := b*200 + i
			agent := ""
			if n%7 != 0 {
				agent = fmt.Sprintf(`,"agentId":%d`, 10+n%3)
			}
			events = append(events, fmt.Sprintf(`{"conversationId":"c%d"%s,"skillId":%d,"resolvedBy":%q,"resolvedAt":%q,"handlingTimeMs":%d}`,
				n%900, agent, n%4-1, []string{"CCP", "CONSUMER", "SYSTEM"}[n%3], base.Add(-time.Duration(n)*time.Minute).Format(time.RFC3339), n*37))
		}
		batches = append(batches, "["+strings.Join(events, ",")+"]")
	}
	for _, b := range batches {
		if status, body := s.do(t, "POST", "/ingest/account/acme/events", testToken, b); status != 200 {
			t.Fatalf("ingest: %d %s", status, body)
		}
	}
	before := map[string]string{}
	for _, q := range restartQueries {
		status, body := s.do(t, "GET", "/operations/api/account/acme/msgconversation?"+q, testToken, "")
		if status != 200 {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		before[q] = body
	}
	if !strings.Contains(before[restartQueries[0]], `"totalResolvedConversations":900,`) {
		t.Fatalf("900 distinct conversations expected in 24 hours: %s", before[restartQueries[0]])
	}
	if !strings.Contains(before[restartQueries[4]], `"handlingTime_resolvedConversations_99.9thPercentile":`) {
		t.Fatalf("no percentiles in %s", before[restartQueries[4]])
	}
	if err := s.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	s2 := startServer(t, args...)
	if !strings.Contains(s2.logs.String(), "convops ready") {
		t.Errorf("no ready line in the log:\n%s", s2.logs)
	}
	if !strings.Contains(s2.logs.String(), "snapshot loaded") {
		t.Errorf("the restart did not load the snapshot:\n%s", s2.logs)
	}
	for _, q := range restartQueries {
		_, body := s2.do(t, "GET", "/operations/api/account/acme/msgconversation?"+q, testToken, "")
		if body != before[q] {
			t.Errorf("%s differs after restart:\nbefore %s\nafter  %s", q, before[q], body)
		}
	}
	if err := s2.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if err := os.Remove(filepath.Join(dataDir, "snapshot.bin")); err != nil {
		t.Fatal(err)
	}
	s2 = startServer(t, args...)
	if strings.Contains(s2.logs.String(), "snapshot loaded") {
		t.Errorf("a snapshot was loaded after it was removed:\n%s", s2.logs)
	}
	for _, q := range restartQueries {
		_, body := s2.do(t, "GET", "/operations/api/account/acme/msgconversation?"+q, testToken, "")
		if body != before[q] {
			t.Errorf("%s differs after a whole replay:\nbefore %s\nafter  %s", q, before[q], body)
		}
	}
	// Events accepted before the restart are still known: sending them again counts nothing.
	if status, body := s2.do(t, "POST", "/ingest/account/acme/events", testToken, batches[0]); status != 200 || body != `{"accepted":0,"duplicates":200}` {
		t.Errorf("re-sent batch after restart: %d %s", status, body)
	}
}

func TestDataDirLocked(t *testing.T) {
	dataDir := t.TempDir()
	startServer(t, "--data-dir", dataDir)
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	cmd := NewServeCommand(m)
	if err := cmd.ParseFlags([]string{"--listen", "127.0.0.1:0", "--data-dir", dataDir}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server on one data dir: %v", err)
	}
}

// TestOpenDataDirIsWarnedOf: a data directory others can read is used, with
// a warning that says how to close it; one made by the server is its owner's.
func TestOpenDataDirIsWarnedOf(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755) // whatever the umask
	if s := startServer(t, "--data-dir", open); !strings.Contains(s.logs.String(), "chmod 700") {
		t.Errorf("no warning for a data directory of mode 0755:\n%s", s.logs)
	}
	made := filepath.Join(t.TempDir(), "made")
	s := startServer(t, "--data-dir", made)
	if info, err := os.Stat(made); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the data directory made: %v %v", info.Mode(), err)
	}
	if strings.Contains(s.logs.String(), "chmod 700") {
		t.Errorf("a warning for a data directory of mode 0700:\n%s", s.logs)
	}
}

func TestBearerKeys(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	content := fmt.Sprintf(`{"keys":[
		{"name":"wallboard","accounts":["123"],"scopes":["read"],"bearerSha256":%q},
		{"name":"feeder","accounts":["*"],"scopes":["read","write"],"bearerSha256":%q}]}`,
		auth.HashToken("read-123"), auth.HashToken("write-all"))
	if err := os.WriteFile(keys, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--keys", keys)
	query := "/operations/api/account/123/msgconversation?timeframe=60&v=1"
	cases := []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"no token", "GET", query, "", "", 401},
		{"unknown token", "GET", query, "nope", "", 401},
		{"read key", "GET", query, "read-123", "", 200},
		{"read key, other account", "GET", "/operations/api/account/456/msgconversation?timeframe=60&v=1", "read-123", "", 401},
		{"read key ingests", "POST", "/ingest/account/123/events", "read-123", "[]", 403},
		{"write key ingests", "POST", "/ingest/account/123/events", "write-all", "[]", 200},
		{"write key, any account", "GET", "/operations/api/account/456/msgconversation?timeframe=60&v=1", "write-all", "", 200},
		{"health needs no key", "GET", "/healthz", "", "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.do(t, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status {
				t.Errorf("%d %s, want %d", status, body, tc.status)
			}
			if status >= 400 && !strings.Contains(body, fmt.Sprintf(`"code":%d`, status)) {
				t.Errorf("error body %s", body)
			}
		})
	}
}

func TestKeysFileReadableByOthers(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	os.WriteFile(keys, []byte(`{"keys":[]}`), 0o644)
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	cmd := NewServeCommand(m)
	cmd.ParseFlags([]string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--keys", keys})
	if err := cmd.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("got %v", err)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{"CONVOPS_LISTEN": "127.0.0.1:9999", "CONVOPS_DATA_DIR": "/tmp/x", "CONVOPS_MAX_INFLIGHT_PER_ACCOUNT": "3"}
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
	cmd := NewServeCommand(m)
	if err := cmd.ParseFlags([]string{"--data-dir", "/tmp/y"}); err != nil {
		t.Fatal(err)
	}
	if cmd.Listen != "127.0.0.1:9999" || cmd.DataDir != "/tmp/y" || cmd.MaxInflightPerAccount != 3 {
		t.Errorf("listen %s dataDir %s inflight %d", cmd.Listen, cmd.DataDir, cmd.MaxInflightPerAccount)
	}
	// A bad value is named with its variable, the value and the form the
	// flag wants.
	for _, bad := range []struct{ name, value, want string }{
		{"CONVOPS_MAX_INFLIGHT_PER_ACCOUNT", "many", "a whole number"},
		{"CONVOPS_SNAPSHOT_INTERVAL", "5 minutes", "a duration"},
		{"CONVOPS_REQUIRE_BODY_HASH", "yes", "true or false"},
		{"CONVOPS_MAX_SIGNED_REQUESTS_PER_KEY", "lots", "a number"},
	} {
		env := map[string]string{bad.name: bad.value}
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
		err := NewServeCommand(m).ParseFlags(nil)
		if err == nil || !strings.Contains(err.Error(), bad.name) || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad.value)) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%s: %v (want the variable, the value and %q)", bad.name, bad.value, err, bad.want)
		}
	}
	// A value of the right form that the command refuses: its error names
	// the flag, and says the variable it came from, unless the command
	// line gave the flag.
	for _, c := range []struct {
		env     map[string]string
		args    []string
		want    string
		without string
	}{
		{map[string]string{"CONVOPS_SHARD": "banana"}, nil, `--shard is CONVOPS_SHARD="banana"`, ""},
		{map[string]string{"CONVOPS_MAX_STREAMS": "0"}, nil, `--max-streams is CONVOPS_MAX_STREAMS="0"`, ""},
		{map[string]string{"CONVOPS_SHARD": "banana"}, []string{"--shard", "pear"}, `"pear"`, "CONVOPS_SHARD"},
		// A secret's variable is named, never its value.
		{map[string]string{"CONVOPS_TOKEN": "SECRET-VALUE"}, []string{"query", "--account", "1", "--consumer-key", "a", "--consumer-secret", "b", "--access-token", "c", "--token-secret", "d"},
			"--token is CONVOPS_TOKEN", "SECRET-VALUE"},
	} {
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return c.env[k] }}
		args := append([]string{"serve"}, c.args...)
		if len(c.args) > 0 && c.args[0] == "query" {
			args = c.args
		}
		err := m.Run(context.Background(), args)
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.without != "" && strings.Contains(err.Error(), c.without)) {
			t.Errorf("%v %v: %v (want %s, without %q)", c.env, c.args, err, c.want, c.without)
		}
	}
}

// TestBoundsPerAccount: a batch that would give an account more skills than
// --max-skills-per-account is refused whole with a 400 naming the event, the
// field and the flag; the numbers are unchanged, after a restart too.
func TestBoundsPerAccount(t *testing.T) {
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--now", testkit.NowText, "--max-skills-per-account", "2", "--max-agents-per-account", "3"}
	s := startServer(t, args...)
	event := func(id string, skill, agent int) string {
		return fmt.Sprintf(`{"conversationId":%q,"skillId":%d,"agentId":%d,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1000}`, id, skill, agent)
	}
	if status, body := s.do(t, "POST", "/ingest/account/acme/events", testToken, "["+event("c1", 1, 10)+","+event("c2", 2, 11)+"]"); status != 200 {
		t.Fatalf("ingest: %d %s", status, body)
	}
	const query = "/operations/api/account/acme/msgconversation?timeframe=60&v=1&skillIds=all"
	_, before := s.do(t, "GET", query, testToken, "")
	refused := []struct{ body, field, flag string }{
		{"[" + event("c3", 1, 10) + "," + event("c4", 3, 10) + "]", "skillId", "--max-skills-per-account"},
		{"[" + event("c3", 1, 12) + "," + event("c4", 2, 13) + "]", "agentId", "--max-agents-per-account"},
	}
	check := func(s *runningServer) {
		for _, r := range refused {
			status, body := s.do(t, "POST", "/ingest/account/acme/events", testToken, r.body)
			want := fmt.Sprintf(`"errors":[{"index":1,"field":%q,`, r.field)
			if status != 400 || !strings.Contains(body, want) || !strings.Contains(body, r.flag) {
				t.Errorf("%d %s: want 400 with %s and %s", status, body, want, r.flag)
			}
		}
		if _, after := s.do(t, "GET", query, testToken, ""); after != before {
			t.Errorf("a refused batch changed the answer:\nbefore %s\nafter  %s", before, after)
		}
	}
	check(s)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	check(startServer(t, args...))
}

// TestMetricsListen: with --metrics-listen, /metrics is served on that
// address only; the API's address answers 404 for it.
func TestMetricsListen(t *testing.T) {
	var cmd *ServeCommand
	s := startServerWith(t, func(c *ServeCommand) { cmd = c }, "--data-dir", t.TempDir(), "--metrics-listen", "127.0.0.1:0")
	if status, _ := s.do(t, "GET", "/metrics", "", ""); status != 404 {
		t.Errorf("/metrics on the API's address: %d, want 404", status)
	}
	resp, err := http.Get("http://" + cmd.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "convops_store_accounts") {
		t.Errorf("/metrics on --metrics-listen: %d %.200s", resp.StatusCode, body)
	}
}
