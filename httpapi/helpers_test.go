package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/internal/testkit"
	"github.com/convops/convops/internal/testnode"
)

// testServer is a real node (embedded JetStream in a temporary directory, the
// fold, the store) behind the HTTP API, with a data clock the test sets.
type testServer struct {
	*httptest.Server
	api   *httpapi.Server
	clock atomic.Int64 // epoch ms
}

func (ts *testServer) setNow(rfc3339 string) {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		panic(err)
	}
	ts.clock.Store(t.UnixMilli())
}

func newTestServer(t testing.TB, opts ...func(*httpapi.Options)) *testServer {
	t.Helper()
	n := testnode.Node(t)
	ts := &testServer{}
	ts.setNow(testkit.NowText)
	o := httpapi.Options{
		Backend: n,
		Now:     func() time.Time { return time.UnixMilli(ts.clock.Load()) },
	}
	for _, opt := range opts {
		opt(&o)
	}
	ts.api = httpapi.New(o)
	ts.Server = httptest.NewServer(ts.api)
	t.Cleanup(ts.Close)
	return ts
}

// do sends a request and returns the status, the Content-Type and the body.
func (ts *testServer) do(t testing.TB, method, path, contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// ingest posts events and fails the test unless they are accepted.
func (ts *testServer) ingest(t testing.TB, account, events string) (accepted, duplicates int) {
	t.Helper()
	status, _, body := ts.do(t, "POST", "/ingest/account/"+account+"/events", "application/json", events)
	if status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	var out struct{ Accepted, Duplicates int }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("ingest answer %s: %v", body, err)
	}
	return out.Accepted, out.Duplicates
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Code      int    `json:"code"`
	Message   string `json:"message"`
	Parameter string `json:"parameter"`
	Errors    []struct {
		Index   int    `json:"index"`
		Message string `json:"message"`
	} `json:"errors"`
}

// wantError checks that an answer is a JSON error with the status and parameter.
func wantError(t *testing.T, status int, header http.Header, body []byte, wantStatus int, wantParam string) errorBody {
	t.Helper()
	var e errorBody
	if status != wantStatus {
		t.Errorf("status %d, want %d (body %s)", status, wantStatus, body)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if e.Code != wantStatus || e.Message == "" || e.Parameter != wantParam {
		t.Errorf("error body %s: want code %d and parameter %q", body, wantStatus, wantParam)
	}
	return e
}
