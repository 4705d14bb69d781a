package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/internal/testkit"
)

// The attacks of the threat model, each against a running server.

var attackCreds = auth.OAuth1Credentials{ConsumerKey: "lp-ck", ConsumerSecret: "lp-cs", Token: "lp-t", TokenSecret: "lp-ts"}

// attackKeys writes a keys file: an OAuth key for account 123 (read and
// write), a read-only bearer key ("read-token") and a write-only one
// ("write-token") for it.
func attackKeys(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	creds := attackCreds
	f := &auth.File{Keys: []auth.Key{
		{Name: "lp", Accounts: []string{"123"}, Scopes: []string{"read", "write"}, OAuth1: &creds},
		{Name: "reader", Accounts: []string{"123"}, Scopes: []string{"read"}, BearerSHA256: auth.HashToken("read-token")},
		{Name: "writer", Accounts: []string{"123"}, Scopes: []string{"write"}, BearerSHA256: auth.HashToken("write-token")},
	}}
	if err := auth.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

// oauthHeader signs a request as RFC 5849 says, with the given nonce and
// extra oauth_ parameters (oauth_body_hash), over the URL's query and the
// form parameters given.
func oauthHeader(method, rawURL string, form url.Values, nonce string, extra map[string]string) string {
	u, _ := url.Parse(rawURL)
	oauth := map[string]string{
		"oauth_consumer_key":     attackCreds.ConsumerKey,
		"oauth_token":            attackCreds.Token,
		"oauth_signature_method": "HMAC-SHA1",
		"oauth_timestamp":        strconv.FormatInt(time.Now().Unix(), 10),
		"oauth_nonce":            nonce,
		"oauth_version":          "1.0",
	}
	for k, v := range extra {
		oauth[k] = v
	}
	enc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	var pairs []string
	for k, vs := range u.Query() {
		for _, v := range vs {
			pairs = append(pairs, enc(k)+"="+enc(v))
		}
	}
	for k, vs := range form {
		for _, v := range vs {
			pairs = append(pairs, enc(k)+"="+enc(v))
		}
	}
	for k, v := range oauth {
		pairs = append(pairs, enc(k)+"="+enc(v))
	}
	sort.Strings(pairs)
	base := method + "&" + enc("http://"+u.Host+u.EscapedPath()) + "&" + enc(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(enc(attackCreds.ConsumerSecret)+"&"+enc(attackCreds.TokenSecret)))
	mac.Write([]byte(base))
	oauth["oauth_signature"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	var parts []string
	for k, v := range oauth {
		parts = append(parts, fmt.Sprintf(`%s="%s"`, k, enc(v)))
	}
	sort.Strings(parts)
	return "OAuth " + strings.Join(parts, ", ")
}

func bodyHash(body string) string {
	sum := sha1.Sum([]byte(body))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// send sends a request with an Authorization header and returns the status
// and body.
func send(t *testing.T, method, rawURL, authorization, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

const attackEvents = `[{"conversationId":"c1","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":10}]`
const attackNow = testkit.NowText

// TestForgedOAuthFlood: 40 POSTs of 16 MiB form bodies to the query path,
// with a real consumer key and token (both travel in every header) and a
// bogus signature, half with a Content-Length and half chunked. None is
// read past 1 MiB, so the server's memory stays near where it was.
func TestForgedOAuthFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 640 MiB over loopback")
	}
	s := startBinary(t, "--data-dir", t.TempDir(), "--keys", attackKeys(t), "--max-inflight-per-account", "100")
	form := "timeframe=60&v=1&skillIds=" + strings.Repeat("1%2C", (16<<20)/4)
	header := `OAuth oauth_consumer_key="lp-ck", oauth_token="lp-t", oauth_signature_method="HMAC-SHA1", oauth_timestamp="` +
		strconv.FormatInt(time.Now().Unix(), 10) + `", oauth_nonce="n", oauth_signature="bogus"`
	before := peakRSS(t, s.cmd.Process.Pid)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for c := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body io.Reader = strings.NewReader(form)
			if c%2 == 1 {
				body = io.MultiReader(body) // no length known: chunked
			}
			req, _ := http.NewRequest("POST", s.url+"/operations/api/account/123/msgconversation", body)
			req.Header.Set("Authorization", header)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the server may close a connection whose body it refuses
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(data), `"code"`) {
				t.Errorf("answer %d is not JSON: %q", resp.StatusCode, data)
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("answers %v; peak resident memory %d MiB (%d MiB before)", statuses, peak>>20, before>>20)
	// Past 1 MiB a body is refused as too large; a chunked one may be
	// refused first by the budget (429), which counts it as it comes.
	for status := range statuses {
		if status != 413 && status != 429 {
			t.Errorf("answers %v: want 413 (or 429) for every body past 1 MiB", statuses)
		}
	}
	// Loosely: 40 requests may hold 1 MiB each, and the collector lets the
	// heap grow by half again.
	if peak > before+150<<20 {
		t.Errorf("peak resident memory %d MiB, %d MiB more than before", peak>>20, (peak-before)>>20)
	}
}

// TestNonceReplayAcrossRestartAndNodes: a signed request replayed after a
// restart, and to another node of the same log, is refused.
func TestNonceReplayAcrossRestartAndNodes(t *testing.T) {
	keys := attackKeys(t)
	dataDir := t.TempDir()
	s := startServer(t, "--data-dir", dataDir, "--keys", keys, "--now", attackNow)
	path := "/operations/api/account/123/msgconversation?timeframe=60&v=1"
	get := func(s *runningServer, header string) int {
		status, _ := send(t, "GET", s.url+path, header, "", "")
		return status
	}
	signed := oauthHeader("GET", s.url+path, nil, "nonce-restart", nil)
	if status := get(s, signed); status != 200 {
		t.Fatalf("signed GET: %d", status)
	}
	if status := get(s, signed); status != 401 {
		t.Errorf("replayed at once: %d", status)
	}
	ingest := "/ingest/account/123/events"
	signedIngest := oauthHeader("POST", s.url+ingest, nil, "nonce-ingest", map[string]string{"oauth_body_hash": bodyHash(attackEvents)})
	if status, body := send(t, "POST", s.url+ingest, signedIngest, "application/json", attackEvents); status != 200 {
		t.Fatalf("signed ingest: %d %s", status, body)
	}
	addr := strings.TrimPrefix(s.url, "http://")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// Another port (the old one may be taken meanwhile), the old Host, so
	// that the signed URL is the same: what a proxy in front would send.
	s = startServer(t, "--data-dir", dataDir, "--keys", keys, "--now", attackNow)
	for _, r := range []struct{ method, path, header, body string }{
		{"GET", path, signed, ""},
		{"POST", ingest, signedIngest, attackEvents},
	} {
		req, _ := http.NewRequest(r.method, s.url+r.path, strings.NewReader(r.body))
		req.Host = addr
		req.Header.Set("Authorization", r.header)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(body), "oauth_nonce was already used") {
			t.Errorf("%s replayed after a restart: %d %s, want 401 for the nonce", r.method, resp.StatusCode, body)
		}
	}

	// Two nodes on one NATS server.
	natsURL := startNATS(t)
	a := startServer(t, "--data-dir", t.TempDir(), "--keys", keys, "--now", attackNow, "--nats-url", natsURL)
	b := startServer(t, "--data-dir", t.TempDir(), "--keys", keys, "--now", attackNow, "--nats-url", natsURL)
	// Signed for a's address, sent to b with a's Host: what a proxy in
	// front of both would do.
	onA := oauthHeader("GET", a.url+path, nil, "nonce-two-nodes", nil)
	if status := get(a, onA); status != 200 {
		t.Fatalf("signed GET on a: %d", status)
	}
	req, _ := http.NewRequest("GET", b.url+path, nil)
	req.Host = strings.TrimPrefix(a.url, "http://")
	req.Header.Set("Authorization", onA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("the same signed GET on b: %d, want 401 (replayed nonce)", resp.StatusCode)
	}
}

// TestBodyHash: a body hash that does not match the body sent is refused
// and nothing is stored; with --require-body-hash, a write key's body must
// carry one.
func TestBodyHash(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--keys", attackKeys(t), "--now", attackNow, "--require-body-hash")
	ingest := s.url + "/ingest/account/123/events"
	other := strings.Replace(attackEvents, `"c1"`, `"forged"`, 1)
	swapped := oauthHeader("POST", ingest, nil, "n1", map[string]string{"oauth_body_hash": bodyHash(attackEvents)})
	if status, body := send(t, "POST", ingest, swapped, "application/json", other); status != 401 || !strings.Contains(body, "oauth_body_hash") {
		t.Errorf("a body other than the one signed: %d %s", status, body)
	}
	unsigned := oauthHeader("POST", ingest, nil, "n2", nil)
	if status, body := send(t, "POST", ingest, unsigned, "application/json", attackEvents); status != 401 || !strings.Contains(body, "oauth_body_hash") {
		t.Errorf("a body without oauth_body_hash under --require-body-hash: %d %s", status, body)
	}
	// Events sent as a form: an ingest body is never a signed form, so it
	// needs its hash too.
	asForm := oauthHeader("POST", ingest, nil, "n5", nil)
	if status, body := send(t, "POST", ingest, asForm, "application/x-www-form-urlencoded", attackEvents); status != 401 || !strings.Contains(body, "oauth_body_hash") {
		t.Errorf("events sent with the form type, without oauth_body_hash: %d %s", status, body)
	}
	// A query whose signed form parameters were moved to the query string
	// and whose JSON body asks something else: its body is not signed.
	q := s.url + "/operations/api/account/123/msgconversation"
	moved := oauthHeader("POST", q+"?timeframe=60&v=1", nil, "n3", nil)
	if status, body := send(t, "POST", q+"?timeframe=60&v=1", moved, "application/json", `{"timeframe":"1440","v":"1"}`); status != 401 {
		t.Errorf("a query with an unsigned JSON body: %d %s", status, body)
	}
	if status, body := s.do(t, "GET", "/operations/api/account/123/msgconversation?timeframe=1440&v=1", "read-token", ""); status != 200 || !strings.Contains(body, `"totalResolvedConversations":0,`) {
		t.Fatalf("nothing may be stored: %d %s", status, body)
	}
	good := oauthHeader("POST", ingest, nil, "n4", map[string]string{"oauth_body_hash": bodyHash(attackEvents)})
	if status, body := send(t, "POST", ingest, good, "application/json", attackEvents); status != 200 || body != `{"accepted":1,"duplicates":0}` {
		t.Errorf("the body signed: %d %s", status, body)
	}
}

// TestLongNoncesAreRefused: a nonce longer than auth.MaxNonceBytes is
// refused, however well signed; only digests are stored.
func TestLongNoncesAreRefused(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--keys", attackKeys(t), "--now", attackNow)
	path := s.url + "/operations/api/account/123/msgconversation?timeframe=60&v=1"
	long := strings.Repeat("n", 60000)
	if status, body := send(t, "GET", path, oauthHeader("GET", path, nil, long, nil), "", ""); status != 401 || !strings.Contains(body, "oauth_nonce is longer") {
		t.Errorf("a 60 KB nonce: %d %s", status, body)
	}
	if status, _ := send(t, "GET", path, oauthHeader("GET", path, nil, strings.Repeat("n", auth.MaxNonceBytes), nil), "", ""); status != 200 {
		t.Errorf("a nonce of %d bytes: %d", auth.MaxNonceBytes, status)
	}
}

// rawRequest writes a request by hand and returns the answer's status line
// and body; the connection stays open until the answer comes.
func rawRequest(t *testing.T, addr, request string) (status int, header http.Header, body string) {
	t.Helper()
	status, header, body, err := sendRaw(addr, request)
	if err != nil {
		t.Fatal(err)
	}
	return status, header, body
}

// sendRaw is rawRequest for goroutines other than the test's.
func sendRaw(addr, request string) (status int, header http.Header, body string, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, nil, "", err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		return 0, nil, "", err
	}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data), nil
}

