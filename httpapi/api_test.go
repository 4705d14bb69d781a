package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/httpapi"
)

const queryPath = "/operations/api/account/123/msgconversation"

func TestQueryParameterErrors(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name        string
		method      string
		query       string // GET query string, or POST query string
		contentType string
		body        string // POST body
		param       string
	}{
		{name: "GET timeframe missing", method: "GET", query: "v=1", param: "timeframe"},
		{name: "GET timeframe empty", method: "GET", query: "timeframe=&v=1", param: "timeframe"},
		{name: "GET timeframe 0", method: "GET", query: "timeframe=0&v=1", param: "timeframe"},
		{name: "GET timeframe 1441", method: "GET", query: "timeframe=1441&v=1", param: "timeframe"},
		{name: "GET timeframe text", method: "GET", query: "timeframe=abc&v=1", param: "timeframe"},
		{name: "GET timeframe twice", method: "GET", query: "timeframe=60&timeframe=30&v=1", param: "timeframe"},
		{name: "GET v missing", method: "GET", query: "timeframe=60", param: "v"},
		{name: "GET v 2", method: "GET", query: "timeframe=60&v=2", param: "v"},
		{name: "GET empty skill item", method: "GET", query: "timeframe=60&v=1&skillIds=1,,2", param: "skillIds"},
		{name: "GET trailing comma", method: "GET", query: "timeframe=60&v=1&agentIds=1,", param: "agentIds"},
		{name: "GET non-integer agent", method: "GET", query: "timeframe=60&v=1&agentIds=bob", param: "agentIds"},
		{name: "GET interval 61", method: "GET", query: "timeframe=60&v=1&interval=61", param: "interval"},
		{name: "GET interval 31", method: "GET", query: "timeframe=60&v=1&interval=31", param: "interval"},
		{name: "GET bad escape", method: "GET", query: "timeframe=%zz&v=1", param: "query"},
		{name: "POST not an object", method: "POST", body: `["timeframe"]`, param: "body"},
		{name: "POST broken JSON", method: "POST", body: `{"timeframe": "60"`, param: "body"},
		{name: "POST null body", method: "POST", body: `null`, param: "body"},
		{name: "POST timeframe missing", method: "POST", body: `{"v": "1"}`, param: "timeframe"},
		{name: "POST timeframe null", method: "POST", body: `{"timeframe": null, "v": "1"}`, param: "timeframe"},
		{name: "POST timeframe empty string", method: "POST", body: `{"timeframe": "", "v": "1"}`, param: "timeframe"},
		{name: "POST timeframe fraction", method: "POST", body: `{"timeframe": 60.5, "v": 1}`, param: "timeframe"},
		{name: "POST timeframe bool", method: "POST", body: `{"timeframe": true, "v": 1}`, param: "timeframe"},
		{name: "POST skillIds array", method: "POST", body: `{"timeframe": 60, "v": 1, "skillIds": [1, 2]}`, param: "skillIds"},
		{name: "POST v 2", method: "POST", body: `{"timeframe": "60", "v": "2"}`, param: "v"},
		{name: "POST interval 31", method: "POST", body: `{"timeframe": "60", "v": "1", "interval": "31"}`, param: "interval"},
		{name: "POST body wins over query", method: "POST", query: "interval=30", body: `{"timeframe": "60", "v": "1", "interval": "31"}`, param: "interval"},
		{name: "POST form bad interval", method: "POST", contentType: "application/x-www-form-urlencoded", body: "timeframe=60&v=1&interval=7", param: "interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := queryPath
			if tc.query != "" {
				path += "?" + tc.query
			}
			ct := tc.contentType
			if ct == "" && tc.method == "POST" {
				ct = "application/json"
			}
			status, header, body := ts.do(t, tc.method, path, ct, tc.body)
			wantError(t, status, header, body, http.StatusBadRequest, tc.param)
		})
	}
}

