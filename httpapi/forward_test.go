package httpapi_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/convops/convops/httpapi"
)

// TestAnswerIsTheHTTPAnswer: what a node gives another shard's node for a
// query is the status and the bytes its API gives the same query, errors
// included.
func TestAnswerIsTheHTTPAnswer(t *testing.T) {
	ts := newTestServer(t)
	ts.setNow("2026-11-27T13:29:17Z")
	ts.ingest(t, "123", `[{"conversationId":"a","skillId":3,"agentId":7,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":60000},
		{"conversationId":"b","skillId":4,"resolvedBy":"SYSTEM","resolvedAt":"2026-11-27T12:40:00Z","handlingTimeMs":0}]`)
	for _, query := range []string{
		"timeframe=60&v=1",
		"timeframe=60&v=1&skillIds=all&agentIds=7&interval=10",
		"timeframe=1440&v=1&skillIds=3,4",
		"timeframe=0&v=1",             // 400
		"timeframe=60",                // 400: no v
		"timeframe=60&v=1&agentIds=x", // 400
	} {
		values, _ := url.ParseQuery(query)
		params := map[string]string{}
		for k, v := range values {
			params[k] = v[0]
		}
		status, _, body := ts.do(t, "GET", "/operations/api/account/123/msgconversation?"+query, "", "")
		gotStatus, gotBody, _, done := ts.api.Answer(context.Background(), "123", params)
		done()
		if gotStatus != status || string(gotBody) != string(body) {
			t.Errorf("%s:\nHTTP   %d %s\nAnswer %d %s", query, status, body, gotStatus, gotBody)
		}
	}
	// A request whose time is up is not answered as an internal error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if status, body, cause, done := ts.api.Answer(ctx, "123", map[string]string{"timeframe": "60", "v": "1"}); status != 503 || cause != "shard" {
		t.Errorf("after its time: %d %s %s", status, body, cause)
	} else {
		done()
	}
}

// TestForwardedAnswersAreBounded: an answer for a node of another shard
// larger than MaxForwardedAnswer is refused with a 400 naming what makes
// it large; smaller ones pass.
func TestForwardedAnswersAreBounded(t *testing.T) {
	ts := newTestServer(t, func(o *httpapi.Options) { o.MaxForwardedAnswer = 2000 })
	ts.setNow("2026-11-27T13:29:17Z")
	ts.ingest(t, "123", `[{"conversationId":"a","skillId":3,"agentId":7,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":60000}]`)
	if status, body, _, done := ts.api.Answer(context.Background(), "123", map[string]string{"timeframe": "60", "v": "1"}); status != 200 {
		t.Errorf("a small answer: %d %s", status, body)
	} else {
		done()
	}
	status, body, _, done := ts.api.Answer(context.Background(), "123", map[string]string{"timeframe": "1440", "v": "1", "interval": "5", "skillIds": "all"})
	done()
	if status != 400 || !strings.Contains(string(body), `"parameter":"interval"`) || !strings.Contains(string(body), "another shard") {
		t.Errorf("a large answer: %d %s", status, body)
	}
	// Its memory is under the bound (one skill, one agent), its JSON
	// (2.7 KB) over it: what the answer takes whole decides.
	status, body, _, done = ts.api.Answer(context.Background(), "123", map[string]string{"timeframe": "60", "v": "1", "skillIds": "all", "agentIds": "all"})
	done()
	if status != 400 || !strings.Contains(string(body), `"parameter":"agentIds"`) {
		t.Errorf("an answer whose JSON is over the bound: %d %s", status, body)
	}
}
