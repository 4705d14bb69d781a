package histogram

import (
	"math"
	"math/bits"
	"slices"

	"github.com/convops/convops"
)

// words is the size of a bitmap of the bins.
var words = (Bins + 63) / 64

// Merger adds up histograms (their cells) and reads the tail of the sum.
// It is dense — a count per resolver and bin — and marks the bins it
// touched in a bitmap, so that adding costs a cell, and reading and
// resetting cost the bins touched and a pass over the bitmap (18 words),
// with no sort. Its zero value is not ready: use NewMerger.
type Merger struct {
	counts  [3][]uint32
	touched [3][]uint64 // a bit per bin with a count
	n       [3]uint64   // conversations added, per resolver
	all     []uint64    // scratch of Tail: the bins of any resolver
}

// NewMerger returns an empty merger.
func NewMerger() *Merger {
	m := &Merger{all: make([]uint64, words)}
	for by := range m.counts {
		m.counts[by] = make([]uint32, Bins)
		m.touched[by] = make([]uint64, words)
	}
	return m
}

// MergerBytes is the memory of one merger.
func MergerBytes() int { return 3*Bins*4 + 4*words*8 + 256 }

// Add adds the cells of a histogram.
func (m *Merger) Add(h []Cell) {
	for _, c := range h {
		by, bin, count := parts(c)
		m.counts[by][bin] += count
		m.touched[by][bin>>6] |= 1 << (bin & 63)
		m.n[by] += uint64(count)
	}
}

// AddCell adds one cell.
func (m *Merger) AddCell(c Cell) {
	by, bin, count := parts(c)
	m.counts[by][bin] += count
	m.touched[by][bin>>6] |= 1 << (bin & 63)
	m.n[by] += uint64(count)
}

// SubCell takes one cell out of what was added (it must be in it).
func (m *Merger) SubCell(c Cell) {
	by, bin, count := parts(c)
	m.counts[by][bin] -= count
	m.n[by] -= uint64(count)
}

// AddOne counts one conversation of by in bin.
func (m *Merger) AddOne(by convops.ResolvedBy, bin int) {
	m.counts[by][bin]++
	m.touched[by][bin>>6] |= 1 << (bin & 63)
	m.n[by]++
}

// AddMerger adds what o holds, at the cost of the bins o touched.
func (m *Merger) AddMerger(o *Merger) {
	for by := range o.counts {
		if o.n[by] == 0 {
			continue
		}
		for w, word := range o.touched[by] {
			m.touched[by][w] |= word
			for ; word != 0; word &= word - 1 {
				bin := w<<6 | bits.TrailingZeros64(word)
				m.counts[by][bin] += o.counts[by][bin]
			}
		}
		m.n[by] += o.n[by]
	}
}

// SubMerger takes what o holds out of what was added (it must be in it),
// at the cost of the bins o touched.
func (m *Merger) SubMerger(o *Merger) {
	for by := range o.counts {
		if o.n[by] == 0 {
			continue
		}
		for w, word := range o.touched[by] {
			for ; word != 0; word &= word - 1 {
				bin := w<<6 | bits.TrailingZeros64(word)
				m.counts[by][bin] -= o.counts[by][bin]
			}
		}
		m.n[by] -= o.n[by]
	}
}

// AppendCells appends the histogram m holds to h, in the form Add would
// have made it (sorted; a count past a cell's in full cells, then one with
// the rest).
func (m *Merger) AppendCells(h []Cell) []Cell {
	for by := range m.counts {
		if m.n[by] == 0 {
			continue
		}
		for w, word := range m.touched[by] {
			for ; word != 0; word &= word - 1 {
				bin := w<<6 | bits.TrailingZeros64(word)
				n := m.counts[by][bin]
				if n == 0 {
					continue // emptied by a Sub
				}
				k := uint32(by)<<binBits | uint32(bin)
				for ; n > maxCount; n -= maxCount {
					h = append(h, k<<countBits|maxCount)
				}
				h = append(h, k<<countBits|n)
			}
		}
	}
	return h
}

// Sub takes the cells of a histogram out of what was added (they must be
// in it). A bin left empty stays marked, and reads as nothing.
func (m *Merger) Sub(h []Cell) {
	for _, c := range h {
		m.SubCell(c)
	}
}

// Touched returns how many bins are marked: what adding m to another
// merger costs.
func (m *Merger) Touched() int {
	n := 0
	for by := range m.touched {
		for _, word := range m.touched[by] {
			n += bits.OnesCount64(word)
		}
	}
	return n
}

// Equal reports whether m and o hold the same counts.
func (m *Merger) Equal(o *Merger) bool {
	for by := range m.counts {
		if m.n[by] != o.n[by] || !slices.Equal(m.counts[by], o.counts[by]) {
			return false
		}
	}
	return true
}