// TestSlowReadersDoNotBlockWriters: a read key's requests whose bodies
// trickle hold the account's read slots, not its write slots; each is cut
// with a JSON 408 that names no socket.
func TestSlowReadersDoNotBlockWriters(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--keys", attackKeys(t), "--now", attackNow, "--max-inflight-per-account", "2")
	addr := strings.TrimPrefix(s.url, "http://")
	// A trickled body is cut 10 s after it began (it falls behind the
	// floor rate then); the refusal below waits 2 s for the body it
	// refuses before it gives up on it.
	slow := "POST /operations/api/account/123/msgconversation HTTP/1.1\r\nHost: " + addr +
		"\r\nAuthorization: Bearer read-token\r\nContent-Type: application/json\r\nContent-Length: 640000\r\n\r\n{"
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, 3)
	// Three trickled reads and nothing else: two take the account's read
	// slots and the third is refused. (A quick probe read would take a
	// slot itself and could have a slow one refused in its place.)
	for range 3 {
		go func() {
			status, _, body, err := sendRaw(addr, slow)
			answers <- answer{status, body, err}
		}()
	}
	if a := <-answers; a.err != nil || a.status != 429 {
		t.Fatalf("a third trickled read beside two: %d %s %v", a.status, a.body, a.err)
	}
	// ...but a writer is not.
	if status, body := s.do(t, "POST", "/ingest/account/123/events", "write-token", attackEvents); status != 200 {
		t.Errorf("ingest beside slow readers: %d %s", status, body)
	}
	select {
	case a := <-answers:
		t.Fatalf("a trickled read was answered before the writer was: %d %s %v", a.status, a.body, a.err)
	default:
	}
	for range 2 {
		a := <-answers
		if a.err != nil || a.status != 408 || !strings.Contains(a.body, `"code":408`) || strings.Contains(a.body, "127.0.0.1") || strings.Contains(a.body, "tcp") {
			t.Errorf("a trickled body: %d %s", a.status, a.body)
		}
	}
}

