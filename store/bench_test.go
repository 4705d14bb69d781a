package store_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/sim"
	"github.com/convops/convops/store"
)

// The benchmarks of the store's operations, for comparing changes with
// benchstat:
//
//	go test -run XXX -bench . -count 10 ./store > new.txt
//
// Apply: the fold, in events/s and heap bytes per event held, on the
// benchmark's single account (in order, with some events hours late, and in
// reverse order: every event older than the newest) and on its many accounts.
// Query: each answer shape over the single account at 60 and 1440 minutes
// (the store's part only: no JSON, no HTTP).

// benchBatch is a batch of the benchmarks: one account's events, held
// without pointers, as the log holds them. The fold decodes each message
// into events whose ids are new strings, garbage once applied; holding a
// million events with their strings instead would make every collection
// of the benchmark scan them, which the server never does.
type benchBatch struct {
	account string
	ids     []byte  // the event ids, end to end
	ends    []int32 // where each id ends in ids
	events  []benchEvent
}

// benchEvent is an event without its ids.
type benchEvent struct {
	skillID, agentID     int64
	hasAgent             bool
	resolvedBy           convops.ResolvedBy
	resolvedAt, handling int64
}

func newBenchBatch(account string, events []convops.Event) benchBatch {
	b := benchBatch{account: account}
	for _, e := range events {
		b.ids = append(b.ids, e.EventID...)
		b.ends = append(b.ends, int32(len(b.ids)))
		b.events = append(b.events, benchEvent{e.SkillID, e.AgentID, e.HasAgent, e.ResolvedBy, e.ResolvedAt, e.HandlingTimeMs})
	}
	return b
}

// batch decodes b as the fold decodes a log message.
func (b *benchBatch) batch() convops.Batch {
	out := convops.Batch{Account: b.account, Now: now, Events: make([]convops.Event, len(b.events))}
	start := int32(0)
	for i, e := range b.events {
		id := string(b.ids[start:b.ends[i]])
		start = b.ends[i]
		out.Events[i] = convops.Event{EventID: id, ConversationID: id, SkillID: e.skillID, AgentID: e.agentID, HasAgent: e.hasAgent,
			ResolvedBy: e.resolvedBy, ResolvedAt: e.resolvedAt, HandlingTimeMs: e.handling}
	}
	return out
}

// singleAccount is the benchmark account of the simulator: 2,000 agents, 150
// skills, one million conversations over the 24 hours before now.
var singleAccount = sync.OnceValue(func() []benchBatch {
	return batchesOf("acc", sim.Generate(sim.DefaultOptions(now)))
})

// manyAccounts is the benchmark's many accounts: 2,500 of log-normal sizes.
var manyAccounts = sync.OnceValue(func() []benchBatch {
	var perAccount [][]benchBatch
	for _, tn := range sim.Tenants(sim.DefaultTenantOptions(now)) {
		perAccount = append(perAccount, batchesOf(tn.Account, sim.Generate(tn.Options)))
	}
	// One batch of each account in turn, as their feeds arrive together.
	var out []benchBatch
	for round := 0; ; round++ {
		n := len(out)
		for _, batches := range perAccount {
			if round < len(batches) {
				out = append(out, batches[round])
			}
		}
		if len(out) == n {
			return out
		}
	}
})

func batchesOf(account string, events []convops.Event) []benchBatch {
	var out []benchBatch
	for start := 0; start < len(events); start += 1000 {
		out = append(out, newBenchBatch(account, events[start:min(len(events), start+1000)]))
	}
	return out
}

// lateEvents moves one event in ten to arrive between one and six hours
// after its time, with events of that later time.
func lateEvents(events []convops.Event) []convops.Event {
	r := rand.New(rand.NewPCG(2, 2))
	type arrival struct {
		at int64
		e  convops.Event
	}
	arrivals := make([]arrival, len(events))
	for i, e := range events {
		arrivals[i] = arrival{e.ResolvedAt, e}
		if r.IntN(10) == 0 {
			arrivals[i].at += 3_600_000 + r.Int64N(5*3_600_000)
		}
	}
	slices.SortStableFunc(arrivals, func(a, b arrival) int { return int(a.at - b.at) })
	out := make([]convops.Event, len(events))
	for i, a := range arrivals {
		out[i] = a.e
	}
	return out
}

