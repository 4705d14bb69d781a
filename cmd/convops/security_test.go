package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dghubble/oauth1"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/internal/testkit"
)

func TestDefaultKeysFileIsCreated(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, "--data-dir", dataDir, "--keys", "")
	out := s.logs.String()
	m := regexp.MustCompile(`shown only now; keep it safe:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token printed:\n%s", out)
	}
	token := m[1]
	info, err := os.Stat(filepath.Join(dataDir, "keys.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v %v", info, err)
	}
	if strings.Count(out, token) != 1 {
		t.Error("the token appears more than once in the output")
	}
	query := "/operations/api/account/42/msgconversation?timeframe=60&v=1"
	if status, _ := s.do(t, "GET", query, "", ""); status != 401 {
		t.Errorf("without token: %d", status)
	}
	if status, body := s.do(t, "GET", query, token, ""); status != 200 {
		t.Errorf("with the printed token: %d %s", status, body)
	}
	if status, body := s.do(t, "POST", "/ingest/account/42/events", token, "[]"); status != 200 {
		t.Errorf("ingest with the printed token: %d %s", status, body)
	}
}

func TestRevokedKeyAfterSIGHUP(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	main := &Main{Stdout: &testkit.Buffer{}, Stderr: &testkit.Buffer{}, Getenv: func(string) string { return "" }}
	kc := &KeysCommand{main: main}
	if err := kc.Run([]string{"add", "--keys", keys, "--account", "7", "--scope", "read", "--name", "wall"}); err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`shown only now:\s+(\S+)`).FindStringSubmatch(main.Stdout.(*testkit.Buffer).String())[1]

	// The file is not watched here, so that only the signal reloads it.
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--keys", keys, "--keys-check-interval", "0")
	query := "/operations/api/account/7/msgconversation?timeframe=60&v=1"
	if status, body := s.do(t, "GET", query, token, ""); status != 200 {
		t.Fatalf("before revoke: %d %s", status, body)
	}
	if err := kc.Run([]string{"revoke", "wall", "--keys", keys}); err != nil {
		t.Fatal(err)
	}
	if status, _ := s.do(t, "GET", query, token, ""); status != 200 {
		t.Fatalf("revoked key refused before SIGHUP: %d", status)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		status, _ := s.do(t, "GET", query, token, "")
		return status == 401
	})
}

// TestKeysReloadWithoutSignal: the server takes a change of its keys file by
// itself: a revoked key is refused and a new one taken, with no signal; a
// file that does not parse, or that others can read, leaves the keys in
// force, with a log line naming the file, until it is mended.
func TestKeysReloadWithoutSignal(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	main := &Main{Stdout: &testkit.Buffer{}, Stderr: &testkit.Buffer{}, Getenv: func(string) string { return "" }}
	kc := &KeysCommand{main: main}
	tokenRE := regexp.MustCompile(`shown only now:\s+(\S+)`)
	add := func(name string) string {
		t.Helper()
		if err := kc.Run([]string{"add", "--keys", keys, "--account", "7", "--scope", "read", "--name", name}); err != nil {
			t.Fatal(err)
		}
		all := tokenRE.FindAllStringSubmatch(main.Stdout.(*testkit.Buffer).String(), -1)
		return all[len(all)-1][1]
	}
	wall := add("wall")
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--keys", keys, "--keys-check-interval", "50ms")
	query := "/operations/api/account/7/msgconversation?timeframe=60&v=1"
	status := func(token string) int {
		code, _ := s.do(t, "GET", query, token, "")
		return code
	}
	if got := status(wall); got != 200 {
		t.Fatalf("before any change: %d", got)
	}

	board := add("board")
	if err := kc.Run([]string{"revoke", "wall", "--keys", keys}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return status(wall) == 401 && status(board) == 200 })
	if !strings.Contains(s.logs.String(), "keys reloaded") {
		t.Errorf("no log line of the reload:\n%s", s.logs)
	}

	// A file that does not parse: the keys stay as they were.
	if err := os.WriteFile(keys, []byte(`{"keys": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(s.logs.String(), "keys not reloaded") && strings.Contains(s.logs.String(), keys)
	})
	if got := status(board); got != 200 {
		t.Errorf("after a broken keys file, the key in force got %d", got)
	}
	// Others may read it: refused likewise. (Made aside and renamed into
	// place, so that the server never sees it private.)
	aside := filepath.Join(dir, "aside.json")
	if err := auth.WriteFile(aside, &auth.File{Keys: []auth.Key{{Name: "other", Accounts: []string{"7"}, Scopes: []string{"read"}, BearerSHA256: auth.HashToken("other-token")}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(aside, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(aside, keys); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return strings.Contains(s.logs.String(), "readable by others") })
	if got := status(board); got != 200 {
		t.Errorf("after a keys file others can read, the key in force got %d", got)
	}
	if got := status("other-token"); got != 401 {
		t.Errorf("a key of a file others can read was taken: %d", got)
	}
	// Mended: taken.
	if err := os.Chmod(keys, 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return status("other-token") == 200 && status(board) == 401 })

	// Given to a group not the server's, then back: a change of group
	// alone is seen, both ways.
	if os.Geteuid() != 0 {
		return
	}
	count := func(what string) int { return strings.Count(s.logs.String(), what) }
	refused := count("readable by others")
	if err := os.Chmod(keys, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(keys, -1, 54321); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return count("readable by others") > refused })
	reloaded := count("keys reloaded")
	if err := os.Chown(keys, -1, os.Getegid()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return count("keys reloaded") > reloaded })
	if got := status("other-token"); got != 200 {
		t.Errorf("after the group was given back: %d", got)
	}
}

