package histogram

import (
	"slices"

	"github.com/convops/convops"
)

// Merger adds up histograms (their cells) and reads the tail of the sum.
// It is dense — a count per resolver and bin — and remembers which bins it
// touched, so that adding costs a cell and reading and resetting cost the
// bins touched, not all of them. Its zero value is not ready: use
// NewMerger.
type Merger struct {
	counts  [3][]uint32
	touched [3][]uint16
	n       [3]uint64 // conversations added, per resolver
	all     []uint16  // scratch of Tail: the bins of all resolvers
}

// NewMerger returns an empty merger.
func NewMerger() *Merger {
	m := &Merger{}
	for by := range m.counts {
		m.counts[by] = make([]uint32, Bins)
	}
	return m
}

// Bytes is the memory of one merger.
func MergerBytes() int { return 3*Bins*4 + 256 }

// Add adds the cells of a histogram.
func (m *Merger) Add(h []Cell) {
	for _, c := range h {
		by, bin, count := parts(c)
		if m.counts[by][bin] == 0 {
			m.touched[by] = append(m.touched[by], uint16(bin))
		}
		m.counts[by][bin] += count
		m.n[by] += uint64(count)
	}
}

// Empty reports whether nothing was added since the last reset.
func (m *Merger) Empty() bool { return m.n == [3]uint64{} }

// Reset empties the merger.
func (m *Merger) Reset() {
	for by := range m.counts {
		for _, bin := range m.touched[by] {
			m.counts[by][bin] = 0
		}
		m.touched[by] = m.touched[by][:0]
	}
	m.n = [3]uint64{}
}

// Tail reads what q asks of the sum: the nearest-rank percentiles, per
// resolver and over all, and the counts within each threshold; t's slices
// are filled (they must have the lengths of q's lists).
func (m *Merger) Tail(q *convops.Query, t *convops.Tail) {
	for by := range m.touched {
		slices.Sort(m.touched[by])
	}
	for i, p := range q.Percentiles {
		for by := range m.counts {
			t.Percentiles[i][by] = m.percentile(p.Tenths, m.touched[by], m.n[by], func(bin uint16) uint64 { return uint64(m.counts[by][bin]) })
		}
	}
	if len(q.Percentiles) > 0 {
		m.all = append(append(append(m.all[:0], m.touched[0]...), m.touched[1]...), m.touched[2]...)
		slices.Sort(m.all)
		m.all = slices.Compact(m.all)
		total := m.n[0] + m.n[1] + m.n[2]
		both := func(bin uint16) uint64 {
			return uint64(m.counts[0][bin]) + uint64(m.counts[1][bin]) + uint64(m.counts[2][bin])
		}
		for i, p := range q.Percentiles {
			t.Percentiles[i][3] = m.percentile(p.Tenths, m.all, total, both)
		}
	}
	for i, secs := range q.Thresholds {
		cut := uint16(WithinBins(secs * 1000))
		for by := range m.counts {
			var within uint64
			for _, bin := range m.touched[by] {
				if bin >= cut {
					break
				}
				within += uint64(m.counts[by][bin])
			}
			t.Within[i][by] = int64(within)
		}
	}
}

// percentile returns the representative of the bin that holds the
// ceil(tenths·n/1000)-th smallest of n values over bins (ascending), −1
// when n is 0.
func (m *Merger) percentile(tenths int64, bins []uint16, n uint64, count func(uint16) uint64) int64 {
	if n == 0 {
		return -1
	}
	rank := (uint64(tenths)*n + 999) / 1000
	var seen uint64
	for _, bin := range bins {
		if seen += count(bin); seen >= rank {
			return Rep(int(bin))
		}
	}
	return Rep(int(bins[len(bins)-1]))
}