// TestHostHeaderIsChecked: without --public-url, a request for a host the
// server does not listen on is refused (421, JSON), absolute-form request
// lines included; --allowed-hosts adds hosts.
func TestHostHeaderIsChecked(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--keys", attackKeys(t), "--now", attackNow, "--allowed-hosts", "convops.example")
	addr := strings.TrimPrefix(s.url, "http://")
	discovery := "/api/account/123/service/leDataReporting/baseURI.json?version=1.0"
	for _, req := range []string{
		"GET " + discovery + " HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
		"GET http://attacker.example" + discovery + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
	} {
		status, header, body := rawRequest(t, addr, req)
		if status != 421 || header.Get("Content-Type") != "application/json" || strings.Contains(body, "attacker.example\"}") {
			t.Errorf("%q: %d %s", strings.SplitN(req, "\r\n", 2)[0], status, body)
		}
	}
	// A signature over the foreign host is not even checked.
	path := "/operations/api/account/123/msgconversation?timeframe=60&v=1"
	signed := oauthHeader("GET", "http://attacker.example"+path, nil, "n-host", nil)
	if status, _, body := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: "+signed+"\r\n\r\n"); status != 421 {
		t.Errorf("OAuth over a foreign host: %d %s", status, body)
	}
	for host, want := range map[string]string{addr: addr, "convops.example:8443": "convops.example:8443", "localhost:1": "localhost:1"} {
		status, _, body := rawRequest(t, addr, "GET "+discovery+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
		if status != 200 || !strings.Contains(body, `"baseURI":"`+want+`"`) {
			t.Errorf("Host %s: %d %s", host, status, body)
		}
	}
	if status, _, _ := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: pod-name\r\n\r\n"); status != 200 {
		t.Errorf("/healthz under another host: %d", status)
	}
}

