package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/httpapi"
)

type refuseAll struct{}

func (refuseAll) Authenticate(*http.Request, string, string) error {
	return convops.Errorf(convops.EUnauthorized, "no")
}

// sendWholeBodyFirst writes a whole request, body included, before it reads
// a byte of the answer, as Python's http.client and Java's
// HttpURLConnection do, and returns the status it reads.
func sendWholeBodyFirst(t *testing.T, url string, size int) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	body := bytes.Repeat([]byte(" "), size)
	head := fmt.Sprintf("POST /ingest/account/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		t.Fatalf("writing the request: %v (the server closed before reading the body)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestEarlyAnswerReachesTheClient: answers given before the body is read
// (no room in the budget, unknown credentials, a body over the limit) reach
// a client that writes its whole body first.
func TestEarlyAnswerReachesTheClient(t *testing.T) {
	cases := []struct {
		name   string
		opt    func(*httpapi.Options)
		size   int
		status int
	}{
		{"429 no room for the body", func(o *httpapi.Options) { o.MaxInflightBytes = 1 << 20 }, 8 << 20, 429},
		{"401 before the body", func(o *httpapi.Options) { o.Auth = refuseAll{} }, 8 << 20, 401},
		{"413 body over the limit", nil, 20 << 20, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts []func(*httpapi.Options)
			if c.opt != nil {
				opts = append(opts, c.opt)
			}
			ts := newTestServer(t, opts...)
			status, body := sendWholeBodyFirst(t, ts.URL, c.size)
			if status != c.status || !strings.Contains(body, fmt.Sprintf(`"code":%d`, c.status)) {
				t.Errorf("%d %s, want %d", status, body, c.status)
			}
		})
	}
}

// TestBudgetCountsBodiesAsRead: a body sent without a length counts against
// the budget as it is read, and one past the room left is refused with 429
// and Retry-After; the budget is given back after each request.
func TestBudgetCountsBodiesAsRead(t *testing.T) {
	ts := newTestServer(t, func(o *httpapi.Options) { o.MaxInflightBytes = 16 << 20 })
	event := `{"conversationId":"c%d","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1}`
	send := func(n int) *http.Response {
		var sb strings.Builder
		sb.WriteByte('[')
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, event, i)
		}
		sb.WriteByte(']')
		// A reader of unknown length: the body goes chunked.
		req, _ := http.NewRequest("POST", ts.URL+"/ingest/account/acme/events", io.MultiReader(strings.NewReader(sb.String())))
		req.Header.Set("Content-Type", "application/json")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := send(60000); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" { // about 6 MB, holding 30
		t.Errorf("a 6 MB body against a 16 MiB budget: %d", resp.StatusCode)
	}
	for range 3 { // the budget is back each time
		if resp := send(10000); resp.StatusCode != 200 { // about 1 MB, holding 5
			t.Errorf("a 1 MB body: %d", resp.StatusCode)
		}
	}
}
