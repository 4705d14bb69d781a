package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

// serve runs an HTTP server on l whose /key requests count as
// authenticated and whose other requests do not.
func serve(t *testing.T, opts Options) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, opts)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/key" {
				MarkAuthenticated(r.Context())
			}
			io.WriteString(w, "ok")
		}),
		ConnState:   l.ConnState,
		ConnContext: l.ConnContext,
		IdleTimeout: time.Minute,
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}

// client is one keep-alive connection.
type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, l *Listener) *client {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{c, bufio.NewReader(c)}
}

// get sends a request on the connection and returns the status, 0 when the
// connection is closed.
func (c *client) get(path string) int {
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestPerAddress: past the bound of one address, the oldest stranger of
// the address makes room; with none, a connection is refused with the
// refusal written; one closing makes room.
func TestPerAddress(t *testing.T) {
	refusal := "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	l := serve(t, Options{PerAddress: 2, Refusal: []byte(refusal)})
	silent, idle := dial(t, l), dial(t, l)
	if idle.get("/healthz") != 200 {
		t.Fatal("first request failed")
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return l.Stats().Strangers == 2 })
	a, b := dial(t, l), dial(t, l)
	if a.get("/key") != 200 || b.get("/key") != 200 {
		t.Fatal("two connections of one address refused while two strangers could make room")
	}
	if silent.get("/healthz") != 0 || idle.get("/healthz") != 0 {
		t.Error("the strangers still answer: not evicted")
	}
	if got := dial(t, l).get("/key"); got != 503 {
		t.Errorf("a third connection of the address: %d, want the refusal's 503", got)
	}
	a.Close()
	testkit.Eventually(t, 30*time.Second, func() bool { return l.Stats().Open == 1 })
	if got := dial(t, l).get("/key"); got != 200 {
		t.Errorf("after one closed: %d", got)
	}
	if st := l.Stats(); st.RefusedAddress != 1 || st.Evicted != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestFullServerEvictsIdleStrangers: past the bound in all, the oldest
// connection that never authenticated and is idle, or has sent nothing, is
// closed to make room; when every connection authenticated, the new one is
// refused.
func TestFullServerEvictsIdleStrangers(t *testing.T) {
	l := serve(t, Options{Max: 3})
	stranger, keyed := dial(t, l), dial(t, l)
	if stranger.get("/healthz") != 200 || keyed.get("/key") != 200 {
		t.Fatal("first requests failed")
	}
	third := dial(t, l)
	if third.get("/key") != 200 {
		t.Fatal("third connection refused")
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return l.Stats().Strangers == 1 })
	fourth := dial(t, l)
	if got := fourth.get("/key"); got != 200 {
		t.Fatalf("a connection past the bound, with an idle stranger to evict: %d", got)
	}
	if got := stranger.get("/healthz"); got != 0 {
		t.Errorf("the idle stranger still answers (%d): not evicted", got)
	}
	if got := keyed.get("/key"); got != 200 {
		t.Errorf("an authenticated connection was closed: %d", got)
	}
	// Now every connection authenticated: the next is refused.
	if got := dial(t, l).get("/key"); got != 0 {
		t.Errorf("a connection past the bound, nothing to evict: %d", got)
	}
	if st := l.Stats(); st.Evicted != 1 || st.RefusedTotal != 1 || st.Open != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestSilentConnectionsMakeRoom: connections that never send a byte fill
// the server no more than idle ones: each new connection closes the oldest
// of them, and a client with a key is served.
func TestSilentConnectionsMakeRoom(t *testing.T) {
	l := serve(t, Options{Max: 5})
	var silent []*client
	for range 20 {
		silent = append(silent, dial(t, l))
	}
	testkit.Eventually(t, 30*time.Second, func() bool { st := l.Stats(); return st.Open == 5 && st.Evicted == 15 })
	if got := dial(t, l).get("/key"); got != 200 {
		t.Errorf("a keyed client beside silent connections: %d", got)
	}
	if got := silent[0].get("/healthz"); got != 0 {
		t.Errorf("the oldest silent connection answers (%d): not evicted", got)
	}
}

// TestIdleStrangersAreClosedSooner: an idle connection that never carried
// an authenticated request is closed after UnauthenticatedIdle; an
// authenticated one is not.
func TestIdleStrangersAreClosedSooner(t *testing.T) {
	l := serve(t, Options{UnauthenticatedIdle: 100 * time.Millisecond})
	stranger, keyed := dial(t, l), dial(t, l)
	if stranger.get("/healthz") != 200 || keyed.get("/key") != 200 {
		t.Fatal("first requests failed")
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return l.Stats().IdleClosed == 1 })
	if _, err := stranger.r.ReadByte(); err == nil || !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Errorf("the stranger's connection: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // three times its idle time
	if got := keyed.get("/key"); got != 200 {
		t.Errorf("the authenticated connection, idle as long: %d", got)
	}
}