func TestQueryParameterSources(t *testing.T) {
	ts := newTestServer(t)
	ts.ingest(t, "123", "["+event("c1", 4, 7, "CCP", "2026-11-27T13:00:00Z", 100)+"]")
	cases := []struct {
		name, method, query, contentType, body string
	}{
		{"GET", "GET", "timeframe=60&v=1&skillIds=4", "", ""},
		{"GET ignores unknown parameters", "GET", "timeframe=60&v=1&skillIds=4&_=123&oauth_nonce=x", "", ""},
		{"POST strings", "POST", "", "application/json", `{"timeframe":"60","v":"1","skillIds":"4"}`},
		{"POST numbers", "POST", "", "application/json", `{"timeframe":60,"v":1,"skillIds":4,"unknown":[1]}`},
		{"POST nulls fall back to the query string", "POST", "timeframe=60", "application/json", `{"timeframe":null,"v":1,"skillIds":"4","interval":null}`},
		{"POST empty strings fall back to the query string", "POST", "timeframe=60&v=1", "application/json", `{"timeframe":"","skillIds":"4"}`},
		{"POST empty body takes the query string", "POST", "timeframe=60&v=1&skillIds=4", "", ""},
		{"POST form body", "POST", "", "application/x-www-form-urlencoded", "timeframe=60&v=1&skillIds=4"},
	}
	var first []byte
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := queryPath
			if tc.query != "" {
				path += "?" + tc.query
			}
			status, _, body := ts.do(t, tc.method, path, tc.contentType, tc.body)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			if !strings.Contains(string(body), `"metricsPerSkill":{"4":`) {
				t.Errorf("skill 4 missing: %s", body)
			}
			if first == nil {
				first = body
			} else if string(body) != string(first) {
				t.Errorf("answer differs from the GET answer:\n%s\n%s", body, first)
			}
		})
	}
}

