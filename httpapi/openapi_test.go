package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/convops/convops"
	"github.com/convops/convops/auth"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/web"
)

// TestOpenAPIDescribesEveryAnswer checks real answers of every shape, and
// every error the server gives, against /openapi.json with a third-party
// OpenAPI 3.1 validator; and checks that every operation the document lists
// was exercised, so that no endpoint goes undescribed or untested.
func TestOpenAPIDescribesEveryAnswer(t *testing.T) {
	readKey, readToken := auth.NewBearerKey("read", []string{"123"}, []string{convops.ScopeRead})
	writeKey, writeToken := auth.NewBearerKey("write", []string{"123"}, []string{convops.ScopeRead, convops.ScopeWrite})
	keyring, err := auth.NewKeyring(&auth.File{Keys: []auth.Key{readKey, writeKey}}, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *httpapi.Options) {
		o.Auth = keyring
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			io.WriteString(w, "convops_up 1\n")
		})
		o.Dashboard = web.Dashboard()
	})
	// A server whose request-memory budget is tiny, for the 429.
	tight := newTestServer(t, func(o *httpapi.Options) { o.Auth = keyring; o.MaxInflightBytes = 1 })

	status, _, served := ts.do(t, "GET", "/openapi.json", "", "")
	if status != 200 || !bytes.Equal(served, httpapi.OpenAPI()) {
		t.Fatalf("/openapi.json: %d, %d bytes", status, len(served))
	}
	doc, err := libopenapi.NewDocument(served)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("OpenAPI version %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("the document is invalid: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}

	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	read, write := bearer(readToken), bearer(writeToken)
	const q = "/operations/api/account/123/msgconversation"
	const ingest = "/ingest/account/123/events"
	events := `[{"conversationId":"c1","skillId":3,"agentId":2,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":426},
		{"conversationId":"c2","resolvedBy":"SYSTEM","resolvedAt":1795786000000,"handlingTimeMs":0}]`
	const livePerson = "/ingest/account/123/liveperson/conversations"
	const lpOp = "POST /ingest/account/{accountID}/liveperson/conversations"
	lpPage := `{"_metadata":{"count":2},"conversationHistoryRecords":[
		{"info":{"conversationId":"lp1","status":"CLOSE","endTimeL":1795786000000,"closeReason":"AGENT","latestSkillId":3,"latestAgentId":"2"},
		 "interactions":[{"assignedAgentId":"2","interactionTimeL":1795785000000}]},
		{"info":{"conversationId":"lp2","status":"OPEN","endTimeL":-1,"latestSkillId":-1}}]}`
	type exchange struct {
		server              *testServer
		method, path, ctype string
		header              http.Header
		body                string
		want                int
		operation           string // "METHOD /path" of the document
		stream              bool
	}
	cases := []exchange{
		{method: "POST", path: ingest, ctype: "application/json", header: write, body: events, want: 200, operation: "POST /ingest/account/{accountID}/events"},
		{method: "POST", path: ingest, ctype: "application/x-ndjson", header: write, body: `{"conversationId":"c3","agentId":"7","resolvedBy":"consumer","resolvedAt":"2026-11-27T13:21:00Z","handlingTimeMs":5}` + "\n", want: 200, operation: "POST /ingest/account/{accountID}/events"},
		{method: "POST", path: ingest, ctype: "application/json", header: write, body: `[{"conversationId":"x","resolvedBy":"nobody","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":-1}]`, want: 400, operation: "POST /ingest/account/{accountID}/events"},
		{method: "POST", path: ingest, ctype: "text/csv", header: write, body: "a,b", want: 415, operation: "POST /ingest/account/{accountID}/events"},
		{method: "POST", path: ingest, ctype: "application/json", header: read, body: events, want: 403, operation: "POST /ingest/account/{accountID}/events"},
		{method: "POST", path: ingest, ctype: "application/json", header: write, body: `[` + strings.Repeat(" ", 17<<20) + `]`, want: 413, operation: "POST /ingest/account/{accountID}/events"},
		{server: tight, method: "POST", path: ingest, ctype: "application/json", header: write, body: events, want: 429, operation: "POST /ingest/account/{accountID}/events"},
		{method: "DELETE", path: ingest, header: write, want: 405},

		{method: "POST", path: livePerson, ctype: "application/json", header: write, body: lpPage, want: 200, operation: lpOp},
		{method: "POST", path: livePerson, ctype: "application/json", header: write, body: `[{"info":{"conversationId":"lp9","status":"CLOSE","endTimeL":"soon"}}]`, want: 400, operation: lpOp},
		{method: "POST", path: livePerson, ctype: "application/x-ndjson", header: write, body: lpPage, want: 415, operation: lpOp},
		{method: "POST", path: livePerson, ctype: "application/json", header: read, body: lpPage, want: 403, operation: lpOp},

		{method: "GET", path: q + "?v=1&timeframe=60", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&skillIds=all", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&skillIds=99", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&agentIds=2,6", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&agentIds=all&skillIds=all", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&interval=30", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=20&interval=10&skillIds=3&agentIds=2", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=61", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&percentiles=50,90,99.9&thresholds=1,600", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&skillIds=all&agentIds=2,99&interval=30&percentiles=95&thresholds=86400", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60&percentiles=100", header: read, want: 400, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=0", header: read, want: 400, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: q + "?v=1&timeframe=60", want: 401, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "GET", path: "/operations/api/account/bad.id/msgconversation?v=1&timeframe=60", header: read, want: 400, operation: "GET /operations/api/account/{accountID}/msgconversation"},
		{method: "POST", path: q, ctype: "application/json", header: read, body: `{"timeframe":"1440","v":1,"skillIds":"all","interval":null}`, want: 200, operation: "POST /operations/api/account/{accountID}/msgconversation"},
		{method: "POST", path: q + "?v=1", ctype: "application/x-www-form-urlencoded", header: read, body: "timeframe=60&agentIds=2", want: 200, operation: "POST /operations/api/account/{accountID}/msgconversation"},
		{method: "POST", path: q, ctype: "application/json", header: read, body: `[1]`, want: 400, operation: "POST /operations/api/account/{accountID}/msgconversation"},
		{method: "POST", path: q, ctype: "application/json", header: read, body: `{"timeframe":60,"v":1,"agentIds":"all","percentiles":"50,99.9","thresholds":300}`, want: 200, operation: "POST /operations/api/account/{accountID}/msgconversation"},
		{method: "PUT", path: q, header: read, want: 405},
		{method: "GET", path: q + "?v=1&timeframe=60", header: http.Header{"Authorization": {"Bearer " + readToken}, "X-Big": {strings.Repeat("a", 70<<10)}}, want: 431},

		{method: "GET", path: q + "/stream?v=1&timeframe=60&skillIds=all&interval=15", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation/stream", stream: true},
		{method: "GET", path: q + "/stream?v=1&timeframe=60&skillIds=all&percentiles=90&thresholds=600", header: read, want: 200, operation: "GET /operations/api/account/{accountID}/msgconversation/stream", stream: true},
		{method: "GET", path: q + "/stream?v=1&timeframe=7&interval=3", header: read, want: 400, operation: "GET /operations/api/account/{accountID}/msgconversation/stream"},

		{method: "GET", path: "/api/account/123/service/leDataReporting/baseURI.json?version=1.0", want: 200, operation: "GET /api/account/{accountID}/service/{service}/baseURI.json"},
		{method: "GET", path: "/api/account/123/service/baseURI.json?version=1.0", want: 200, operation: "GET /api/account/{accountID}/service/baseURI.json"},
		{method: "GET", path: "/healthz", want: 200, operation: "GET /healthz"},
		{method: "GET", path: "/readyz", want: 200, operation: "GET /readyz"},
		{method: "GET", path: "/metrics", want: 200, operation: "GET /metrics"},
		{method: "GET", path: "/openapi.json", want: 200, operation: "GET /openapi.json"},
		{method: "GET", path: "/dashboard/", want: 200, operation: "GET /dashboard/"},
		{method: "GET", path: "/dashboard/app.js", header: http.Header{"Range": {"bytes=999999-"}}, want: 200, operation: "GET /dashboard/{file}"},
		{method: "GET", path: "/dashboard/favicon.svg", want: 200, operation: "GET /dashboard/{file}"},
		{method: "GET", path: "/dashboard/nothing.js", want: 404},
		{method: "GET", path: "/", want: 302, operation: "GET /"},
		{method: "GET", path: "/favicon.ico", want: 308, operation: "GET /favicon.ico"},
		{method: "POST", path: "/", want: 404},
		{method: "GET", path: "/no/such/path", want: 404},
	}
	exercised := map[string]bool{}
	for _, c := range cases {
		srv := c.server
		if srv == nil {
			srv = ts
		}
		req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range c.header {
			req.Header[k] = vs
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		// Redirects are answers of their own here, not followed.
		client := *srv.Client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		if loc := map[string]string{"/": "/dashboard/", "/favicon.ico": "/dashboard/favicon.svg"}[c.path]; loc != "" && c.method == "GET" && resp.Header.Get("Location") != loc {
			t.Errorf("GET %s: Location %q, want %q", c.path, resp.Header.Get("Location"), loc)
		}
		var body []byte
		if c.stream && resp.StatusCode == 200 {
			body = firstEvent(t, resp.Body)
		} else {
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		name := c.method + " " + c.path[:min(len(c.path), 80)]
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d: %.300s", name, resp.StatusCode, c.want, body)
			continue
		}
		if c.stream && resp.StatusCode == 200 {
			// The event's data is the query's answer: check it as one.
			resp.Header.Set("Content-Type", "application/json")
			req, _ = http.NewRequest("GET", srv.URL+strings.Replace(c.path, "/stream", "", 1), nil)
		}
		if c.operation == "" {
			// No operation of the document has this method or path: the
			// answer is checked against the document's Error by hand.
			checkErrorShape(t, name, resp, body)
			continue
		}
		// The validator matches on the request as sent and the answer as received.
		req.Body = io.NopCloser(strings.NewReader(c.body))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if ok, verrs := v.ValidateHttpResponse(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s (%d): %s: %s %v", name, resp.StatusCode, e.Message, e.Reason, e.SchemaValidationErrors)
			}
		}
		exercised[c.operation] = true
	}

	var missing []string
	for _, op := range documentedOperations(t, served) {
		if !exercised[op] {
			missing = append(missing, op)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations of the document no answer was checked for: %v", missing)
	}
}

// checkErrorShape checks an error answer has exactly the fields of the
// document's Error schema.
func checkErrorShape(t *testing.T, name string, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
	var e struct {
		Code      int    `json:"code"`
		Message   string `json:"message"`
		Parameter string `json:"parameter"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Code != resp.StatusCode || e.Message == "" {
		t.Errorf("%s: the error %s is not the document's Error (%v)", name, body, err)
	}
}

// firstEvent reads a stream up to its first metrics event and returns its
// data.
func firstEvent(t *testing.T, r io.Reader) []byte {
	t.Helper()
	done := make(chan []byte, 1)
	go func() {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				done <- nil
				return
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				done <- []byte(strings.TrimSuffix(data, "\n"))
				return
			}
		}
	}()
	select {
	case b := <-done:
		if b == nil {
			t.Fatal("the stream ended before its first event")
		}
		return b
	case <-time.After(20 * time.Second):
		t.Fatal("no event in 20 s")
	}
	return nil
}

// documentedOperations lists "METHOD /path" for every operation of the
// document.
func documentedOperations(t *testing.T, doc []byte) []string {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	method := regexp.MustCompile(`^(get|put|post|delete|patch|head|options)$`)
	var ops []string
	for path, item := range d.Paths {
		for m := range item {
			if method.MatchString(m) {
				ops = append(ops, strings.ToUpper(m)+" "+path)
			}
		}
	}
	return ops
}
