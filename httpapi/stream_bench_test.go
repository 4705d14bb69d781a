package httpapi_test

import (
	"bufio"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventjson"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/sim"
)

// BenchmarkStreamFanOut measures how long one ingested event takes to reach
// every watcher of an account's wallboard query, and how many answers are
// computed for it: watchers of one query share one computation, watchers
// of distinct queries (here: distinct timeframes) each need their own.
//
//	go test -run XXX -bench StreamFanOut -benchtime 20x ./httpapi
func BenchmarkStreamFanOut(b *testing.B) {
	for _, c := range []struct {
		watchers int
		distinct bool
	}{{1, false}, {1000, false}, {100, true}} {
		name := fmt.Sprintf("watchers=%d/same-query", c.watchers)
		if c.distinct {
			name = fmt.Sprintf("watchers=%d/distinct-queries", c.watchers)
		}
		b.Run(name, func(b *testing.B) { benchFanOut(b, c.watchers, c.distinct) })
	}
}

func benchFanOut(b *testing.B, watchers int, distinct bool) {
	ts := newTestServer(b, func(o *httpapi.Options) { o.MaxStreamsPerAccount = watchers })
	// A day of a mid-sized contact centre: 200 agents, 30 skills.
	now := ts.clock.Load()
	o := sim.Options{Seed: 1, Agents: 200, Skills: 30, MaxSkillsPerAgent: 3, Events: 100_000,
		Start: now - int64(convops.MaxTimeframeMinutes-5)*convops.MinuteMs, End: now, CCPPercent: 60, ConsumerPercent: 25, NoAgentPercent: 3, Prefix: "d"}
	events := sim.Generate(o)
	for start := 0; start < len(events); start += 20_000 {
		ts.ingest(b, "acct", jsonArray(events[start:min(len(events), start+20_000)]))
	}

	// Each watcher signals the number of metrics events it has read.
	var mu sync.Mutex
	seen := make([]int, watchers)
	cond := sync.NewCond(&mu)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: watchers}}
	for w := range watchers {
		timeframe := 1440
		if distinct {
			timeframe = 1440 - w // 1440, 1439, …: one answer each
		}
		resp, err := client.Get(fmt.Sprintf("%s/operations/api/account/acct/msgconversation/stream?v=1&timeframe=%d&skillIds=all&agentIds=all", ts.URL, timeframe))
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("stream %d: %v %v", w, resp, err)
		}
		b.Cleanup(func() { resp.Body.Close() }) // before the server closes
		go func() {
			r := bufio.NewReaderSize(resp.Body, 1<<20)
			for {
				line, err := r.ReadSlice('\n')
				if err == bufio.ErrBufferFull {
					continue
				}
				if err != nil {
					return
				}
				if string(line) == "event: metrics\n" {
					mu.Lock()
					seen[w]++
					cond.Broadcast()
					mu.Unlock()
				}
			}
		}()
	}
	waitAll := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		for {
			all := true
			for _, s := range seen {
				if s < n {
					all = false
					break
				}
			}
			if all {
				return
			}
			cond.Wait()
		}
	}
	waitAll(1)
	before := ts.api.StreamStats().Computed

	b.ResetTimer()
	var reach time.Duration
	for i := range b.N {
		// A new second: the stream may send again.
		time.Sleep(time.Second)
		ts.ingest(b, "acct", fmt.Sprintf(`[{"conversationId":"bench-%d","skillId":1,"agentId":1000,"resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":1000}]`, i, now))
		sent := time.Now()
		waitAll(i + 2)
		reach += time.Since(sent)
	}
	b.StopTimer()
	b.ReportMetric(float64(reach.Milliseconds())/float64(b.N), "ms-to-all-watchers")
	b.ReportMetric(float64(ts.api.StreamStats().Computed-before)/float64(b.N), "answers-computed/event")
	b.ReportMetric(float64(len(ts.query(b, "v=1&timeframe=1440&skillIds=all&agentIds=all"))), "answer-bytes")
	b.ReportMetric(0, "ns/op") // the time of an iteration is mostly the second it waits
}

// jsonArray writes events as a JSON array body.
func jsonArray(events []convops.Event) string {
	b := []byte{'['}
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = eventjson.AppendEvent(b, &events[i])
	}
	return string(append(b, ']'))
}