func TestRoutingErrors(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name, method, path string
		status             int
		param              string
	}{
		{"unknown path", "GET", "/nope", 404, ""},
		{"trailing slash", "GET", queryPath + "/?timeframe=60&v=1", 404, ""},
		{"query with DELETE", "DELETE", queryPath, 405, ""},
		{"query with PUT", "PUT", queryPath, 405, ""},
		{"ingest with GET", "GET", "/ingest/account/123/events", 405, ""},
		{"healthz with POST", "POST", "/healthz", 405, ""},
		{"bad account in query", "GET", "/operations/api/account/a.b/msgconversation?timeframe=60&v=1", 400, "accountID"},
		{"escaped space in account", "GET", "/operations/api/account/a%20b/msgconversation?timeframe=60&v=1", 400, "accountID"},
		{"bad account in ingest", "POST", "/ingest/account/" + strings.Repeat("x", 65) + "/events", 400, "accountID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, header, body := ts.do(t, tc.method, tc.path, "", "")
			wantError(t, status, header, body, tc.status, tc.param)
			if tc.status == 405 && header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestHealthAndDiscovery(t *testing.T) {
	ts := newTestServer(t, func(o *httpapi.Options) { o.PublicURL = "https://convops.example.com:8443" })
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, body := ts.do(t, "GET", path, "", ""); status != 200 {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	status, _, body := ts.do(t, "GET", "/api/account/123/service/leDataReporting/baseURI.json?version=1.0", "", "")
	if status != 200 || string(body) != `{"service":"leDataReporting","account":"123","baseURI":"convops.example.com:8443"}` {
		t.Errorf("one service: %d %s", status, body)
	}
	status, _, body = ts.do(t, "GET", "/api/account/123/service/agentVep/baseURI.json?version=1.0", "", "")
	if status != 200 || !strings.Contains(string(body), `"baseURI":"convops.example.com:8443"`) {
		t.Errorf("agentVep: %d %s", status, body)
	}
	status, _, body = ts.do(t, "GET", "/api/account/123/service/baseURI.json?version=1.0", "", "")
	var all struct {
		BaseURIs []struct{ Service, Account, BaseURI string }
	}
	if status != 200 || json.Unmarshal(body, &all) != nil || len(all.BaseURIs) == 0 ||
		all.BaseURIs[0].Service != "leDataReporting" || all.BaseURIs[0].BaseURI != "convops.example.com:8443" {
		t.Errorf("all services: %d %s", status, body)
	}
}

func TestDiscoveryUsesRequestHost(t *testing.T) {
	ts := newTestServer(t)
	_, _, body := ts.do(t, "GET", "/api/account/9/service/leDataReporting/baseURI.json?version=1.0", "", "")
	host := strings.TrimPrefix(ts.URL, "http://")
	if want := fmt.Sprintf(`{"service":"leDataReporting","account":"9","baseURI":%q}`, host); string(body) != want {
		t.Errorf("got %s, want %s", body, want)
	}
}

func TestIngest(t *testing.T) {
	ts := newTestServer(t)
	path := "/ingest/account/acme/events"
	total := func() int {
		t.Helper()
		status, _, body := ts.do(t, "GET", "/operations/api/account/acme/msgconversation?timeframe=1440&v=1", "", "")
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var m struct{ MetricsTotals map[string]float64 }
		json.Unmarshal(body, &m)
		return int(m.MetricsTotals["totalResolvedConversations"])
	}

	good := event("a", 1, 1, "CCP", "2026-11-27T13:00:00Z", 1)
	bad := `{"conversationId":"b","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":-1}`
	status, header, body := ts.do(t, "POST", path, "application/json", "["+good+","+bad+"]")
	e := wantError(t, status, header, body, 400, "events")
	if len(e.Errors) != 1 || e.Errors[0].Index != 1 || !strings.Contains(e.Errors[0].Message, "handlingTimeMs") {
		t.Errorf("errors %+v", e.Errors)
	}
	if n := total(); n != 0 {
		t.Fatalf("a rejected batch stored %d events", n)
	}

	// JSON array, wrapped object, NDJSON; duplicates within and across requests.
	if acc, dup := ts.ingest(t, "acme", "["+good+","+good+"]"); acc != 1 || dup != 1 {
		t.Errorf("array: accepted %d duplicates %d", acc, dup)
	}
	if acc, dup := ts.ingest(t, "acme", `{"events":[`+good+","+event("c", 1, 1, "SYSTEM", "2026-11-27T13:00:00Z", 1)+"]}"); acc != 1 || dup != 1 {
		t.Errorf("wrapped: accepted %d duplicates %d", acc, dup)
	}
	nd := event("d", 1, 1, "CCP", "2026-11-27T13:00:00Z", 1) + "\n" + event("e", 2, 3, "CONSUMER", "2026-11-27T13:01:00Z", 5) + "\n"
	status, _, body = ts.do(t, "POST", path, "application/x-ndjson", nd)
	if status != 200 || string(body) != `{"accepted":2,"duplicates":0}` {
		t.Errorf("ndjson: %d %s", status, body)
	}
	if n := total(); n != 4 {
		t.Errorf("total %d, want 4", n)
	}
	// The same eventId in another account is another event.
	if acc, _ := ts.ingest(t, "other", "["+good+"]"); acc != 1 {
		t.Errorf("other account: accepted %d", acc)
	}
	if acc, dup := ts.ingest(t, "acme", "[]"); acc != 0 || dup != 0 {
		t.Errorf("empty: %d %d", acc, dup)
	}

	status, header, body = ts.do(t, "POST", path, "application/xml", "<events/>")
	wantError(t, status, header, body, 415, "Content-Type")
	status, header, body = ts.do(t, "POST", path, "application/json", `{"events": 5}`)
	wantError(t, status, header, body, 400, "body")
	big := "[" + strings.Repeat(" ", convops.MaxBodyBytes) + "]"
	status, header, body = ts.do(t, "POST", path, "application/json", big)
	wantError(t, status, header, body, 413, "body")
	if n := total(); n != 4 {
		t.Errorf("total %d after rejected requests, want 4", n)
	}
}

// TestIngestLargeBatch sends a batch larger than one log message: it is split
// under the NATS payload limit and every event is counted once.
func TestIngestLargeBatch(t *testing.T) {
	ts := newTestServer(t)
	const n = 40000
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"conversationId":"conversation-with-a-long-identifier-%08d","skillId":%d,"agentId":%d,"resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":1000}`,
			i, i%10, i%100, int64(1795786157000)-int64(i)*1000)
	}
	b.WriteByte(']')
	if acc, dup := ts.ingest(t, "big", b.String()); acc != n || dup != 0 {
		t.Fatalf("accepted %d duplicates %d", acc, dup)
	}
	if acc, dup := ts.ingest(t, "big", b.String()); acc != 0 || dup != n {
		t.Fatalf("again: accepted %d duplicates %d", acc, dup)
	}
	_, _, body := ts.do(t, "GET", "/operations/api/account/big/msgconversation?timeframe=1440&v=1", "", "")
	if !strings.Contains(string(body), fmt.Sprintf(`"totalResolvedConversations":%d,`, n)) ||
		!strings.Contains(string(body), fmt.Sprintf(`"totalHandlingTime_resolvedConversations":%d,`, n*1000)) {
		t.Errorf("got %s", body)
	}
}
