package histogram

import (
	"math/bits"
	"slices"

	"github.com/convops/convops"
)

// A Total is a histogram of many buckets merged: one entry per resolver and
// bin with conversations, the key (as a cell's) in the high 32 bits and the
// count in the low 32, sorted. A series keeps one of everything it holds,
// so that a window covering most of what it holds is answered from it,
// less the few buckets outside the window, instead of from every bucket's
// cells.
type Total = uint64

func totalKey(e Total) uint32 { return uint32(e >> 32) }

// AddTotal counts one conversation of by in bin in t, and returns it.
func AddTotal(t []Total, by convops.ResolvedBy, bin int) []Total {
	k := uint32(by)<<binBits | uint32(bin)
	i, found := slices.BinarySearchFunc(t, k, func(e Total, k uint32) int { return int(totalKey(e)) - int(k) })
	if found {
		t[i]++
		return t
	}
	return slices.Insert(t, i, uint64(k)<<32|1)
}

// SubTotal takes the cells of histograms out of t (they must be in it),
// and returns it without the entries left empty.
func SubTotal(t []Total, hs ...[]Cell) []Total {
	emptied := false
	for _, h := range hs {
		for _, c := range h {
			i, found := slices.BinarySearchFunc(t, key(c), func(e Total, k uint32) int { return int(totalKey(e)) - int(k) })
			if !found {
				continue // not in it: nothing to take
			}
			n := uint64(c & maxCount)
			if t[i]&0xffffffff <= n {
				t[i] &^= 0xffffffff
				emptied = true
			} else {
				t[i] -= n
			}
		}
	}
	if emptied {
		t = slices.DeleteFunc(t, func(e Total) bool { return e&0xffffffff == 0 })
	}
	return t
}

// TotalOf merges histograms into a total.
func TotalOf(m *Merger, hs ...[]Cell) []Total {
	for _, h := range hs {
		m.Add(h)
	}
	var t []Total
	for by := range m.counts {
		for w, word := range m.touched[by] {
			for ; word != 0; word &= word - 1 {
				bin := w<<6 | bits.TrailingZeros64(word)
				k := uint64(by)<<binBits | uint64(bin)
				t = append(t, k<<32|uint64(m.counts[by][bin]))
			}
		}
	}
	m.Reset()
	return t
}

// AddTotal adds a total.
func (m *Merger) AddTotal(t []Total) {
	for _, e := range t {
		k, count := totalKey(e), uint32(e)
		by, bin := k>>binBits, int(k&(1<<binBits-1))
		m.counts[by][bin] += count
		m.touched[by][bin>>6] |= 1 << (bin & 63)
		m.n[by] += uint64(count)
	}
}

// Sub takes the cells of a histogram out of what was added (they must be
// in it). A bin left empty stays marked, and reads as nothing.
func (m *Merger) Sub(h []Cell) {
	for _, c := range h {
		by, bin, count := parts(c)
		m.counts[by][bin] -= count
		m.n[by] -= uint64(count)
	}
}
