package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventjson"
)

// get reads a whole answer into buf, which keeps its capacity from one
// request to the next, as a client polling the same query would.
func get(ctx context.Context, client *http.Client, url, token string, buf *bytes.Buffer) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, buf.Bytes())
	}
	return err
}

// encodeBatch writes events as an ingest body.
func encodeBatch(buf []byte, events []convops.Event) []byte {
	buf = append(buf, '[')
	for i := range events {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = eventjson.AppendEvent(buf, &events[i])
	}
	return append(buf, ']')
}

// ingestHTTP posts the batches from o.Clients clients; bodies are encoded
// before the clock starts.
func ingestHTTP(ctx context.Context, client *http.Client, url string, o Options, batches []Batch) (time.Duration, error) {
	bodies := make([][]byte, len(batches))
	for i, b := range batches {
		bodies[i] = encodeBatch(nil, b.Events)
	}
	start := time.Now()
	err := inParallel(o.Clients, len(bodies), func(i int) error {
		_, err := post(ctx, client, url+"/ingest/account/"+batches[i].Account+"/events", o.Token, bodies[i])
		return err
	})
	return time.Since(start), err
}

// inParallel calls fn(0) … fn(count−1) from workers goroutines and returns
// the first error; after an error no new call starts.
func inParallel(workers, count int, fn func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// post sends an ingest request; an answer other than 200 is an error that
// carries the status.
func post(ctx context.Context, client *http.Client, url, token string, body []byte) (convops.Outcome, error) {
	var out convops.Outcome
	req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return out, &statusError{status: resp.StatusCode, body: string(data)}
	}
	return out, json.Unmarshal(data, &out)
}

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("ingest: %d %s", e.status, e.body) }

// queriesWhileIngesting runs o.QPSClients clients asking one kind of query
// for o.QPSDuration while new events are ingested at o.IngestRate. It
// returns queries/s, the ingest rate reached, and how many requests were
// refused.
func queriesWhileIngesting(ctx context.Context, client *http.Client, url string, o Options, w *Workload, kind string, seed uint64) (qps, ingested float64, refused int64, err error) {
	batches := w.Live(int(float64(o.IngestRate)*o.QPSDuration.Seconds())*2, seed)
	bodies := make([][]byte, len(batches))
	for i, b := range batches {
		bodies[i] = encodeBatch(nil, b.Events)
	}
	ctx, cancel := context.WithTimeout(ctx, o.QPSDuration)
	defer cancel()

	var ingestedEvents, answered, refusedN atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(1)
	go func() { // paced ingest: each batch sent at its time
		defer wg.Done()
		sent := 0
		for i, body := range bodies {
			due := start.Add(time.Duration(float64(sent) / float64(o.IngestRate) * float64(time.Second)))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(due)):
			}
			if _, err := post(ctx, client, url+"/ingest/account/"+batches[i].Account+"/events", o.Token, body); err == nil {
				ingestedEvents.Add(int64(len(batches[i].Events)))
			}
			sent += len(batches[i].Events)
		}
	}()
	for c := range o.QPSClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, "GET", url+w.Query(kind, c, i), nil)
				req.Header.Set("Authorization", "Bearer "+o.Token)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					answered.Add(1)
				case 429:
					refusedN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return float64(answered.Load()) / secs, float64(ingestedEvents.Load()) / secs, refusedN.Load(), nil
}

