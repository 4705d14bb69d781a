package store

import (
	"math/rand/v2"
	"testing"

	"github.com/convops/convops"
)

// TestSeriesOverDays adds events over three days, mostly near the newest
// bucket, sometimes up to a day late, and compares the total over random
// spans of the window with a plain per-bucket count.
func TestSeriesOverDays(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const start = 5_000_000 // a bucket index
	plain := map[int64]convops.Counters{}
	s := newSeries(start)
	newest := int64(start)
	for step := range 3 * 288 {
		newest = start + int64(step) + int64(r.IntN(2)) // sometimes a bucket ahead (clock skew)
		for range r.IntN(6) {
			k := newest - int64(r.IntN(3))
			if r.IntN(10) == 0 {
				k = newest - int64(r.IntN(ringSize-10)) // late, but within the window
			}
			by, ms := convops.ResolvedBy(r.IntN(3)), r.Int64N(1000)
			if !s.add(k, by, ms) {
				t.Fatalf("add at %d refused with newest %d", k, s.latest)
			}
			c := plain[k]
			c.AddEvent(by, ms)
			plain[k] = c
		}
		// Spans inside the last 290 buckets, as queries ask.
		for range 5 {
			end := s.latest + 1 - int64(r.IntN(3))
			first := end - 1 - int64(r.IntN(289))
			spans := []convops.Span{{First: first + (end-first)/2, End: end}, {First: first, End: first + (end-first)/2}, {First: first, End: end},
				{First: s.latest - ringSize + 1, End: s.latest + 1}} // the whole window: reads base
			got := make([]convops.Counters, len(spans))
			s.sums(spans, got)
			for i, span := range spans {
				var want convops.Counters
				for b := span.First; b < span.End; b++ {
					c := plain[b]
					want.Add(&c)
				}
				if got[i] != want {
					t.Fatalf("step %d span %v: got %+v want %+v", step, span, got[i], want)
				}
			}
		}
	}
	if s.add(s.latest-ringSize, convops.ByCCP, 1) {
		t.Error("an event older than the window was counted")
	}
}