func loadStore(batches []benchBatch) *store.Store {
	s := store.New(store.Options{})
	for i := range batches {
		s.Apply(batches[i].batch())
	}
	return s
}

// BenchmarkApply measures the fold: events applied per second, and the heap
// the store holds per event once they are applied.
func BenchmarkApply(b *testing.B) {
	all := sync.OnceValue(func() []convops.Event { return sim.Generate(sim.DefaultOptions(now)) })
	cases := []struct {
		name    string
		batches func() []benchBatch
	}{
		{"one-account/in-order", singleAccount},
		{"one-account/tenth-hours-late", sync.OnceValue(func() []benchBatch { return batchesOf("acc", lateEvents(all())) })},
		{"one-account/reverse", sync.OnceValue(func() []benchBatch {
			reversed := slices.Clone(all())
			slices.Reverse(reversed)
			return batchesOf("acc", reversed)
		})},
		{"many-accounts", manyAccounts},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			batches := c.batches()
			n := 0
			for _, bb := range batches {
				n += len(bb.events)
			}
			runtime.GC()
			before := heapAfterGC()
			b.ResetTimer()
			var s *store.Store
			for range b.N {
				s = loadStore(batches)
			}
			b.StopTimer()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(heapAfterGC()-before)/float64(n), "heap-B/event")
			_ = s.Stats()
		})
	}
}

var queryShapes = []struct {
	name           string
	skills, agents bool
	interval       int
}{
	{"account", false, false, 0},
	{"skills", true, false, 0},
	{"agents", false, true, 0},
	{"both", true, true, 0},
	{"account-interval60", false, false, 60},
	{"both-interval60", true, true, 60},
}

// BenchmarkQuery measures answering each shape over the single account
// (the store's part only: no JSON, no HTTP).
func BenchmarkQuery(b *testing.B) {
	s := loadStore(singleAccount())
	all := convops.IDFilter{Given: true, All: true}
	for _, tf := range []int{60, 1440} {
		for _, shape := range queryShapes {
			if shape.interval > tf {
				continue
			}
			q := convops.Query{Account: "acc", Timeframe: tf, Interval: shape.interval}
			if shape.skills {
				q.Skills = all
			}
			if shape.agents {
				q.Agents = all
			}
			w := convops.Layout(now, tf, shape.interval)
			b.Run(fmt.Sprintf("%s/tf%d", shape.name, tf), func(b *testing.B) {
				for range b.N {
					s.Query(q, w)
				}
			})
			// The same with percentiles and thresholds.
			tq := q
			tq.Percentiles = []convops.Percentile{{Tenths: 500, Text: "50"}, {Tenths: 900, Text: "90"}, {Tenths: 990, Text: "99"}}
			tq.Thresholds = []int64{300, 600}
			b.Run(fmt.Sprintf("%s/tf%d/tail", shape.name, tf), func(b *testing.B) {
				for range b.N {
					s.Query(tq, w)
				}
			})
		}
	}
}

// BenchmarkSnapshot writes and loads a snapshot of the many accounts'
// store (bytes/s of the snapshot, and the time of each).
func BenchmarkSnapshot(b *testing.B) {
	s := loadStore(manyAccounts())
	var file bytes.Buffer
	b.Run("write", func(b *testing.B) {
		for range b.N {
			file.Reset()
			sn, err := s.BeginSnapshot(store.SnapshotHeader{Seq: 1})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sn.WriteTo(&file); err != nil {
				b.Fatal(err)
			}
			sn.End()
		}
		b.SetBytes(int64(file.Len()))
	})
	b.Run("load", func(b *testing.B) {
		for range b.N {
			if _, _, err := store.LoadSnapshot(bytes.NewReader(file.Bytes()), int64(file.Len()), store.Options{}); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(file.Len()))
	})
}