// Empty reports whether nothing was added since the last reset.
func (m *Merger) Empty() bool { return m.n == [3]uint64{} }

// Reset empties the merger.
func (m *Merger) Reset() {
	for by := range m.counts {
		// Not skipped when n[by] is 0: bins emptied by Sub are still marked.
		for w, word := range m.touched[by] {
			for word != 0 {
				m.counts[by][w<<6|bits.TrailingZeros64(word)] = 0
				word &= word - 1
			}
			m.touched[by][w] = 0
		}
	}
	m.n = [3]uint64{}
}

// Tail reads what q asks of the sum: the nearest-rank percentiles, per
// resolver and over all, and the counts within each threshold; t's slices
// are filled (they must have the lengths of q's lists). One walk through
// the bins any resolver touched, in ascending order, keeps a running sum
// per resolver and over all: a percentile is the first bin whose sum
// reaches its rank, a threshold's count the sum below its cut.
func (m *Merger) Tail(q *convops.Query, t *convops.Tail) { m.tail(q, t, false) }

// TailReset is Tail, then Reset, in the one walk.
func (m *Merger) TailReset(q *convops.Query, t *convops.Tail) { m.tail(q, t, true) }

func (m *Merger) tail(q *convops.Query, t *convops.Tail, reset bool) {
	np, nt := len(q.Percentiles), len(q.Thresholds)
	n := [4]uint64{m.n[0], m.n[1], m.n[2], m.n[0] + m.n[1] + m.n[2]}
	// The percentiles in ascending order, and their ranks per sum.
	var order [convops.MaxPercentiles]int
	var ranks [4][convops.MaxPercentiles + 1]uint64
	for i := range np {
		order[i] = i
		for j := i; j > 0 && q.Percentiles[order[j]].Tenths < q.Percentiles[order[j-1]].Tenths; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	var next [4]int    // the next percentile (in order) of each sum
	var want [4]uint64 // its rank: what the sum must reach (past all: none)
	for by := range 4 {
		for k := range np {
			ranks[by][k] = rank(q.Percentiles[order[k]].Tenths, n[by])
			t.Percentiles[order[k]][by] = -1
		}
		ranks[by][np] = math.MaxUint64
		if n[by] == 0 {
			next[by] = np // none: −1
		}
		want[by] = ranks[by][next[by]]
	}
	// The thresholds in ascending order, and the bin each starts beyond.
	var torder [convops.MaxThresholds]int
	var cuts [convops.MaxThresholds + 1]int
	for i := range nt {
		torder[i] = i
		for j := i; j > 0 && q.Thresholds[torder[j]] < q.Thresholds[torder[j-1]]; j-- {
			torder[j], torder[j-1] = torder[j-1], torder[j]
		}
	}
	for k := range nt {
		cuts[k] = WithinBins(q.Thresholds[torder[k]] * 1000)
	}
	cuts[nt] = math.MaxInt
	nextCut := 0
	var seen [4]uint64
	c0, c1, c2 := m.counts[0], m.counts[1], m.counts[2]
	t0, t1, t2 := m.touched[0], m.touched[1], m.touched[2]
	for w := range t0 {
		for word := t0[w] | t1[w] | t2[w]; word != 0; word &= word - 1 {
			bin := w<<6 | bits.TrailingZeros64(word)
			for bin >= cuts[nextCut] {
				within := &t.Within[torder[nextCut]]
				within[0], within[1], within[2] = int64(seen[0]), int64(seen[1]), int64(seen[2])
				nextCut++
			}
			a, b, c := uint64(c0[bin]), uint64(c1[bin]), uint64(c2[bin])
			if reset {
				c0[bin], c1[bin], c2[bin] = 0, 0, 0
			}
			seen[0] += a
			seen[1] += b
			seen[2] += c
			seen[3] += a + b + c
			if seen[0] < want[0] && seen[1] < want[1] && seen[2] < want[2] && seen[3] < want[3] {
				continue // most bins: no percentile reached
			}
			for by := range 4 {
				for seen[by] >= want[by] {
					t.Percentiles[order[next[by]]][by] = Rep(bin)
					next[by]++
					want[by] = ranks[by][next[by]]
				}
			}
		}
		if reset {
			t0[w], t1[w], t2[w] = 0, 0, 0
		}
	}
	for ; nextCut < nt; nextCut++ {
		within := &t.Within[torder[nextCut]]
		within[0], within[1], within[2] = int64(seen[0]), int64(seen[1]), int64(seen[2])
	}
	if reset {
		m.n = [3]uint64{}
	}
}

// rank is the position, from 1, of the nearest-rank tenths/10 percentile
// of n values: ceil(tenths·n/1000).
func rank(tenths int64, n uint64) uint64 { return (uint64(tenths)*n + 999) / 1000 }
