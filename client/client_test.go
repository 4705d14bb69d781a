package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops/client"
)

// TestTypedAnswersOfEveryShape: the typed answer of every shape of query,
// intervals included, holds exactly what the server sent.
func TestTypedAnswersOfEveryShape(t *testing.T) {
	ctx := context.Background()
	c := &client.Client{BaseURL: server().URL, Token: token}
	var events []client.Event
	for i := range 40 {
		e := client.Event{ConversationID: fmt.Sprint("t", i), ResolvedBy: []string{"CCP", "CONSUMER", "SYSTEM"}[i%3],
			ResolvedAt: now.Add(-time.Duration(i*7) * time.Minute), HandlingTime: time.Duration(i) * time.Second}
		if i%4 != 0 {
			skill := int64(i % 3)
			e.Skill = &skill
		}
		if i%5 != 0 {
			agent := int64(100 + i%6)
			e.Agent = &agent
		}
		events = append(events, e)
	}
	if out, err := c.IngestEvents(ctx, "2001", events, 7); err != nil || out.Accepted != 40 {
		t.Fatalf("ingest: %+v %v", out, err)
	}
	for _, q := range []client.Query{
		{Timeframe: 60},
		{Timeframe: 1440, AllSkills: true},
		{Timeframe: 240, Skills: []int64{1, 2, 99}},
		{Timeframe: 240, AllAgents: true},
		{Timeframe: 240, Agents: []int64{101, 103}},
		{Timeframe: 300, AllSkills: true, AllAgents: true},
		{Timeframe: 300, Interval: 60},
		{Timeframe: 300, Interval: 50, AllSkills: true, Agents: []int64{102}},
		{Timeframe: 300, Percentiles: []string{"50", "99.9"}, Thresholds: []int{10, 30}},
		{Timeframe: 300, Interval: 60, AllSkills: true, Agents: []int64{101, 102}, Percentiles: []string{"90"}, Thresholds: []int{20}},
	} {
		raw, err := c.QueryJSON(ctx, "2001", q.Values())
		if err != nil {
			t.Fatalf("%v: %v", q.Values(), err)
		}
		typed, err := c.Metrics(ctx, "2001", q)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(typed)
		var want, got any
		json.Unmarshal(raw, &want)
		json.Unmarshal(again, &got)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%v: the typed answer differs:\nsent  %s\ntyped %s", q.Values().Encode(), raw, again)
		}
		if len(typed.Cells()) == 0 {
			t.Errorf("%v: no cells", q.Values().Encode())
		}
		if len(q.Percentiles) > 0 {
			// Every cell has each percentile and threshold asked for; the
			// account's are those of its 40 conversations, handled in 0
			// to 39 s.
			for _, cell := range typed.Cells() {
				if len(cell.Metrics.Percentiles) != len(q.Percentiles) || len(cell.Metrics.Within) != len(q.Thresholds) {
					t.Fatalf("%v: a cell without its tail: %+v", q.Values().Encode(), cell.Metrics)
				}
			}
			totals := typed.Cells()[0].Metrics
			p := totals.Percentiles[q.Percentiles[0]]
			if p.All <= 0 || p.All > 39_400 || p.ByCCP < 0 || p.Duration() != time.Duration(p.All)*time.Millisecond {
				t.Errorf("%v: percentile %+v", q.Values().Encode(), p)
			}
			w := totals.Within[q.Thresholds[0]]
			if w.Total != w.ByCCP+w.ByConsumer+w.BySystem || w.Total == 0 || w.Total >= totals.Resolved || float32(w.ServiceLevel) != float32(float64(w.Total)/float64(totals.Resolved)) {
				t.Errorf("%v: within %+v of %d", q.Values().Encode(), w, totals.Resolved)
			}
		}
	}
}

