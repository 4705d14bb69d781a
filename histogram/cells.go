package histogram

import (
	"slices"

	"github.com/convops/convops"
)

// A cell is one bin of one resolver's histogram and its count, in 32 bits:
// the resolver in the top 2, the bin in the next 11, the count in the low
// 19. A histogram is a slice of cells sorted by resolver and bin: most of
// them hold one conversation or a few, so 4 bytes a cell is the whole cost.
// A count that would pass 2¹⁹−1 goes on in a second cell of the same bin,
// placed after the full one.
type Cell = uint32

const (
	countBits = 19
	binBits   = 11
	maxCount  = 1<<countBits - 1
)

// key is what cells are sorted by: the resolver and the bin.
func key(c Cell) uint32 { return c >> countBits }

// parts splits a cell.
func parts(c Cell) (by convops.ResolvedBy, bin int, count uint32) {
	return convops.ResolvedBy(c >> (countBits + binBits)), int(c>>countBits) & (1<<binBits - 1), c & maxCount
}

// One returns the cell of one conversation of by in bin.
func One(by convops.ResolvedBy, bin int) Cell {
	return (uint32(by)<<binBits|uint32(bin))<<countBits | 1
}

// Grow counts one more conversation of by in bin in the histogram that is
// the one cell c, if it is of by and bin and not full.
func Grow(c Cell, by convops.ResolvedBy, bin int) (Cell, bool) {
	if key(c) == uint32(by)<<binBits|uint32(bin) && c&maxCount < maxCount {
		return c + 1, true
	}
	return c, false
}

// Add counts one conversation of by in bin in the sorted cells h, and
// returns them.
func Add(h []Cell, by convops.ResolvedBy, bin int) []Cell {
	k := uint32(by)<<binBits | uint32(bin)
	i := after(h, k)
	if i > 0 && key(h[i-1]) == k && h[i-1]&maxCount < maxCount {
		h[i-1]++
		return h
	}
	return slices.Insert(h, i, k<<countBits|1)
}

// Increment counts one conversation of by in bin in the sorted cells h if
// h has a cell of them that is not full, and reports whether it had. It
// changes h in place, never its length: the histogram of an older bucket
// lies among the other buckets' cells, which an insert would move.
func Increment(h []Cell, by convops.ResolvedBy, bin int) bool {
	k := uint32(by)<<binBits | uint32(bin)
	i := after(h, k)
	if i > 0 && key(h[i-1]) == k && h[i-1]&maxCount < maxCount {
		h[i-1]++
		return true
	}
	return false
}

// after returns the index of the first cell of h with a key above k: the
// cell before it, if of k, is the last cell of k. (A plain loop: it is the
// fold's inner step, and twice as fast as slices.BinarySearchFunc's
// closure.)
func after(h []Cell, k uint32) int {
	i, hi := 0, len(h)
	for i < hi {
		mid := int(uint(i+hi) >> 1)
		if key(h[mid]) <= k {
			i = mid + 1
		} else {
			hi = mid
		}
	}
	return i
}

// AppendMerged appends the histogram of a and b together to dst, in the
// form Add would have left it: sorted, one cell per bin unless a count
// passes a cell's, then full cells and one with the rest. a is a
// histogram; b is cells sorted by key, of any counts (several cells of a
// key are summed).
func AppendMerged(dst, a, b []Cell) []Cell {
	for len(a) > 0 || len(b) > 0 {
		var k uint32
		if len(b) == 0 || len(a) > 0 && key(a[0]) <= key(b[0]) {
			k = key(a[0])
		} else {
			k = key(b[0])
		}
		var n uint64
		for len(a) > 0 && key(a[0]) == k {
			n += uint64(a[0] & maxCount)
			a = a[1:]
		}
		for len(b) > 0 && key(b[0]) == k {
			n += uint64(b[0] & maxCount)
			b = b[1:]
		}
		for ; n > maxCount; n -= maxCount {
			dst = append(dst, k<<countBits|maxCount)
		}
		dst = append(dst, k<<countBits|Cell(n))
	}
	return dst
}

// Valid reports whether h is a histogram: cells of known resolvers and
// bins, with counts, sorted (a bin's second cell after a full first).
func Valid(h []Cell) bool {
	for i, c := range h {
		by, bin, count := parts(c)
		if by > convops.BySystem || bin >= Bins || count == 0 {
			return false
		}
		if i > 0 && (key(h[i-1]) > key(c) || key(h[i-1]) == key(c) && h[i-1]&maxCount != maxCount) {
			return false
		}
	}
	return true
}
