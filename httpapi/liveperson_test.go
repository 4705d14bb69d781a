package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/convops/convops/internal/testkit"
)

// TestLivePersonConversations: a page of LivePerson's search results is
// stored as events; the same page again, or a page that overlaps it, counts
// each conversation once; a page with a bad record stores nothing.
func TestLivePersonConversations(t *testing.T) {
	ts := newTestServer(t)
	ts.setNow(testkit.NowText) // the clock of liveperson/testdata/page.json
	page, err := os.ReadFile("../liveperson/testdata/page.json")
	if err != nil {
		t.Fatal(err)
	}
	const path = "/ingest/account/123/liveperson/conversations"
	status, _, body := ts.do(t, "POST", path, "application/json", string(page))
	if status != 200 || string(body) != `{"accepted":3,"duplicates":0,"skipped":1}` {
		t.Fatalf("first import: %d %s", status, body)
	}
	if status, _, body := ts.do(t, "POST", path, "application/json", string(page)); status != 200 || string(body) != `{"accepted":0,"duplicates":3,"skipped":1}` {
		t.Fatalf("the same page again: %d %s", status, body)
	}

	// An overlapping page: one record already stored, one new.
	var p struct {
		Records []json.RawMessage `json:"conversationHistoryRecords"`
	}
	json.Unmarshal(page, &p)
	newRecord := strings.Replace(string(p.Records[0]), "e5c58e49-e4a5-40a8-8a18-d6580d1d5630", "new-conversation", 1)
	overlap := `{"conversationHistoryRecords":[` + string(p.Records[0]) + `,` + newRecord + `]}`
	if status, _, body := ts.do(t, "POST", path, "application/json", overlap); status != 200 || string(body) != `{"accepted":1,"duplicates":1,"skipped":0}` {
		t.Fatalf("an overlapping page: %d %s", status, body)
	}

	// The account's numbers: four conversations, two by the agent (10
	// minutes each), one by the consumer and one by the system (a bot's 3
	// minutes).
	status, _, body = ts.do(t, "GET", "/operations/api/account/123/msgconversation?timeframe=60&v=1", "", "")
	want := `{"metricsTotals":{"resolvedConversations_byCCP":2,"resolvedConversations_byConsumer":1,"resolvedConversations_bySystem":1,"totalResolvedConversations":4,` +
		`"totalHandlingTime_resolvedConversations_byCCP":1200000,"totalHandlingTime_resolvedConversations_byConsumer":0,"totalHandlingTime_resolvedConversations_bySystem":180000,"totalHandlingTime_resolvedConversations":1380000,`
	if status != 200 || !strings.HasPrefix(string(body), want) {
		t.Fatalf("the account after the imports: %d %s", status, body)
	}

	// A bad record refuses the page whole, naming the record.
	bad := `{"conversationHistoryRecords":[` + strings.Replace(newRecord, "new-conversation", "another", 1) + `,{"info":{"conversationId":"x","status":"CLOSE","endTimeL":1795784957000,"latestAgentId":"bob"}}]}`
	status, header, body := ts.do(t, "POST", path, "application/json", bad)
	e := wantError(t, status, header, body, 400, "conversationHistoryRecords")
	if len(e.Errors) != 1 || e.Errors[0].Index != 1 || !strings.HasPrefix(e.Errors[0].Message, "info.latestAgentId:") {
		t.Errorf("bad record: %s", body)
	}
	if _, _, again := ts.do(t, "GET", "/operations/api/account/123/msgconversation?timeframe=60&v=1", "", ""); !strings.HasPrefix(string(again), want) {
		t.Errorf("a refused page changed the numbers: %s", again)
	}

	// A compressed body is refused with a word on why, wherever it is sent.
	for _, p := range []string{path, "/ingest/account/123/events", "/operations/api/account/123/msgconversation"} {
		req, _ := http.NewRequest("POST", ts.URL+p, strings.NewReader("\x1f\x8b..."))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		gz, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 415 || !strings.Contains(string(gz), "uncompressed") || !strings.Contains(string(gz), `"parameter":"Content-Encoding"`) {
			t.Errorf("a gzip body to %s: %d %s", p, resp.StatusCode, gz)
		}
	}
}
