package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/internal/testkit"
)

// sseWatcher reads a metrics stream with a third-party Server-Sent Events
// client, as a wallboard would, and hands each metrics event over.
type sseWatcher struct {
	events chan string
	at     chan time.Time
	cancel context.CancelFunc
	done   chan error
}

func watchStream(t *testing.T, ts *testServer, query string) *sseWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/operations/api/account/acct/msgconversation/stream?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &sse.Client{HTTPClient: ts.Client(), Backoff: sse.Backoff{MaxRetries: -1}}
	conn := client.NewConnection(req)
	conn.Buffer(nil, 4<<20)
	w := &sseWatcher{events: make(chan string, 100), at: make(chan time.Time, 100), cancel: cancel, done: make(chan error, 1)}
	conn.SubscribeEvent("metrics", func(e sse.Event) {
		w.at <- time.Now()
		w.events <- e.Data
	})
	go func() { w.done <- conn.Connect() }()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

// next waits for the next metrics event.
func (w *sseWatcher) next(t *testing.T) (string, time.Time) {
	t.Helper()
	select {
	case data := <-w.events:
		return data, <-w.at
	case err := <-w.done:
		t.Fatalf("the stream ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no metrics event in 20 s")
	}
	return "", time.Time{}
}

// nextUntil waits for an event equal to want, skipping others.
func (w *sseWatcher) nextUntil(t *testing.T, want string) time.Time {
	t.Helper()
	for {
		got, at := w.next(t)
		if got == want {
			return at
		}
	}
}

func (ts *testServer) query(t testing.TB, query string) string {
	t.Helper()
	status, _, body := ts.do(t, "GET", "/operations/api/account/acct/msgconversation?"+query, "", "")
	if status != 200 {
		t.Fatalf("query %s: %d %s", query, status, body)
	}
	return string(body)
}

// TestStreamPushesChanges: a stream sends the query's answer, byte for byte,
// at once and again when events are ingested or the window slides, never
// more often than once a second; every watcher of one query shares one
// computation.
func TestStreamPushesChanges(t *testing.T) {
	ts := newTestServer(t)
	ts.ingest(t, "acct", `[{"conversationId":"c1","skillId":3,"agentId":2,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":426}]`)
	const q = "v=1&timeframe=60&interval=30&skillIds=all&agentIds=all"

	w := watchStream(t, ts, q)
	first, _ := w.next(t)
	if want := ts.query(t, q); first != want {
		t.Fatalf("first event\n%s\nwant the query's answer\n%s", first, want)
	}
	if !strings.Contains(first, `"totalResolvedConversations":1,`) {
		t.Fatalf("first event lacks the event ingested: %s", first)
	}

	// Watchers of the same query share one computation.
	var more []*sseWatcher
	for range 9 {
		m := watchStream(t, ts, "interval=30&agentIds=all&timeframe=60&v=1&skillIds=all") // the same query, in another order
		if got, _ := m.next(t); got != first {
			t.Fatalf("a later watcher's first event differs:\n%s\n%s", got, first)
		}
		more = append(more, m)
	}
	st := ts.api.StreamStats()
	if st.Streams != 10 || st.Watches != 1 {
		t.Fatalf("stream stats %+v, want 10 streams of 1 watch", st)
	}
	computed := st.Computed

	// Events ingested: every watcher gets the new answer.
	ts.ingest(t, "acct", `[{"conversationId":"c2","skillId":4,"agentId":6,"resolvedBy":"CONSUMER","resolvedAt":"2026-11-27T13:28:00Z","handlingTimeMs":95}]`)
	want := ts.query(t, q)
	if want == first {
		t.Fatal("the query's answer did not change")
	}
	changedAt := w.nextUntil(t, want)
	for _, m := range more {
		m.nextUntil(t, want)
	}
	if got := ts.api.StreamStats().Computed - computed; got != 1 {
		t.Errorf("%d computations for one change watched by 10 streams, want 1", got)
	}

	// Several changes in a row: one event a second at most, the last one
	// carries the last answer.
	for i := range 3 {
		ts.ingest(t, "acct", `[{"conversationId":"burst-`+string(rune('a'+i))+`","skillId":3,"resolvedBy":"SYSTEM","resolvedAt":"2026-11-27T13:29:00Z","handlingTimeMs":1}]`)
	}
	want = ts.query(t, q)
	at := w.nextUntil(t, want)
	// The server sends a second apart; the client's reading of the first
	// may come late on a busy machine, hence the margin.
	if gap := at.Sub(changedAt); gap < 500*time.Millisecond {
		t.Errorf("two events %s apart; at most one a second", gap)
	}

	// The window slides: the intervals move, and the stream says so.
	ts.setNow("2026-11-27T13:36:00Z")
	slid := ts.query(t, q)
	if slid == want {
		t.Fatal("the answer did not change with the window")
	}
	w.nextUntil(t, slid)

	// The watchers leave: the watch stops.
	w.cancel()
	for _, m := range more {
		m.cancel()
	}
	testkit.Eventually(t, 10*time.Second, func() bool { st := ts.api.StreamStats(); return st.Streams == 0 && st.Watches == 0 })
}

