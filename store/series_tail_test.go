package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

// TestSpanFromTotalIsSpanFromCells: a span's histogram read from the
// series' whole histogram less the buckets outside it is the one read from
// its buckets' cells, for every span, on series that grow, take late
// events and are trimmed; and the whole histogram
// is the sum of every bucket's, as a loaded snapshot makes it again.
func TestSpanFromTotalIsSpanFromCells(t *testing.T) {
	q := convops.Query{Percentiles: []convops.Percentile{{Tenths: 1, Text: "0.1"}, {Tenths: 500, Text: "50"}, {Tenths: 999, Text: "99.9"}},
		Thresholds: []int64{1, 60, 600}}
	tail := func(m *histogram.Merger) string {
		if m.Empty() {
			return "none"
		}
		tl := convops.Tail{Percentiles: make([][4]int64, 3), Within: make([][3]int64, 3)}
		m.Tail(&q, &tl)
		m.Reset()
		return fmt.Sprint(tl)
	}
	defer func(was int) { wholeFrom = was }(wholeFrom)
	wholeFrom = 0 // every series keeps its whole histogram
	a, b := histogram.NewMerger(), histogram.NewMerger()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 9))
		var s series
		horizon := uint32(1000)
		for range 3000 {
			b := horizon + uint32(r.IntN(60))
			ms := int64(r.IntN(5000)) * int64(1+r.IntN(1000))
			if r.IntN(3) == 0 {
				ms = 7 // a busy bin
			}
			s.add(b, convops.ResolvedBy(r.IntN(3)), ms, histogram.Bin(ms), 0)
			if r.IntN(200) == 0 {
				horizon += uint32(r.IntN(5))
				s.trim(horizon, 0)
			}
		}
		if s.all == nil {
			t.Fatalf("seed %d: %d cells and no whole histogram", seed, len(s.cells)+len(s.headCells))
		}
		s.addBuckets(a, 0, len(s.entries), true)
		if !a.Equal(s.all) {
			t.Fatalf("seed %d: the whole histogram is not the sum of its buckets'", seed)
		}
		a.Reset()
		for first := int64(horizon) - 2; first < int64(horizon)+62; first++ {
			for end := first + 1; end < int64(horizon)+63; end += 1 + int64(r.IntN(7)) {
				from, to := s.olderBelow(first), s.olderBelow(end)
				headIn := first <= int64(s.head.bucket) && int64(s.head.bucket) < end
				s.addSpanFrom(from, to, headIn, false, a)
				s.addSpanFrom(from, to, headIn, true, b)
				if x, y := tail(a), tail(b); x != y {
					t.Fatalf("seed %d span [%d, %d): from cells %s, from the total %s", seed, first, end, x, y)
				}
			}
		}
	}
}