// runaway sends one request of convops.MaxBatchEvents events, each with a
// new agent and a new skill, to a fresh account: what one buggy client or
// one key holder could send. It reports what the server did with it, its
// memory before and after, an answer timed after it, and a restart.
func runaway(ctx context.Context, client *http.Client, srv Server, o Options) ([]result, error) {
	events := make([]convops.Event, convops.MaxBatchEvents)
	for i := range events {
		id := fmt.Sprintf("runaway-%d", i)
		events[i] = convops.Event{EventID: id, ConversationID: id, SkillID: int64(i + 1), AgentID: int64(i + 1), HasAgent: true,
			ResolvedBy: convops.ByCCP, ResolvedAt: o.Now - 60_000, HandlingTimeMs: 1000}
	}
	before, err := srv.Memory(ctx)
	if err != nil {
		return nil, err
	}
	out, err := post(ctx, client, srv.URL()+"/ingest/account/runaway/events", o.Token, encodeBatch(nil, events))
	var answer string
	var se *statusError
	switch {
	case err == nil:
		answer = fmt.Sprintf("accepted: %d new events", out.Accepted)
	case errors.As(err, &se):
		answer = fmt.Sprintf("refused with %d", se.status)
	default:
		return nil, err
	}
	after, err := srv.Memory(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	t0 := time.Now()
	if err := get(ctx, client, srv.URL()+"/operations/api/account/runaway/msgconversation?timeframe=60&v=1&skillIds=all", o.Token, &buf); err != nil {
		return nil, err
	}
	took := time.Since(t0)
	restart, err := srv.Restart(ctx, false)
	if err != nil {
		return nil, err
	}
	return []result{
		{"runaway request: 100,000 events, each a new agent and skill, fresh account", answer},
		{"runaway request: resident memory before → after", fmt.Sprintf("%s → %s", mb(before.RSS), mb(after.RSS))},
		{"runaway request: the account's skillIds=all answer after it", fmt.Sprintf("%d bytes in %s", buf.Len(), ms(took))},
		{"runaway request: restart to ready after it", restart.Round(time.Millisecond).String()},
	}, nil
}

// duringSnapshot ingests live events in requests of at most 100 at
// o.IngestRate, and asks the largest timed account's totals over and over,
// for a second before a snapshot is asked for, while it is written, and a
// second after; it reports the latency of the requests that overlapped the
// writing against that of the others.
func duringSnapshot(ctx context.Context, client *http.Client, srv Server, o Options, w *Workload) ([]result, error) {
	var batches []Batch
	for _, b := range w.Live(o.IngestRate*30, 77) {
		for i := 0; i < len(b.Events); i += 100 {
			batches = append(batches, Batch{Account: b.Account, Events: b.Events[i:min(len(b.Events), i+100)]})
		}
	}
	type timed struct {
		start, end time.Time
	}
	var mu sync.Mutex
	var ingests, queries []timed
	// The benchmark's own collector must not stall its clients, which a
	// heap holding the whole workload would (marking it takes a second):
	// the few seconds measured here make little garbage.
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		start, sent := time.Now(), 0
		for _, b := range batches {
			due := start.Add(time.Duration(float64(sent) / float64(o.IngestRate) * float64(time.Second)))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(due)):
			}
			t0 := time.Now()
			if _, err := post(ctx, client, srv.URL()+"/ingest/account/"+b.Account+"/events", o.Token, encodeBatch(nil, b.Events)); err == nil {
				mu.Lock()
				ingests = append(ingests, timed{t0, time.Now()})
				mu.Unlock()
			}
			sent += len(b.Events)
		}
	}()
	go func() {
		defer wg.Done()
		var buf bytes.Buffer
		path := "/operations/api/account/" + w.Measured[0].Account + "/msgconversation?timeframe=60&v=1"
		for ctx.Err() == nil {
			t0 := time.Now()
			if get(ctx, client, srv.URL()+path, o.Token, &buf) == nil {
				mu.Lock()
				queries = append(queries, timed{t0, time.Now()})
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	info, err := srv.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	split := func(ts []timed) (during, outside []time.Duration) {
		for _, t := range ts {
			if t.end.After(info.Began) && t.start.Before(info.Ended) {
				during = append(during, t.end.Sub(t.start))
			} else {
				outside = append(outside, t.end.Sub(t.start))
			}
		}
		return during, outside
	}
	show := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none"
		}
		return fmt.Sprintf("p50 %s, p99 %s, max %s (%d requests)", ms(percentile(ds, 50)), ms(percentile(ds, 99)), ms(percentile(ds, 100)), len(ds))
	}
	inDuring, inOutside := split(ingests)
	qDuring, qOutside := split(queries)
	return []result{
		{"snapshot written under load", fmt.Sprintf("%s in %s; the longest it held a lock: %s", mb(info.Bytes), info.Took.Round(time.Millisecond), ms(info.LongestHold))},
		{fmt.Sprintf("ingest of 100 events at %d events/s, while the snapshot was written", o.IngestRate), show(inDuring)},
		{"the same, before and after it", show(inOutside)},
		{"the largest account's totals, while the snapshot was written", show(qDuring)},
		{"the same, before and after it", show(qOutside)},
	}, nil
}