// flaky passes requests to the test server, after answering the first
// refusals of them with status and Retry-After; it counts what it saw.
func flaky(t *testing.T, refusals int, status int, retryAfter string) (string, *atomic.Int32) {
	target, _ := url.Parse(server().URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // streams pass at once
	seen := &atomic.Int32{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(seen.Add(1)) <= refusals {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"code":%d,"message":"not now"}`, status)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL, seen
}

// TestRetries: a 429 waits what Retry-After says; a 503 without it waits a
// jittered backoff that doubles; a 400 is not sent again.
func TestRetries(t *testing.T) {
	u, _ := flaky(t, 1, 429, "1")
	var pauses []time.Duration
	c := &client.Client{BaseURL: u, Token: token, OnRetry: func(_ int, wait time.Duration, _ error) { pauses = append(pauses, wait) }}
	if _, err := c.Metrics(context.Background(), "2002", client.Query{Timeframe: 60}); err != nil {
		t.Fatal(err)
	}
	if len(pauses) != 1 || pauses[0] != time.Second {
		t.Errorf("after a 429 with Retry-After: 1, waited %v", pauses)
	}

	u, seen := flaky(t, 3, 503, "")
	pauses = nil
	c = &client.Client{BaseURL: u, Token: token, Backoff: 100 * time.Millisecond, OnRetry: func(_ int, wait time.Duration, _ error) { pauses = append(pauses, wait) }}
	if _, err := c.Metrics(context.Background(), "2002", client.Query{Timeframe: 60}); err != nil {
		t.Fatal(err)
	}
	if len(pauses) != 3 || seen.Load() != 4 {
		t.Fatalf("three 503s: pauses %v, %d requests", pauses, seen.Load())
	}
	for i, p := range pauses {
		base := 100 * time.Millisecond << i
		if p < base/2 || p >= base*3/2 {
			t.Errorf("pause %d: %v, want within [%v, %v)", i, p, base/2, base*3/2)
		}
	}

	u, seen = flaky(t, 5, 400, "")
	c = &client.Client{BaseURL: u, Token: token}
	_, err := c.Metrics(context.Background(), "2002", client.Query{Timeframe: 60})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || seen.Load() != 1 {
		t.Errorf("a 400: %v after %d requests", err, seen.Load())
	}
}

// TestIngestEventsInBatches: events go in requests of the batch size, and
// a refused event is named by its place among all the events.
func TestIngestEventsInBatches(t *testing.T) {
	u, seen := flaky(t, 0, 0, "")
	c := &client.Client{BaseURL: u, Token: token}
	var events []client.Event
	for i := range 12 {
		events = append(events, client.Event{ConversationID: fmt.Sprint("b", i), ResolvedBy: "CCP", ResolvedAt: now.Add(-time.Minute)})
	}
	out, err := c.IngestEvents(context.Background(), "2003", events, 5)
	if err != nil || out.Accepted != 12 || seen.Load() != 3 {
		t.Fatalf("12 events in batches of 5: %+v %v, %d requests", out, err, seen.Load())
	}
	events[7].ResolvedBy = "NOBODY"
	events[7].ConversationID = "b-new"
	out, err = c.IngestEvents(context.Background(), "2003", events, 5)
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || len(apiErr.Errors) != 1 || apiErr.Errors[0].Index != 7 || out.Duplicates != 5 {
		t.Errorf("a bad event in the second batch: %+v %v", out, err)
	}
}

// TestStreamComesBack: a stream refused with 503 is opened again, and its
// answers come through the client.
func TestStreamComesBack(t *testing.T) {
	u, seen := flaky(t, 1, 503, "")
	retried := 0
	c := &client.Client{BaseURL: u, Token: token, Backoff: 50 * time.Millisecond, OnRetry: func(int, time.Duration, error) { retried++ }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := errors.New("stop")
	err := c.Stream(ctx, "2004", client.Query{Timeframe: 60, AllAgents: true}, func(a *client.Answer) error {
		if a.AgentsMetrics == nil {
			return errors.New("no agentsMetrics in a stream of agentIds=all")
		}
		return stop
	})
	if !errors.Is(err, stop) || retried != 1 || seen.Load() != 2 {
		t.Errorf("stream: %v, %d retries, %d requests", err, retried, seen.Load())
	}
	// A bad parameter ends it at once.
	err = c.Stream(ctx, "2004", client.Query{Timeframe: 0}, func(*client.Answer) error { return nil })
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Parameter, "timeframe") {
		t.Errorf("a bad stream: %v", err)
	}
}

// TestOAuth1AndItsLimits: requests signed with OAuth 1.0a — a query, an
// ingest, a stream — go through, and the caller's http.Client keeps its
// Timeout when the client signs.
func TestOAuth1AndItsLimits(t *testing.T) {
	key := &client.OAuth1{ConsumerKey: consumerKey, ConsumerSecret: consumerSecret, Token: accessToken, TokenSecret: tokenSecret}
	c := &client.Client{BaseURL: publicURL, OAuth1: key}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := c.IngestEvents(ctx, "2005", []client.Event{{ConversationID: "o1", ResolvedBy: "CCP", ResolvedAt: now.Add(-time.Minute)}}, 0); err != nil || out.Accepted != 1 {
		t.Fatalf("signed ingest: %+v %v", out, err)
	}
	done := errors.New("done")
	if err := c.Stream(ctx, "2005", client.Query{Timeframe: 60}, func(a *client.Answer) error {
		if a.MetricsTotals.Resolved != 1 {
			return fmt.Errorf("streamed %d", a.MetricsTotals.Resolved)
		}
		return done
	}); !errors.Is(err, done) {
		t.Errorf("signed stream: %v", err)
	}

	// A server that never answers: the caller's Timeout holds.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	slow := &client.Client{BaseURL: hang.URL, OAuth1: key, Attempts: 1, HTTP: &http.Client{Timeout: 100 * time.Millisecond}}
	if _, err := slow.Metrics(ctx, "2005", client.Query{Timeframe: 60}); err == nil || ctx.Err() != nil {
		t.Errorf("a signed request to a server that does not answer: %v", err)
	}
}

// TestWhatIsNotRetried: a bad scheme is not sent again; a request whose
// context ends while it waits returns both why it waited and the context's
// error.
func TestWhatIsNotRetried(t *testing.T) {
	retries := 0
	c := &client.Client{BaseURL: "ftp://127.0.0.1:1", Token: token, OnRetry: func(int, time.Duration, error) { retries++ }}
	if _, err := c.Metrics(context.Background(), "2006", client.Query{Timeframe: 60}); err == nil || retries != 0 {
		t.Errorf("ftp: %v after %d retries", err, retries)
	}

	u, _ := flaky(t, 100, 503, "30")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := (&client.Client{BaseURL: u, Token: token}).Metrics(ctx, "2006", client.Query{Timeframe: 60})
	var apiErr *client.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.RetryAfter != 30*time.Second {
		t.Errorf("a 503 with Retry-After: 30 and a context of 3 s: %v", err)
	}
}
