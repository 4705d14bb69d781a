package httpapi

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/internal/testkit"
)

// bearerOnly accepts the token "good" for every account.
type bearerOnly struct{}

func (bearerOnly) Authenticate(r *http.Request, _, _ string) error {
	if r.Header.Get("Authorization") != "Bearer good" {
		return &convops.Error{Code: convops.EUnauthorized, Message: "no"}
	}
	return nil
}

// heldBy is what the requests of account hold.
func (b *byteBudget) heldBy(account string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accounts[account]
}

// TestLoadIsNotToldBeforeCredentials: a request whose credentials do not
// hold learns nothing of the account's load: announcing a 10 MiB body (and
// waiting for 100-continue, so as to send none), it gets 401 whether the
// account's share of the budget is free or taken.
func TestLoadIsNotToldBeforeCredentials(t *testing.T) {
	s := New(Options{Backend: &testkit.Backend{}, Auth: bearerOnly{}, MaxInflightBytes: 8 << 20})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close) // after the connections' own cleanups

	dial := func(head string) net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	probe := func() int {
		t.Helper()
		conn := dial(fmt.Sprintf("POST /ingest/account/a/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess\r\n"+
			"Expect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 10<<20))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := probe(); status != http.StatusUnauthorized {
		t.Fatalf("while the account is idle: %d, want 401", status)
	}
	// The account uploads: most of its share (half of the budget) is held
	// by a body that has arrived in part.
	upload := dial(fmt.Sprintf("POST /ingest/account/a/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n[", 2<<20))
	for range 12 { // 768 KiB, holding 3.75 MiB of 4
		if _, err := upload.Write([]byte(strings.Repeat(" ", 64<<10))); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, time.Minute, func() bool { return s.budget.heldBy("a") >= 3<<20 })
	if status := probe(); status != http.StatusUnauthorized {
		t.Fatalf("while the account uploads: %d, want 401", status)
	}
}
