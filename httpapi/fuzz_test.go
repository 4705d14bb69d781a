package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzQueryRequest sends arbitrary query strings and POST bodies to the query
// endpoint. Invariants: no panic, never a 5xx, every 400 is a JSON error that
// names a parameter, every 200 is a JSON object.
func FuzzQueryRequest(f *testing.F) {
	f.Add("timeframe=60&v=1", "", "")
	f.Add("timeframe=60&v=1&skillIds=all&agentIds=1,2&interval=30", "", "")
	f.Add("", `{"timeframe":"1440","v":"1","agentIds":"2152260212,2152260212","interval":"1440","skillIds":"1,2"}`, "application/json")
	f.Add("v=1", `{"timeframe":60,"v":null,"skillIds":[1]}`, "application/json")
	f.Add("", "timeframe=60&v=1&interval=7", "application/x-www-form-urlencoded")
	f.Add("timeframe=%zz", "{", "text/plain")
	ts := newTestServer(f)
	handler := ts.Config.Handler
	ts.ingest(f, "fz", "["+event("c1", 1, 2, "CCP", "2026-11-27T13:00:00Z", 5)+"]")
	f.Fuzz(func(t *testing.T, rawQuery, body, contentType string) {
		method := "GET"
		if body != "" || contentType != "" {
			method = "POST"
		}
		req := httptest.NewRequest(method, "/operations/api/account/fz/msgconversation", strings.NewReader(body))
		req.URL.RawQuery = rawQuery
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		var answer map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%d answer is not a JSON object: %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if p, _ := answer["parameter"].(string); p == "" {
				t.Fatalf("%d without a parameter: %s", rec.Code, rec.Body.String())
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}