// TestUncleanPathsAnswerJSON: paths with empty or dot segments are
// redirected to their clean form with a JSON body.
func TestUncleanPathsAnswerJSON(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--keys", attackKeys(t), "--now", attackNow)
	addr := strings.TrimPrefix(s.url, "http://")
	for path, want := range map[string]string{
		"//operations/api/account/123/msgconversation?v=1": "/operations/api/account/123/msgconversation?v=1",
		"/456/../123/":    "/123/",
		"/operations/./x": "/operations/x",
	} {
		status, header, body := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		if status != 308 || header.Get("Location") != want || header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"code":308`) {
			t.Errorf("%s: %d %v %s", path, status, header, body)
		}
	}
	// CONNECT's target is a host, which has no clean path to redirect to.
	if status, header, body := rawRequest(t, addr, "CONNECT "+addr+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); status != 405 || header.Get("Content-Type") != "application/json" {
		t.Errorf("CONNECT: %d %v %s", status, header, body)
	}
}

// TestRepeatedIDsAreCounted: a query body of a million copies of one id is
// refused at the limit of the list, and one past 1 MiB as too large.
func TestRepeatedIDsAreCounted(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--keys", attackKeys(t), "--now", attackNow)
	q := "/operations/api/account/123/msgconversation"
	ids := strings.Repeat("1,", 400_000) + "1"
	if status, body := s.do(t, "POST", q, "read-token", `{"timeframe":"60","v":"1","skillIds":"`+ids+`"}`); status != 400 || !strings.Contains(body, `"parameter":"skillIds"`) {
		t.Errorf("400,001 copies of one id: %d %.200s", status, body)
	}
	big := strings.Repeat("1,", 1<<20) + "1"
	if status, body := s.do(t, "POST", q, "read-token", `{"timeframe":"60","v":"1","skillIds":"`+big+`"}`); status != 413 {
		t.Errorf("a 2 MiB query body: %d %.200s", status, body)
	}
}

// TestConcurrentKeysCommands: keys add and revoke at once lose nothing:
// every key added is in the file, every key revoked is gone.
func TestConcurrentKeysCommands(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys.json")
	run := func(args ...string) error {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		return m.Run(context.Background(), append([]string{"keys"}, append(args, "--keys", keys)...))
	}
	for i := range 10 {
		if err := run("add", "--name", fmt.Sprintf("old%d", i), "--account", "1"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run("add", "--name", fmt.Sprintf("new%d", i), "--account", "1"); err != nil {
				t.Error(err)
			}
		}()
	}
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run("revoke", fmt.Sprintf("old%d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f, err := auth.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range f.Keys {
		names = append(names, k.Name)
	}
	var want []string
	for i := 5; i < 10; i++ {
		want = append(want, fmt.Sprintf("old%d", i))
	}
	for i := range 20 {
		want = append(want, fmt.Sprintf("new%d", i))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("keys after 20 adds and 5 revokes at once:\n got %v\nwant %v", names, want)
	}
}

// TestKeysThroughASymlink: keys add on a symbolic link writes its target
// and keeps the link.
func TestKeysThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "keys.json")
	os.MkdirAll(filepath.Dir(target), 0o700)
	if err := auth.WriteFile(target, &auth.File{}); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "keys.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	if err := m.Run(context.Background(), []string{"keys", "add", "--name", "k", "--account", "1", "--keys", link}); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", info.Mode(), err)
	}
	f, err := auth.ReadFile(target)
	if err != nil || len(f.Keys) != 1 || f.Keys[0].Name != "k" {
		t.Errorf("the target holds %+v (%v), want the new key", f, err)
	}
}
