package sim

import (
	"fmt"
	"testing"

	"github.com/convops/convops"
)

const end int64 = 1795786157000

func TestGenerate(t *testing.T) {
	o := DefaultOptions(end)
	o.Events = 100_000
	events := Generate(o)
	if len(events) != o.Events {
		t.Fatalf("%d events", len(events))
	}
	if fmt.Sprint(Generate(o)[:50]) != fmt.Sprint(events[:50]) {
		t.Error("the same seed gave other events")
	}
	var by [3]int
	ids := map[string]bool{}
	noAgent, busy, night := 0, 0, 0
	for i, e := range events {
		if e.ResolvedAt < o.Start || e.ResolvedAt >= o.End || (i > 0 && e.ResolvedAt < events[i-1].ResolvedAt) {
			t.Fatalf("event %d at %d: out of range or order", i, e.ResolvedAt)
		}
		if ids[e.EventID] {
			t.Fatalf("repeated id %s", e.EventID)
		}
		ids[e.EventID] = true
		by[e.ResolvedBy]++
		if !e.HasAgent {
			noAgent++
		}
		if e.HandlingTimeMs < 0 || e.HandlingTimeMs > convops.MaxHandlingTimeMs {
			t.Fatalf("handling time %d", e.HandlingTimeMs)
		}
		switch h := (e.ResolvedAt / 3600000) % 24; {
		case h == 11:
			busy++
		case h == 3:
			night++
		}
	}
	pct := func(n int) float64 { return float64(n) * 100 / float64(len(events)) }
	if p := pct(by[convops.ByCCP]); p < 57 || p > 63 {
		t.Errorf("CCP share %.1f%%", p)
	}
	if p := pct(by[convops.ByConsumer]); p < 22 || p > 28 {
		t.Errorf("consumer share %.1f%%", p)
	}
	if p := pct(noAgent); p < 1 || p > 6 {
		t.Errorf("no-agent share %.1f%%", p)
	}
	if busy < 10*night {
		t.Errorf("11:00 has %d events, 03:00 %d: no daily curve", busy, night)
	}
}

func TestTenants(t *testing.T) {
	o := DefaultTenantOptions(end)
	o.Events = 200_000
	tenants := Tenants(o)
	if len(tenants) != o.Accounts {
		t.Fatalf("%d accounts", len(tenants))
	}
	sum, noAgent, sampled, ids := 0, 0, 0, map[string]bool{}
	for i, tn := range tenants {
		if ids[tn.Account] {
			t.Fatalf("account %s twice", tn.Account)
		}
		ids[tn.Account] = true
		if tn.Options.Events < 1 || i > 0 && tn.Options.Events > tenants[i-1].Options.Events {
			t.Fatalf("account %d has %d events: not largest first", i, tn.Options.Events)
		}
		sum += tn.Options.Events
		if i%10 == 0 {
			for _, e := range Generate(tn.Options) {
				sampled++
				if !e.HasAgent {
					noAgent++
				}
			}
		}
	}
	if sum != o.Events {
		t.Errorf("sizes add up to %d, want %d", sum, o.Events)
	}
	largest, median := tenants[0].Options.Events, tenants[len(tenants)/2].Options.Events
	if largest < 20*median || median < 10 {
		t.Errorf("largest %d, median %d: not a log-normal spread", largest, median)
	}
	if tenants[0].Options.Agents < 50 || tenants[len(tenants)-1].Options.Agents != o.MinAgents {
		t.Errorf("agents: largest account %d, smallest %d", tenants[0].Options.Agents, tenants[len(tenants)-1].Options.Agents)
	}
	// The same options with fewer events: the same accounts.
	o.Events = 20_000
	if fewer := Tenants(o); fewer[0].Account != tenants[0].Account || fewer[0].Options.Events > largest/5 {
		t.Errorf("fewer events changed the accounts: %+v", fewer[0])
	}
	if p := float64(noAgent) * 100 / float64(sampled); p < 6 || p > 10 {
		t.Errorf("%.1f%% of events without an agent, want about 8%%", p)
	}
}
