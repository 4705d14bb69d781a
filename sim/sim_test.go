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
