package auth

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dghubble/oauth1"

	"github.com/convops/convops"
)

var lpCreds = OAuth1Credentials{ConsumerKey: "ck-1", ConsumerSecret: "cs secret+/=", Token: "tok-1", TokenSecret: "ts&secret"}

func testFile() *File {
	return &File{Keys: []Key{
		{Name: "lp-app", Accounts: []string{"123"}, Scopes: []string{convops.ScopeRead, convops.ScopeWrite}, OAuth1: &lpCreds},
		{Name: "wallboard", Accounts: []string{"123"}, Scopes: []string{convops.ScopeRead}, BearerSHA256: HashToken("wall-token")},
		{Name: "everything", Accounts: []string{AllAccounts}, Scopes: []string{convops.ScopeRead, convops.ScopeWrite}, BearerSHA256: HashToken("all-token")},
	}}
}

// authServer answers 200 with the body it read when the keyring accepts the
// request for the account and scope in the path, else the error's status.
type authServer struct {
	*httptest.Server
	keyring *Keyring
	skew    atomic.Int64 // added to the server's real clock, in seconds
}

func newAuthServer(t *testing.T, publicURL string) *authServer {
	t.Helper()
	as := &authServer{}
	k, err := NewKeyring(testFile(), Options{PublicURL: publicURL, Now: func() time.Time {
		return time.Now().Add(time.Duration(as.skew.Load()) * time.Second)
	}})
	if err != nil {
		t.Fatal(err)
	}
	as.keyring = k
	as.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/") // /{account}/{scope}
		err := k.Authenticate(r, parts[1], parts[2])
		var e *convops.Error
		switch {
		case errors.As(err, &e) && e.Code == convops.EUnauthorized:
			w.WriteHeader(401)
		case errors.As(err, &e) && e.Code == convops.EForbidden:
			w.WriteHeader(403)
		case err != nil:
			w.WriteHeader(500)
		default:
			body, _ := io.ReadAll(r.Body)
			w.Write(body)
		}
	}))
	t.Cleanup(as.Close)
	return as
}

// oauthClient signs requests with the third-party dghubble/oauth1 signer.
func oauthClient(c OAuth1Credentials) *http.Client {
	cfg := oauth1.NewConfig(c.ConsumerKey, c.ConsumerSecret)
	return cfg.Client(context.Background(), oauth1.NewToken(c.Token, c.TokenSecret))
}