// TestStreamsOfOtherTailsAreOtherWatches: streams that differ only in
// their percentiles or thresholds (or their order, which orders the keys)
// are answered apart, each with its query's answer; the same ones share.
func TestStreamsOfOtherTailsAreOtherWatches(t *testing.T) {
	ts := newTestServer(t)
	ts.ingest(t, "acct", `[{"conversationId":"c1","skillId":3,"agentId":2,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":426000}]`)
	queries := []string{
		"v=1&timeframe=60&percentiles=90&thresholds=600",
		"v=1&timeframe=60&percentiles=90&thresholds=1800",
		"v=1&timeframe=60&percentiles=50&thresholds=600",
		"v=1&timeframe=60&percentiles=50,90&thresholds=600",
		"v=1&timeframe=60&percentiles=90,50&thresholds=600",
		"v=1&timeframe=60&percentiles=90.0&thresholds=600",
		"v=1&timeframe=60",
		"thresholds=600&v=1&percentiles=90&timeframe=60", // the first, in another order
	}
	for _, q := range queries {
		w := watchStream(t, ts, q)
		if got, _ := w.next(t); got != ts.query(t, q) {
			t.Errorf("stream of %s:\n%s\nwant\n%s", q, got, ts.query(t, q))
		}
	}
	if st := ts.api.StreamStats(); st.Streams != len(queries) || st.Watches != len(queries)-1 {
		t.Errorf("stream stats %+v, want %d streams of %d watches", st, len(queries), len(queries)-1)
	}
}

// TestStreamErrorsBeforeItStarts: bad parameters are answered as the
// query's, in JSON, and no stream starts.
func TestStreamErrorsBeforeItStarts(t *testing.T) {
	ts := newTestServer(t)
	for _, c := range []struct{ query, param string }{
		{"v=1&timeframe=0", "timeframe"},
		{"v=2&timeframe=60", "v"},
		{"v=1&timeframe=60&interval=7", "interval"},
		{"v=1&timeframe=60&skillIds=1,,2", "skillIds"},
	} {
		status, header, body := ts.do(t, "GET", "/operations/api/account/acct/msgconversation/stream?"+c.query, "", "")
		wantError(t, status, header, body, 400, c.param)
	}
	status, header, body := ts.do(t, "POST", "/operations/api/account/acct/msgconversation/stream?v=1&timeframe=60", "", "")
	wantError(t, status, header, body, 405, "")
	// A body would hold its share of the request-memory budget for the
	// stream's whole life: refused.
	status, header, body = ts.do(t, "GET", "/operations/api/account/acct/msgconversation/stream?v=1&timeframe=60", "application/json", strings.Repeat(" ", 1<<20))
	wantError(t, status, header, body, 400, "")
	if st := ts.api.StreamStats(); st.Streams != 0 {
		t.Errorf("streams open after errors: %+v", st)
	}
}

