package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/auth"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/internal/testkit"
)

// budgetKeys is a keyring with a bearer key for each of the accounts a, b
// and c (its token is the account's name twice), and an OAuth key for
// every account whose consumer key and token, which are not secret, anyone
// may know.
func budgetKeys(t *testing.T) *auth.Keyring {
	t.Helper()
	f := &auth.File{Keys: []auth.Key{{Name: "lp", Accounts: []string{auth.AllAccounts}, Scopes: []string{convops.ScopeRead, convops.ScopeWrite},
		OAuth1: &auth.OAuth1Credentials{ConsumerKey: "public-ck", ConsumerSecret: "secret", Token: "public-token", TokenSecret: "secret"}}}}
	for _, account := range []string{"a", "b", "c"} {
		f.Keys = append(f.Keys, auth.Key{Name: account, Accounts: []string{account}, Scopes: []string{convops.ScopeRead, convops.ScopeWrite},
			BearerSHA256: auth.HashToken(account + account)})
	}
	k, err := auth.NewKeyring(f, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// announce opens a connection and sends the head of a request whose body,
// of the length it announces, never comes. The connection is closed when
// the test ends.
func announce(t *testing.T, url, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// sendAs sends a request with a bearer token and returns the status.
func sendAs(t *testing.T, ts *testServer, token, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// countingAuth counts the requests whose credentials were checked.
type countingAuth struct {
	httpapi.Authenticator
	checked atomic.Int64
}

func (c *countingAuth) Authenticate(r *http.Request, account, scope string) error {
	c.checked.Add(1)
	return c.Authenticator.Authenticate(r, account, scope)
}

// TestAnnouncedBodiesHoldNothing: a request pays for its body as it
// arrives, not for what it announces. Forged signed forms (the consumer key
// and token of a key of every account, a wrong signature) announcing 1 MiB
// each, and ingests with good bearer keys of two accounts announcing 16 MiB
// each, none sending a byte, leave every other request its room.
func TestAnnouncedBodiesHoldNothing(t *testing.T) {
	keys := &countingAuth{Authenticator: budgetKeys(t)}
	ts := newTestServer(t, func(o *httpapi.Options) { o.Auth = keys })
	for i := range 7 {
		announce(t, ts.URL, fmt.Sprintf("POST /operations/api/account/x%d/msgconversation HTTP/1.1\r\nHost: x\r\n"+
			"Authorization: OAuth oauth_consumer_key=\"public-ck\", oauth_token=\"public-token\", oauth_signature_method=\"HMAC-SHA1\", "+
			"oauth_timestamp=\"%d\", oauth_nonce=\"n%d\", oauth_signature=\"forged\"\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", i, time.Now().Unix(), i, 1<<20))
	}
	for _, account := range []string{"a", "a", "b", "b"} {
		announce(t, ts.URL, fmt.Sprintf("POST /ingest/account/%s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s%s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n[", account, account, account, 16<<20))
	}
	// Every one of them is being served: its credentials are checked (or,
	// for a form, being checked while its body is awaited).
	testkit.Eventually(t, time.Minute, func() bool { return keys.checked.Load() == 11 })
	event := `[{"conversationId":"c1","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":1000}]`
	if status := sendAs(t, ts, "cc", "POST", "/ingest/account/c/events", event); status != http.StatusOK {
		t.Errorf("an ingest of another account: %d, want 200", status)
	}
	if status := sendAs(t, ts, "cc", "GET", "/operations/api/account/c/msgconversation?timeframe=60&v=1", ""); status != http.StatusOK {
		t.Errorf("a query of another account: %d, want 200", status)
	}
}

// TestTrickledBodiesAreCut: a body that falls behind the floor rate is cut
// once its grace has passed, whatever length it announced (a deadline that
// followed the length announced would have waited 266 s for this one).
func TestTrickledBodiesAreCut(t *testing.T) {
	ts := newTestServer(t, func(o *httpapi.Options) { o.Auth = budgetKeys(t) })
	conn := announce(t, ts.URL, fmt.Sprintf("POST /ingest/account/a/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer aa\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n[", 16<<20))
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	began := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case status := <-answered:
			if status != http.StatusRequestTimeout {
				t.Fatalf("a trickled body: %d, want 408", status)
			}
			if waited := time.Since(began); waited < 10*time.Second {
				t.Errorf("cut after %s, before its grace", waited)
			}
			return
		case <-tick.C:
			if time.Since(began) > 2*time.Minute {
				t.Fatal("a body trickled at 2 KiB/s is still read after 2 minutes")
			}
			conn.Write([]byte(strings.Repeat(" ", 1<<10)))
		}
	}
}
