package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

// TestSeriesOverDays adds events over three days, mostly near the newest
// bucket, sometimes up to a day late, trims the series as retention moves,
// and compares the total over random spans with a plain per-bucket count.
func TestSeriesOverDays(t *testing.T) {
	for _, density := range []int{1, 4, 40} { // one bucket in this many has data
		r := rand.New(rand.NewPCG(7, uint64(density)))
		const start = 5_000_000 // a bucket index
		plain := map[uint32]convops.Counters{}
		var s series
		for step := range uint32(3 * 288) {
			newest := start + step + uint32(r.IntN(2)) // sometimes a bucket ahead (clock skew)
			horizon := newest - 289
			for range r.IntN(3) {
				if r.IntN(density) != 0 {
					continue
				}
				k := newest - uint32(r.IntN(3))
				if r.IntN(10) == 0 {
					k = newest - uint32(r.IntN(289)) // late, but within retention
				}
				by, ms := convops.ResolvedBy(r.IntN(3)), r.Int64N(1000)
				s.add(k, by, ms, histogram.Bin(ms), 0)
				c := plain[k]
				c.AddEvent(by, ms)
				plain[k] = c
			}
			if r.IntN(5) == 0 {
				if empty := s.trim(horizon, 0); empty != (s.buckets() == 0) {
					t.Fatalf("trim said empty=%v with %d buckets", empty, s.buckets())
				}
				for b := range plain {
					if b < horizon {
						delete(plain, b)
					}
				}
			}
			checkEntries(t, &s)
			// Spans inside retention, as queries ask, and intervals that
			// tile one.
			for range 5 {
				end := int64(newest) + 1 - int64(r.IntN(3))
				first := end - 1 - int64(r.IntN(289))
				first = max(first, int64(horizon))
				mid := first + (end-first)/2
				spans := []convops.Span{{First: mid, End: end}, {First: first, End: mid}, {First: first, End: end}, {First: end, End: end + 2}}
				got := make([]convops.Counters, len(spans))
				s.sums(spans, got)
				for i, span := range spans {
					var want convops.Counters
					for b := span.First; b < span.End; b++ {
						c := plain[uint32(b)]
						want.Add(&c)
					}
					if got[i] != want {
						t.Fatalf("density %d step %d span %v: got %+v want %+v", density, step, span, got[i], want)
					}
				}
			}
		}
	}
}

// checkEntries checks that buckets ascend strictly, the head last.
func checkEntries(t *testing.T, s *series) {
	t.Helper()
	all := append(append([]entry(nil), s.entries...), s.head)
	for i := 1; i < len(all); i++ {
		if all[i].bucket <= all[i-1].bucket {
			t.Fatalf("entries out of order at %d: %d after %d", i, all[i].bucket, all[i-1].bucket)
		}
	}
}

// TestSeriesSearch checks the narrowed binary search against a plain scan,
// on dense, sparse and mixed series.
func TestSeriesSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var s series
		b := uint32(1000)
		for range r.IntN(60) {
			b += 1 + uint32(r.IntN(1+r.IntN(20)))
			s.entries = append(s.entries, entry{bucket: b})
		}
		s.head.bucket = b + 1 + uint32(r.IntN(5))
		for x := uint32(990); x < s.head.bucket; x++ {
			want := 0
			for want < len(s.entries) && s.entries[want].bucket <= x {
				want++
			}
			if got := s.search(x); got != want {
				t.Fatalf("search(%d) = %d, want %d in %v", x, got, want, s.entries)
			}
		}
	}
}

// TestCountsWrap: counts are kept modulo 2³², and spans stay exact across
// the wrap.
func TestCountsWrap(t *testing.T) {
	var s series
	s.add(10, convops.ByCCP, 5, histogram.Bin(5), 0)
	s.head.count[convops.ByCCP] = 1<<32 - 2 // as if four billion events had passed
	s.add(11, convops.ByCCP, 5, histogram.Bin(5), 0)
	s.add(11, convops.ByCCP, 5, histogram.Bin(5), 0)
	s.add(11, convops.ByCCP, 5, histogram.Bin(5), 0)
	got := make([]convops.Counters, 1)
	s.sums([]convops.Span{{First: 11, End: 12}}, got)
	if got[0].Count[convops.ByCCP] != 3 || got[0].Handling[convops.ByCCP] != 15 {
		t.Errorf("span across the wrap: %+v", got[0])
	}
}

// TestTrimGivesBackMemory: a series that went quiet shrinks its array.
func TestTrimGivesBackMemory(t *testing.T) {
	var s series
	for b := range uint32(288) {
		s.add(1000+b, convops.BySystem, 1, histogram.Bin(1), 0)
	}
	before := cap(s.entries)
	s.trim(1000+280, 0)
	if s.buckets() != 8 || cap(s.entries) >= before/4 {
		t.Errorf("after trim: %d buckets, capacity %d (was %d)", s.buckets(), cap(s.entries), before)
	}
	got := make([]convops.Counters, 1)
	s.sums([]convops.Span{{First: 0, End: 2000}}, got)
	if got[0].Total() != 8 {
		t.Errorf("total after trim %d, want 8", got[0].Total())
	}
}

// TestHeldEntriesAreNotChanged: a shallow copy of a series held by a
// snapshot keeps seeing its entries as they were while the series takes
// late events, new buckets and a trim.
func TestHeldEntriesAreNotChanged(t *testing.T) {
	var s series
	for b := range uint32(50) {
		s.add(1000+2*b, convops.ByCCP, int64(b), histogram.Bin(int64(b)), 0)
	}
	const epoch = 7
	copied := s.shallowCopy() // what a snapshot's shallow copy holds
	want := make([]convops.Counters, 1)
	copied.sums([]convops.Span{{First: 0, End: 5000}}, want)
	wantEntries := append([]entry(nil), copied.entries...)
	whole := convops.Span{First: 0, End: 5000}
	wantHistogram := histogram.NewMerger()
	copied.addSpan(whole, wantHistogram)

	s.add(1003, convops.BySystem, 9, histogram.Bin(9), epoch) // late: changes entries in place
	s.add(2000, convops.ByConsumer, 9, histogram.Bin(9), epoch)
	s.add(2001, convops.ByConsumer, 9, histogram.Bin(9), epoch)
	s.trim(1050, epoch)
	s.add(1060, convops.BySystem, 9, histogram.Bin(9), epoch)

	got := make([]convops.Counters, 1)
	copied.sums([]convops.Span{{First: 0, End: 5000}}, got)
	if got[0] != want[0] || fmt.Sprint(copied.entries) != fmt.Sprint(wantEntries) {
		t.Errorf("the held copy changed: %+v, was %+v", got[0], want[0])
	}
	gotHistogram := histogram.NewMerger()
	copied.addSpan(whole, gotHistogram)
	if !gotHistogram.Equal(wantHistogram) {
		t.Error("the held copy's histograms changed")
	}
	if s.cloned != epoch {
		t.Errorf("the series did not copy its entries before changing them")
	}
}