// TestStreamKeepAliveAndStop: a quiet stream sends comment lines; a
// graceful stop ends it, and no stream is taken after.
func TestStreamKeepAliveAndStop(t *testing.T) {
	ts := newTestServer(t, func(o *httpapi.Options) { o.StreamKeepAlive = 50 * time.Millisecond })
	resp, err := ts.Client().Get(ts.URL + "/operations/api/account/acct/msgconversation/stream?v=1&timeframe=5")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	var sawEvent, sawComment bool
	for !sawEvent || !sawComment {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream read: %v", err)
		}
		sawEvent = sawEvent || line == "event: metrics\n"
		sawComment = sawComment || strings.HasPrefix(line, ":")
	}

	ts.api.CloseStreams()
	for {
		if _, err := r.ReadString('\n'); err != nil {
			break // the stream ended
		}
	}
	status, header, body := ts.do(t, "GET", "/operations/api/account/acct/msgconversation/stream?v=1&timeframe=5", "", "")
	wantError(t, status, header, body, 503, "")
}

// TestStreamLimits: streams past the per-account cap get 429, and a stream
// holds no in-flight slot: queries of the account still go through.
func TestStreamLimits(t *testing.T) {
	ts := newTestServer(t, func(o *httpapi.Options) {
		o.MaxStreamsPerAccount = 3
		o.MaxInflightPerAccount = 1
	})
	for range 3 {
		w := watchStream(t, ts, "v=1&timeframe=60")
		w.next(t)
	}
	status, header, body := ts.do(t, "GET", "/operations/api/account/acct/msgconversation/stream?v=1&timeframe=60", "", "")
	wantError(t, status, header, body, 429, "")
	ts.query(t, "v=1&timeframe=60") // one slot, and the streams do not hold it
	resp, err := ts.Client().Get(ts.URL + "/operations/api/account/other/msgconversation/stream?v=1&timeframe=60&interval=5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("another account's stream: %d", resp.StatusCode)
	}
}

// TestStreamAnswersHaveAMemoryCap: streams of many distinct queries hold
// at most half of the request-memory budget in answers; past it, 429. An
// answer that half could never hold is refused (400) before it is built.
func TestStreamAnswersHaveAMemoryCap(t *testing.T) {
	const budget = 256 << 10
	ts := newTestServer(t, func(o *httpapi.Options) { o.MaxInflightBytes = budget })
	ingestAgents(t, ts, "acct", 40)

	refused := false
	var bodies []io.Closer
	defer func() {
		for _, c := range bodies {
			c.Close()
		}
	}()
	for tf := 60; tf > 10 && !refused; tf-- {
		resp, err := ts.Client().Get(fmt.Sprintf("%s/operations/api/account/acct/msgconversation/stream?v=1&timeframe=%d&skillIds=all&agentIds=all", ts.URL, tf))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 429 {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "metric streams open hold") {
				t.Fatalf("429 for another reason: %s", body)
			}
			refused = true
			break
		}
		bodies = append(bodies, resp.Body)
		if st := ts.api.StreamStats(); st.Bytes > budget/2 {
			t.Fatalf("streams hold %d bytes, past half the budget (%d)", st.Bytes, budget/2)
		}
	}
	if !refused {
		t.Fatal("no stream was refused")
	}
	// Intervals make the answer 12 times as large: past what the streams
	// may hold at all.
	computed := ts.api.StreamStats().Computed
	status, header, body := ts.do(t, "GET", "/operations/api/account/acct/msgconversation/stream?v=1&timeframe=60&interval=5&skillIds=all&agentIds=all", "", "")
	wantError(t, status, header, body, 400, "interval")
	if got := ts.api.StreamStats().Computed; got != computed {
		t.Errorf("an answer too large for the streams was computed (%d computations, %d before)", got, computed)
	}
	for _, c := range bodies {
		c.Close()
	}
	bodies = nil
	testkit.Eventually(t, 10*time.Second, func() bool { st := ts.api.StreamStats(); return st.Bytes == 0 && st.Streams == 0 })
}

