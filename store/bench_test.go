package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/sim"
	"github.com/convops/convops/store"
)

// benchEvents is the benchmark account of the simulator: 2,000 agents, 150
// skills, one million conversations over the 24 hours before now.
var benchEvents = sync.OnceValue(func() []convops.Event { return sim.Generate(sim.DefaultOptions(now)) })

func loadStore(events []convops.Event) *store.Store {
	s := store.New(store.Options{})
	for start := 0; start < len(events); start += 1000 {
		s.Apply(convops.Batch{Account: "acc", Now: now, Events: events[start:min(len(events), start+1000)]})
	}
	return s
}

// BenchmarkApply measures the fold: events applied per second.
func BenchmarkApply(b *testing.B) {
	events := benchEvents()
	b.ResetTimer()
	for range b.N {
		loadStore(events)
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
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

// BenchmarkQuery measures answering each shape over the benchmark account
// (the store's part only: no JSON, no HTTP).
func BenchmarkQuery(b *testing.B) {
	s := loadStore(benchEvents())
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
		}
	}
}