// TestOAuth1AgainstServer signs real API requests with the third-party
// dghubble/oauth1 signer: GET with a query string, POST with a JSON body, POST
// with a form body, and ingest.
func TestOAuth1AgainstServer(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	creds := auth.OAuth1Credentials{ConsumerKey: "lp-ck", ConsumerSecret: "lp-cs", Token: "lp-t", TokenSecret: "lp-ts"}
	auth.WriteFile(keys, &auth.File{Keys: []auth.Key{{Name: "lp", Accounts: []string{"123"}, Scopes: []string{"read", "write"}, OAuth1: &creds}}})
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--keys", keys, "--now", testkit.NowText)
	client := oauth1.NewConfig(creds.ConsumerKey, creds.ConsumerSecret).Client(context.Background(), oauth1.NewToken(creds.Token, creds.TokenSecret))

	do := func(method, path, contentType, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(resp)
	}
	events := `[{"conversationId":"c1","skillId":1,"agentId":2,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":10}]`
	if status, body := do("POST", "/ingest/account/123/events", "application/json", events); status != 200 {
		t.Fatalf("ingest: %d %s", status, body)
	}
	q := "/operations/api/account/123/msgconversation"
	_, get := do("GET", q+"?timeframe=60&v=1&skillIds=1%2C2", "", "")
	_, postJSON := do("POST", q, "application/json", `{"timeframe":"60","v":"1","skillIds":"1,2"}`)
	_, postForm := do("POST", q, "application/x-www-form-urlencoded", "timeframe=60&v=1&skillIds=1%2C2")
	if !strings.Contains(get, `"metricsPerSkill":{"1":`) || get != postJSON || get != postForm {
		t.Errorf("answers differ or lack skill 1:\nGET  %s\nJSON %s\nform %s", get, postJSON, postForm)
	}
	if status, _ := do("GET", "/operations/api/account/456/msgconversation?timeframe=60&v=1", "", ""); status != 401 {
		t.Errorf("other account: %d", status)
	}
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestInflightLimit: with one request per account at a time, concurrent large
// ingests get 200s and 429s; every event of a 200 is counted, none of a 429.
func TestInflightLimit(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--max-inflight-per-account", "1", "--now", testkit.NowText)
	var mu sync.Mutex
	accepted, refused := 0, 0
	for round := 0; refused == 0 && round < 20; round++ {
		var wg sync.WaitGroup
		for c := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var b strings.Builder
				b.WriteByte('[')
				for i := range 20000 {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `{"conversationId":"r%d-c%d-%d","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1}`, round, c, i)
				}
				b.WriteByte(']')
				req, _ := http.NewRequest("POST", s.url+"/ingest/account/acme/events", strings.NewReader(b.String()))
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body := readAll(resp)
				resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				switch resp.StatusCode {
				case 200:
					var out struct{ Accepted int }
					json.Unmarshal([]byte(body), &out)
					accepted += out.Accepted
				case 429:
					refused++
					if resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, `"code":429`) {
						t.Errorf("429 without Retry-After or JSON body: %s", body)
					}
				default:
					t.Errorf("status %d: %s", resp.StatusCode, body)
				}
			}()
		}
		wg.Wait()
	}
	if refused == 0 || accepted == 0 {
		t.Fatalf("accepted %d refused %d: want both", accepted, refused)
	}
	_, body := s.do(t, "GET", "/operations/api/account/acme/msgconversation?timeframe=60&v=1", testToken, "")
	if !strings.Contains(body, fmt.Sprintf(`"totalResolvedConversations":%d,`, accepted)) {
		t.Errorf("%d events acknowledged; the account reports %s", accepted, body)
	}
	t.Logf("%d events accepted, %d requests refused", accepted, refused)
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCertificate(t, dir)
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	addr := strings.TrimPrefix(s.url, "http://")

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/operations/api/account/1/msgconversation?timeframe=60&v=1", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("HTTPS: %d", resp.StatusCode)
	}

	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
		resp.Body.Close()
	}
}

// writeCertificate writes a self-signed certificate for 127.0.0.1.
func writeCertificate(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	cert, key := newCert(t, nil, nil, "127.0.0.1", false)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(certBlock(cert)), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(keyBlock(t, key)), 0o600)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestKeysListShowsNoSecrets(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys.json")
	out := &testkit.Buffer{}
	kc := &KeysCommand{main: &Main{Stdout: out, Stderr: out, Getenv: func(string) string { return "" }}}
	if err := kc.Run([]string{"add", "--keys", keys, "--account", "1,2", "--scope", "read,write", "--oauth1", "--name", "lp"}); err != nil {
		t.Fatal(err)
	}
	f, err := auth.ReadFile(keys)
	if err != nil || len(f.Keys) != 1 || f.Keys[0].OAuth1 == nil {
		t.Fatalf("%+v %v", f, err)
	}
	if !strings.Contains(out.String(), f.Keys[0].OAuth1.ConsumerSecret) {
		t.Error("the new secret was not printed")
	}
	// A keys file that is not there is an error, not an empty list.
	missing := filepath.Join(t.TempDir(), "nothing.json")
	if err := kc.Run([]string{"list", "--keys", missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("list of a missing keys file: %v", err)
	}
	listed := &testkit.Buffer{}
	kc.main.Stdout = listed
	if err := kc.Run([]string{"list", "--keys", keys}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(listed.String(), "lp  ") || strings.Contains(listed.String(), f.Keys[0].OAuth1.ConsumerSecret) {
		t.Errorf("list: %s", listed)
	}
	if err := kc.Run([]string{"add", "--keys", keys, "--account", "1", "--name", "lp"}); err == nil {
		t.Error("a second key named lp was added")
	}
	if err := kc.Run([]string{"add", "--keys", keys, "--account", "1", "--scope", "admin"}); err == nil {
		t.Error("scope admin accepted")
	}
}