func send(t *testing.T, client *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOAuth1ThirdPartySigner(t *testing.T) {
	as := newAuthServer(t, "")
	client := oauthClient(lpCreds)
	wrongSecret := lpCreds
	wrongSecret.TokenSecret = "guess"

	form := func(path, body string) *http.Request {
		req, _ := http.NewRequest("POST", as.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	cases := []struct {
		name   string
		client *http.Client
		req    func() *http.Request
		status int
		body   string
	}{
		{"GET with query parameters", client, func() *http.Request {
			req, _ := http.NewRequest("GET", as.URL+"/123/read?timeframe=60&v=1&skillIds=1%2C2&agentIds=a+b%20c~", nil)
			return req
		}, 200, ""},
		{"POST with a JSON body", client, func() *http.Request {
			req, _ := http.NewRequest("POST", as.URL+"/123/write?v=1", strings.NewReader(`{"timeframe":"60"}`))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, 200, `{"timeframe":"60"}`},
		{"POST with a form body", client, func() *http.Request { return form("/123/read", "timeframe=60&v=1&skillIds=3%2C4") }, 200, "timeframe=60&v=1&skillIds=3%2C4"},
		{"wrong secret", oauthClient(wrongSecret), func() *http.Request {
			req, _ := http.NewRequest("GET", as.URL+"/123/read?timeframe=60", nil)
			return req
		}, 401, ""},
		{"wrong account", client, func() *http.Request {
			req, _ := http.NewRequest("GET", as.URL+"/456/read?timeframe=60", nil)
			return req
		}, 401, ""},
		{"missing scope", client, func() *http.Request {
			req, _ := http.NewRequest("GET", as.URL+"/123/admin", nil)
			return req
		}, 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := send(t, tc.client, tc.req())
			if status != tc.status || (tc.status == 200 && body != tc.body) {
				t.Errorf("got %d %q, want %d %q", status, body, tc.status, tc.body)
			}
		})
	}
}

// tamper sends a request signed by the third-party signer, changed after signing.
func signedThenChanged(t *testing.T, as *authServer, target string, change func(*http.Request)) int {
	t.Helper()
	var status int
	client := oauthClient(lpCreds)
	client.Transport.(*oauth1.Transport).Base = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		change(req)
		return http.DefaultTransport.RoundTrip(req)
	})
	req, _ := http.NewRequest("GET", target, nil)
	status, _ = send(t, client, req)
	return status
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOAuth1Refusals(t *testing.T) {
	as := newAuthServer(t, "")

	t.Run("tampered query", func(t *testing.T) {
		status := signedThenChanged(t, as, as.URL+"/123/read?timeframe=60&v=1", func(r *http.Request) {
			r.URL.RawQuery = "timeframe=1440&v=1"
		})
		if status != 401 {
			t.Errorf("got %d", status)
		}
	})
	t.Run("replayed nonce", func(t *testing.T) {
		var captured http.Header
		status := signedThenChanged(t, as, as.URL+"/123/read?timeframe=60", func(r *http.Request) { captured = r.Header.Clone() })
		if status != 200 {
			t.Fatalf("first use: %d", status)
		}
		req, _ := http.NewRequest("GET", as.URL+"/123/read?timeframe=60", nil)
		req.Header = captured
		if status, _ := send(t, http.DefaultClient, req); status != 401 {
			t.Errorf("replay: %d", status)
		}
	})
	t.Run("stale timestamp", func(t *testing.T) {
		as.skew.Store(6 * 60) // the server's clock is 6 minutes ahead of the client's
		defer as.skew.Store(0)
		req, _ := http.NewRequest("GET", as.URL+"/123/read", nil)
		if status, _ := send(t, oauthClient(lpCreds), req); status != 401 {
			t.Errorf("got %d", status)
		}
	})
	t.Run("within the skew", func(t *testing.T) {
		as.skew.Store(-4 * 60)
		defer as.skew.Store(0)
		req, _ := http.NewRequest("GET", as.URL+"/123/read", nil)
		if status, _ := send(t, oauthClient(lpCreds), req); status != 200 {
			t.Errorf("got %d", status)
		}
	})
	for name, header := range map[string]string{
		"unparsable header": `OAuth oauth_consumer_key=ck-1`,
		"unknown consumer":  `OAuth oauth_consumer_key="nope", oauth_token="tok-1", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1", oauth_nonce="n", oauth_signature="x"`,
		"PLAINTEXT":         `OAuth oauth_consumer_key="ck-1", oauth_token="tok-1", oauth_signature_method="PLAINTEXT", oauth_timestamp="1", oauth_nonce="n", oauth_signature="x"`,
		"other scheme":      `Basic dXNlcjpwYXNz`,
		"empty bearer":      `Bearer `,
		"unknown bearer":    `Bearer nope`,
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", as.URL+"/123/read", nil)
			req.Header.Set("Authorization", header)
			if status, _ := send(t, http.DefaultClient, req); status != 401 {
				t.Errorf("got %d", status)
			}
		})
	}
}

// TestOAuth1BehindProxy: the client signs the public URL; the request reaches
// the server on another host and port. With --public-url it verifies.
func TestOAuth1BehindProxy(t *testing.T) {
	for _, tc := range []struct {
		publicURL string
		status    int
	}{{"https://convops.example.com", 200}, {"", 401}} {
		as := newAuthServer(t, tc.publicURL)
		client := oauthClient(lpCreds)
		backend, _ := url.Parse(as.URL)
		client.Transport.(*oauth1.Transport).Base = roundTripFunc(func(req *http.Request) (*http.Response, error) {
			req.URL.Scheme, req.URL.Host = backend.Scheme, backend.Host // what a reverse proxy does
			return http.DefaultTransport.RoundTrip(req)
		})
		req, _ := http.NewRequest("GET", "https://convops.example.com/123/read?timeframe=60", nil)
		if status, _ := send(t, client, req); status != tc.status {
			t.Errorf("public URL %q: got %d, want %d", tc.publicURL, status, tc.status)
		}
	}
}

