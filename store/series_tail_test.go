package store

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
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

// TestLateCellsAreTheBucketsHistograms: a series whose older buckets take
// events of bins they had not seen (held as late cells, settled now and
// then) answers each bucket's histogram as counted, whatever lateMax;
// and it is written to a snapshot, held or settled, as the series that
// took the same events in order of time is; with its whole histogram kept
// (and its head's dense) and without.
func TestLateCellsAreTheBucketsHistograms(t *testing.T) {
	defer func(was, whole int) { lateMax, wholeFrom = was, whole }(lateMax, wholeFrom)
	type key struct {
		bucket uint32
		by     convops.ResolvedBy
		bin    int
	}
	type event struct {
		bucket uint32
		by     convops.ResolvedBy
		ms     int64
	}
	for i, max := range []int{1, 2, 7, 128, 1 << 30, 1, 7, 128, 1 << 30} {
		lateMax, wholeFrom = max, 4096
		if i > 4 {
			wholeFrom = 0 // every series keeps its whole histogram, its head's dense
		}
		for seed := range uint64(10) {
			r := rand.New(rand.NewPCG(seed, uint64(max)))
			var s series
			exact := map[key]uint32{}
			var events []event
			for i := range 2000 {
				e := event{bucket: 1000 + uint32(r.IntN(40)), by: convops.ResolvedBy(r.IntN(3)), ms: int64(r.IntN(3000)) * int64(1+r.IntN(300))}
				if r.IntN(4) == 0 {
					e.ms = 7 // a busy bin
				}
				if r.IntN(5) == 0 {
					e.bucket = 1100 + uint32(i/50) // the newest buckets
				}
				events = append(events, e)
				s.add(e.bucket, e.by, e.ms, histogram.Bin(e.ms), 0)
				exact[key{e.bucket, e.by, histogram.Bin(e.ms)}]++
			}
			if max > 2000 && len(s.late) == 0 || max <= 7 && len(s.late) >= max {
				t.Fatalf("lateMax %d: %d late cells", max, len(s.late))
			}
			// Each bucket's histogram, as a query reads it, against the
			// one of its events counted one by one.
			m, want := histogram.NewMerger(), histogram.NewMerger()
			check := func(b uint32) {
				for k, n := range exact {
					if k.bucket == b {
						for range n {
							want.AddOne(k.by, k.bin)
						}
					}
				}
				if !m.Equal(want) {
					t.Fatalf("lateMax %d seed %d: bucket %d's histogram is not what was counted", max, seed, b)
				}
				m.Reset()
				want.Reset()
			}
			for i, e := range s.entries {
				s.addBuckets(m, i, i+1, false)
				check(e.bucket)
			}
			s.addHead(m)
			check(s.head.bucket)

			// Written: the held copy (late cells as they are), then the
			// series settled, then the series that took them in order.
			held := s.shallowCopy()
			written := appendSeries(nil, &held)
			if len(written) != seriesSize(&held) {
				t.Fatalf("lateMax %d seed %d: %d bytes written, %d said", max, seed, len(written), seriesSize(&held))
			}
			s.settle()
			settledCopy := s.shallowCopy()
			settled := appendSeries(nil, &settledCopy)
			slices.SortStableFunc(events, func(x, y event) int { return cmp.Compare(x.bucket, y.bucket) })
			var inOrder series
			for _, e := range events {
				inOrder.add(e.bucket, e.by, e.ms, histogram.Bin(e.ms), 0)
			}
			if len(inOrder.late) > 0 {
				t.Fatal("a series that took its events in order has late cells")
			}
			if (wholeFrom == 0) != (inOrder.headDense != nil) {
				t.Fatalf("wholeFrom %d, and a dense head %v", wholeFrom, inOrder.headDense != nil)
			}
			orderedCopy := inOrder.shallowCopy()
			ordered := appendSeries(nil, &orderedCopy)
			if !bytes.Equal(written, ordered) || !bytes.Equal(settled, ordered) {
				t.Fatalf("lateMax %d seed %d: written with late cells %v, settled %v, equal to the series in order", max, seed, bytes.Equal(written, ordered), bytes.Equal(settled, ordered))
			}
		}
	}
}
