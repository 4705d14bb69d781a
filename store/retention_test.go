package store_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
)

// heapAfterGC returns the live heap in bytes.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestRetentionOverDays folds three simulated days at a steady rate with a
// moving clock. Buckets and dedupe keys past the horizon must be dropped, so
// the store holds one day's worth at the end of every day, and the heap does
// not grow from day to day.
func TestRetentionOverDays(t *testing.T) {
	const (
		perDay   = 300_000
		perBatch = 500
		day      = int64(convops.MaxTimeframeMinutes) * convops.MinuteMs
	)
	start := int64(1795737600000) // 2026-11-27T00:00:00Z
	s := store.New(store.Options{})
	step := day / (perDay / perBatch) // clock advance per batch
	clock, id := start, 0
	var heaps []uint64
	var stats []store.Stats
	for d := 1; d <= 3; d++ {
		for range perDay / perBatch {
			clock += step
			batch := convops.Batch{Account: "acc", Now: clock, Events: make([]convops.Event, perBatch)}
			for i := range batch.Events {
				id++
				batch.Events[i] = convops.Event{
					EventID: fmt.Sprintf("conversation-%09d", id), SkillID: int64(id % 150), AgentID: int64(id % 2000), HasAgent: true,
					ResolvedBy: convops.ResolvedBy(id % 3), ResolvedAt: clock - int64(id%60)*1000, HandlingTimeMs: int64(id % 900000),
				}
			}
			mustApply(t, s, batch)
		}
		heaps = append(heaps, heapAfterGC())
		stats = append(stats, s.Stats())
		t.Logf("day %d: heap %.1f MB, %+v", d, float64(heaps[d-1])/1e6, stats[d-1])
	}
	for d, st := range stats {
		// One day of keys; one series for the account, each skill, agent,
		// and agent within a skill (ids mod 150 and mod 2000: 6,000 pairs).
		if st.Series > 1+150+2000+6000 || st.DedupeKeys > perDay+perDay/100 {
			t.Errorf("day %d: %+v holds more than a day", d+1, st)
		}
	}
	for d := 1; d < 3; d++ {
		if growth := float64(heaps[d])/float64(heaps[0]) - 1; growth > 0.10 {
			t.Errorf("heap after day %d is %.0f%% above day 1", d+1, growth*100)
		}
	}
}

// TestRetentionOverDaysManyAccounts folds three simulated days of 1,000
// accounts at a time, a third of which change every day: accounts that have
// gone quiet for a day must be forgotten, and the heap must not grow from day
// to day.
func TestRetentionOverDaysManyAccounts(t *testing.T) {
	const (
		perDay   = 300_000
		accounts = 1000
		perBatch = 20
		day      = int64(convops.MaxTimeframeMinutes) * convops.MinuteMs
	)
	start := int64(1795737600000)
	s := store.New(store.Options{})
	batches := perDay / perBatch
	step := day / int64(batches)
	clock, id := start, 0
	var heaps []uint64
	for d := 0; d < 3; d++ {
		for b := range batches {
			clock += step
			// Accounts 0–666 every day; the last third are new each day.
			n := b % accounts
			if n >= 2*accounts/3 {
				n += d * accounts
			}
			batch := convops.Batch{Account: fmt.Sprint("acc", n), Now: clock, Events: make([]convops.Event, perBatch)}
			for i := range batch.Events {
				id++
				batch.Events[i] = convops.Event{
					EventID: fmt.Sprintf("c-%09d", id), SkillID: int64(id % 7), AgentID: int64(id % 40), HasAgent: id%12 != 0,
					ResolvedBy: convops.ResolvedBy(id % 3), ResolvedAt: clock - int64(id%7200)*1000, HandlingTimeMs: int64(id % 900000),
				}
			}
			mustApply(t, s, batch)
		}
		heaps = append(heaps, heapAfterGC())
		st := s.Stats()
		t.Logf("day %d: heap %.1f MB, %+v", d+1, float64(heaps[d])/1e6, st)
		// The accounts of today, and those of the day before that still
		// have data from the last hours of yesterday.
		if st.Accounts > accounts+accounts/3 || st.DedupeKeys > perDay+perDay/50 {
			t.Errorf("day %d: %+v holds more than a day", d+1, st)
		}
	}
	for d := 1; d < 3; d++ {
		if growth := float64(heaps[d])/float64(heaps[0]) - 1; growth > 0.10 {
			t.Errorf("heap after day %d is %.0f%% above day 1", d+1, growth*100)
		}
	}
}

// TestQuietSeriesAreDropped: agents active on day 1 only lose their series
// once they have no events left in retention, and the others keep their numbers.
func TestQuietSeriesAreDropped(t *testing.T) {
	const day = int64(convops.MaxTimeframeMinutes) * convops.MinuteMs
	start := int64(1795737600000)
	s := store.New(store.Options{})
	apply := func(clock int64, firstAgent int64) {
		var events []convops.Event
		for a := firstAgent; a < firstAgent+100; a++ {
			events = append(events, convops.Event{EventID: fmt.Sprint(clock, "-", a), SkillID: a % 3, AgentID: a, HasAgent: true,
				ResolvedBy: convops.ByCCP, ResolvedAt: clock - 1000, HandlingTimeMs: a})
		}
		mustApply(t, s, convops.Batch{Account: "acc", Now: clock, Events: events})
	}
	for clock := start; clock < start+day; clock += convops.BucketMs {
		apply(clock, 1) // agents 1–100 on day 1
	}
	before := s.Stats().Series
	// Agents 101–200 on day 2 and 3 hours more, until day 1 has left
	// retention.
	end := start + 2*day + 36*convops.BucketMs
	for clock := start + day; clock < end; clock += convops.BucketMs {
		apply(clock, 101)
	}
	after := s.Stats().Series
	if before != 1+3+100+100 || after != 1+3+100+100 {
		// 1 account, 3 skills, 100 agents within their skill, 100 agents
		t.Errorf("series before %d after %d, want 204 each: the day-1 agents' series should have been dropped", before, after)
	}
	now := end
	q := convops.Query{Account: "acc", Timeframe: convops.MaxTimeframeMinutes, Agents: convops.IDFilter{Given: true, IDs: []int64{50, 150}}}
	res := s.Query(q, convops.Layout(now, q.Timeframe, 0))
	// One event per batch, each a second before its batch: in the 24 hours
	// up to now, 287 batches' events (the newest two buckets have none).
	if len(res.Whole.Agents) != 1 || res.Whole.Agents[0].AgentID != 150 || res.Whole.Agents[0].Total() != 287 {
		t.Errorf("after compaction: %+v", res.Whole.Agents)
	}
}