// signatureBase is the signature base string of r (writeSignatureBase).
func signatureBase(r *http.Request, header oauthParams, publicURL *url.URL, form bool) (string, error) {
	var b strings.Builder
	err := writeSignatureBase(&b, r, header, publicURL, form)
	return b.String(), err
}

// TestSignatureBaseRFC5849 checks the base string of RFC 5849 section 3.4.1.1,
// which has repeated keys, an empty value, and encoded characters.
func TestSignatureBaseRFC5849(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", strings.NewReader("c2&a3=2+q"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "example.com"
	p, ok := parseOAuthHeader(`realm="Example", oauth_consumer_key="9djdj82h48djs9d2", oauth_token="kkk9d7dh3k39sjv7", ` +
		`oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D"`)
	if !ok {
		t.Fatal("header not parsed")
	}
	got, err := signatureBase(req, p, nil, isSignedForm(req, convops.ScopeRead))
	if err != nil {
		t.Fatal(err)
	}
	want := "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q" +
		"%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_" +
		"key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m" +
		"ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk" +
		"9d7dh3k39sjv7"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if body, _ := io.ReadAll(req.Body); string(body) != "c2&a3=2+q" {
		t.Errorf("body not restored: %q", body)
	}
}

func TestBearer(t *testing.T) {
	as := newAuthServer(t, "")
	cases := []struct {
		token, path string
		status      int
	}{
		{"wall-token", "/123/read", 200},
		{"wall-token", "/124/read", 401},
		{"wall-token", "/123/write", 403},
		{"all-token", "/any-account/write", 200},
		{"guess", "/123/read", 401},
		{"", "/123/read", 401},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", as.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		if status, _ := send(t, http.DefaultClient, req); status != tc.status {
			t.Errorf("%q %s: %d, want %d", tc.token, tc.path, status, tc.status)
		}
	}
	// After a reload without the wallboard key, its token is refused.
	f := testFile()
	f.Keys = f.Keys[2:]
	as.keyring.Replace(f)
	req, _ := http.NewRequest("GET", as.URL+"/123/read", nil)
	req.Header.Set("Authorization", "Bearer wall-token")
	if status, _ := send(t, http.DefaultClient, req); status != 401 {
		t.Errorf("revoked token: %d", status)
	}
}

func TestNonceStore(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	now := t0
	s := NewMemoryNonces(func() time.Time { return now })
	use := func(ck, nonce string, at time.Time) bool {
		t.Helper()
		now = at
		fresh, err := s.Use(context.Background(), nonceDigest(ck, "tok", nonce))
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !use("ck", "n1", t0) {
		t.Fatal("a new nonce is not fresh")
	}
	if use("ck", "n1", t0.Add(NonceWindow)) {
		t.Errorf("a replay within the window is fresh")
	}
	if !use("ck2", "n1", t0) {
		t.Errorf("the same nonce of another consumer is not fresh")
	}
	if !use("ck", "n1", t0.Add(NonceWindow+time.Second)) {
		t.Errorf("the nonce is not fresh after the window")
	}
	if len(s.seen) != 1 {
		t.Errorf("%d nonces kept, want 1 (the others expired)", len(s.seen))
	}
	// A digest is of a fixed size whatever the nonce's length.
	if a, b := nonceDigest("ck", "tok", strings.Repeat("n", 60000)), nonceDigest("ck", "tok", "n"); len(a) != 32 || len(b) != 32 || a == b {
		t.Errorf("digests %q and %q", a, b)
	}
}

func TestReadFileRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode uint32) string {
		path := dir + "/" + name
		if err := writeRaw(path, content, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := map[string]string{
		"not JSON":       write("a.json", `{"keys": [`, 0o600),
		"unknown field":  write("b.json", `{"keys": [{"name":"x","accounts":["1"],"scopes":["read"],"bearerSHA":"00"}]}`, 0o600),
		"bad scope":      write("c.json", `{"keys": [{"name":"x","accounts":["1"],"scopes":["admin"],"bearerSha256":"`+HashToken("t")+`"}]}`, 0o600),
		"short hash":     write("d.json", `{"keys": [{"name":"x","accounts":["1"],"scopes":["read"],"bearerSha256":"abcd"}]}`, 0o600),
		"no secret":      write("e.json", `{"keys": [{"name":"x","accounts":["1"],"scopes":["read"]}]}`, 0o600),
		"world readable": write("f.json", `{"keys": []}`, 0o644),
		"duplicate name": write("g.json", `{"keys": [{"name":"x","accounts":["1"],"scopes":["read"],"bearerSha256":"`+HashToken("t")+`"},{"name":"x","accounts":["1"],"scopes":["read"],"bearerSha256":"`+HashToken("u")+`"}]}`, 0o600),
	}
	for name, path := range cases {
		if _, err := ReadFile(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	token, err := CreateDefaultFile(dir + "/new.json")
	if err != nil || token == "" {
		t.Fatalf("create default: %q %v", token, err)
	}
	f, err := ReadFile(dir + "/new.json")
	if err != nil || len(f.Keys) != 1 || f.Keys[0].BearerSHA256 != HashToken(token) {
		t.Fatalf("default file: %+v %v", f, err)
	}
	if again, _ := CreateDefaultFile(dir + "/new.json"); again != "" {
		t.Error("an existing keys file was replaced")
	}
}

func writeRaw(path, content string, mode uint32) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, os.FileMode(mode))
}

// TestCompareEncoded: parameters sort as their percent-encodings do,
// without building them.
func TestCompareEncoded(t *testing.T) {
	alphabet := []byte("aZ09-._~ %&=+/\xff\x00é")
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		a, b := word(), word()
		want := strings.Compare(percentEncode(a), percentEncode(b))
		if got := compareEncoded(a, b); (got > 0) != (want > 0) || (got < 0) != (want < 0) {
			t.Fatalf("compareEncoded(%q, %q) = %d, the encodings compare %d", a, b, got, want)
		}
	}
}

