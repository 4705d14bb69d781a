package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/internal/testkit"
)

// TestAnswerIsTheHTTPAnswer: what a node gives another shard's node for a
// query is the status and the bytes its API gives the same query, errors
// included.
func TestAnswerIsTheHTTPAnswer(t *testing.T) {
	ts := newTestServer(t)
	ts.setNow(testkit.NowText)
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
		gotStatus, gotBody, _, done := ts.api.Answer(context.Background(), "123", params, 0)
		done()
		if gotStatus != status || string(gotBody) != string(body) {
			t.Errorf("%s:\nHTTP   %d %s\nAnswer %d %s", query, status, body, gotStatus, gotBody)
		}
	}
	// A request whose time is up is not answered as an internal error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if status, body, cause, done := ts.api.Answer(ctx, "123", map[string]string{"timeframe": "60", "v": "1"}, 0); status != 503 || cause != "shard" {
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
	ts.setNow(testkit.NowText)
	ts.ingest(t, "123", `[{"conversationId":"a","skillId":3,"agentId":7,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":60000}]`)
	if status, body, _, done := ts.api.Answer(context.Background(), "123", map[string]string{"timeframe": "60", "v": "1"}, 0); status != 200 {
		t.Errorf("a small answer: %d %s", status, body)
	} else {
		done()
	}
	status, body, _, done := ts.api.Answer(context.Background(), "123", map[string]string{"timeframe": "1440", "v": "1", "interval": "5", "skillIds": "all"}, 0)
	done()
	if status != 400 || !strings.Contains(string(body), `"parameter":"interval"`) || !strings.Contains(string(body), "another shard") {
		t.Errorf("a large answer: %d %s", status, body)
	}
	// Its memory is under the bound (one skill, one agent), its JSON
	// (2.7 KB) over it: what the answer takes whole decides.
	status, body, _, done = ts.api.Answer(context.Background(), "123", map[string]string{"timeframe": "60", "v": "1", "skillIds": "all", "agentIds": "all"}, 0)
	done()
	if status != 400 || !strings.Contains(string(body), `"parameter":"agentIds"`) {
		t.Errorf("an answer whose JSON is over the bound: %d %s", status, body)
	}
}

// countingPeers answers every query of another shard with the same small
// answer, and says the version it is told to.
type countingPeers struct {
	version, queries, versions atomic.Uint64
}

func (p *countingPeers) Query(_ context.Context, account string, _ map[string]string, _ int64) (int, []byte, string, error) {
	p.queries.Add(1)
	return 200, fmt.Appendf(nil, `{"metricsTotals":{"version":%d}}`, p.version.Load()), "", nil
}

func (p *countingPeers) Version(context.Context, string) (uint64, error) {
	p.versions.Add(1)
	return p.version.Load(), nil
}

// TestForeignStreamAsksOnlyWhenChanged: a stream of an account of another
// shard asks that shard each second for the account's version, and for
// its answer only when the version has moved.
func TestForeignStreamAsksOnlyWhenChanged(t *testing.T) {
	peers := &countingPeers{}
	peers.version.Store(7)
	ts := newTestServer(t, func(o *httpapi.Options) {
		o.Shard = convops.Shard{Index: 0, Count: 2}
		o.Peers = peers
	})
	account := ""
	for i := 0; account == ""; i++ {
		if a := fmt.Sprint("acct", i); convops.ShardOf(a, 2) == 1 {
			account = a
		}
	}
	resp, err := ts.Client().Get(ts.URL + "/operations/api/account/" + account + "/msgconversation/stream?v=1&timeframe=60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := sseEvents(resp.Body)
	if e := <-events; e[1] != `{"metricsTotals":{"version":7}}` {
		t.Fatalf("first event %v", e)
	}
	// Three seconds asked, nothing changed: the answer is not asked again.
	testkit.Eventually(t, time.Minute, func() bool { return peers.versions.Load() >= 3 })
	if got := peers.queries.Load(); got != 1 {
		t.Errorf("%d answers asked of the other shard while its version stood still, want 1", got)
	}
	peers.version.Store(8)
	select {
	case e := <-events:
		if e[1] != `{"metricsTotals":{"version":8}}` {
			t.Errorf("after the version moved: %v", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no new answer 30 s after the version moved")
	}
	if got := peers.queries.Load(); got != 2 {
		t.Errorf("%d answers asked, want 2", got)
	}
}