// TestAnswerLargerThanTheBudget: a query whose answer alone would take more
// memory than an account's requests may hold is refused as too large (400,
// naming the parameter), not as busy: a 429 would be retried for nothing.
func TestAnswerLargerThanTheBudget(t *testing.T) {
	ts := newTestServer(t, func(o *httpapi.Options) { o.MaxInflightBytes = 160 << 10 })
	ingestAgents(t, ts, "acct", 40)
	ts.query(t, "v=1&timeframe=60&skillIds=all&agentIds=all") // fits
	status, header, body := ts.do(t, "GET", "/operations/api/account/acct/msgconversation?v=1&timeframe=60&interval=5&skillIds=all&agentIds=all", "", "")
	e := wantError(t, status, header, body, 400, "interval")
	if !strings.Contains(e.Message, "--max-inflight-bytes") {
		t.Errorf("the refusal does not say what bounds it: %s", body)
	}
}

// ingestAgents gives account n conversations, each of its own agent, in 7
// skills.
func ingestAgents(t *testing.T, ts *testServer, account string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"conversationId":"m%d","skillId":%d,"agentId":%d,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":1}`, i, i%7, i)
	}
	b.WriteString("]")
	ts.ingest(t, account, b.String())
}

// sseEvents reads the events of a stream as they come: name and data.
func sseEvents(body io.Reader) <-chan [2]string {
	out := make(chan [2]string, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 16<<20)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			case line == "" && name != "":
				out <- [2]string{name, data}
				name, data = "", ""
			}
		}
	}()
	return out
}

// TestStreamAnswersThatGrowKeepTheCap: streams opened on an empty account
// hold small answers; as events arrive their answers grow, and what they
// keep never passes half of the budget: a stream whose answer no longer
// fits gets an error event naming the parameter that makes it large, and
// is closed, while the others go on.
func TestStreamAnswersThatGrowKeepTheCap(t *testing.T) {
	const budget = 4 << 20
	ts := newTestServer(t, func(o *httpapi.Options) { o.MaxInflightBytes = budget })
	type stream struct{ events <-chan [2]string }
	var streams []stream
	for tf := 105; tf >= 10; tf -= 5 {
		resp, err := ts.Client().Get(fmt.Sprintf("%s/operations/api/account/acct/msgconversation/stream?v=1&timeframe=%d&interval=5&skillIds=all&agentIds=all", ts.URL, tf))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("stream of timeframe %d on an empty account: %d %s", tf, resp.StatusCode, body)
		}
		s := stream{sseEvents(resp.Body)}
		if e := <-s.events; e[0] != "metrics" {
			t.Fatalf("first event %v", e)
		}
		streams = append(streams, s)
	}
	// Every stream's answer grows some twenty-fold.
	ingestAgents(t, ts, "acct", 60)
	want := ts.query(t, "v=1&timeframe=105&interval=5&skillIds=all&agentIds=all")
	ended, current := 0, 0
	for i, s := range streams {
		for done := false; !done; {
			select {
			case e, open := <-s.events:
				switch {
				case !open:
					t.Fatalf("stream %d closed without an error event", i)
				case e[0] == "error":
					var eb errorBody
					if err := json.Unmarshal([]byte(e[1]), &eb); err != nil || eb.Parameter != "interval" || eb.Message == "" {
						t.Errorf("stream %d: error event %s", i, e[1])
					}
					if _, open := <-s.events; open {
						t.Errorf("stream %d goes on after its error event", i)
					}
					ended++
					done = true
				case e[0] == "metrics" && strings.Contains(e[1], `"totalResolvedConversations":60,`):
					if i == 0 && e[1] != want {
						t.Errorf("stream 0's answer is not the query's")
					}
					current++
					done = true
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("stream %d: neither the new answer nor an error in 30 s", i)
			}
			if st := ts.api.StreamStats(); st.Bytes > budget/2 {
				t.Fatalf("streams keep %d bytes, past half the budget (%d)", st.Bytes, budget/2)
			}
		}
	}
	if ended == 0 || current == 0 {
		t.Errorf("%d streams ended and %d go on: want some of each", ended, current)
	}
	t.Logf("%d streams ended, %d go on; the streams keep %d bytes", ended, current, ts.api.StreamStats().Bytes)
}