// TestSignedRequestsPerKey: a key's signed requests past its rate are
// refused (429) before their nonces are recorded; forged ones, which anyone
// knowing the consumer key and token can send, spend none of it; another
// key keeps its own.
func TestSignedRequestsPerKey(t *testing.T) {
	nonces := &countingNonces{NonceStore: NewMemoryNonces(nil)}
	other := OAuth1Credentials{ConsumerKey: "ck-2", ConsumerSecret: "s2", Token: "tok-2", TokenSecret: "t2"}
	f := testFile()
	f.Keys = append(f.Keys, Key{Name: "other", Accounts: []string{"123"}, Scopes: []string{convops.ScopeRead}, OAuth1: &other})
	k, err := NewKeyring(f, Options{SignedPerKey: 1, Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := k.Authenticate(r, "123", convops.ScopeRead)
		var e *convops.Error
		switch {
		case err == nil:
			w.WriteHeader(200)
		case errors.As(err, &e) && e.Code == convops.ETooMany && e.Cause == convops.CauseRate:
			w.WriteHeader(429)
		case errors.As(err, &e) && e.Code == convops.EUnauthorized:
			w.WriteHeader(401)
		default:
			w.WriteHeader(500)
		}
	}))
	defer ts.Close()
	count := func(client *http.Client, n int) map[int]int {
		statuses := map[int]int{}
		for range n {
			req, _ := http.NewRequest("GET", ts.URL+"/q?timeframe=60", nil)
			status, _ := send(t, client, req)
			statuses[status]++
		}
		return statuses
	}
	forged := lpCreds
	forged.ConsumerSecret = "guess"
	if got := count(oauthClient(forged), 50); got[401] != 50 {
		t.Fatalf("forged requests: %v, want 50 × 401", got)
	}
	got := count(oauthClient(lpCreds), 30)
	if got[200] < 2 || got[429] == 0 || got[200]+got[429] != 30 {
		t.Errorf("30 signed requests at once at 1 a second (2 in a burst): %v", got)
	}
	if int(nonces.used.Load()) != got[200] {
		t.Errorf("%d nonces recorded for %d requests let in", nonces.used.Load(), got[200])
	}
	if k.SignedRefused() != uint64(got[429]) {
		t.Errorf("%d refusals counted, %d answered", k.SignedRefused(), got[429])
	}
	if got := count(oauthClient(other), 2); got[200] != 2 {
		t.Errorf("another key's requests: %v", got)
	}
}

// countingNonces counts the nonces recorded.
type countingNonces struct {
	NonceStore
	used atomic.Int64
}

func (c *countingNonces) Use(ctx context.Context, digest string) (bool, error) {
	c.used.Add(1)
	return c.NonceStore.Use(ctx, digest)
}
