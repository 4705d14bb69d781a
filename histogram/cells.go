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
	h, _ = AddWithin(h, 0, len(h), by, bin)
	return h
}

// AddWithin is Add for the histogram h[from:to] of a longer slice; it
// returns the slice and whether a cell was inserted (the cells after to
// moved up by one).
func AddWithin(h []Cell, from, to int, by convops.ResolvedBy, bin int) ([]Cell, bool) {
	k := uint32(by)<<binBits | uint32(bin)
	// i is the first cell of a larger key: the one before it, if of k, is
	// the last cell of k. (A plain loop: it is the fold's inner step, and
	// twice as fast as slices.BinarySearchFunc's closure.)
	i, hi := from, to
	for i < hi {
		mid := int(uint(i+hi) >> 1)
		if key(h[mid]) <= k {
			i = mid + 1
		} else {
			hi = mid
		}
	}
	if i > from && key(h[i-1]) == k && h[i-1]&maxCount < maxCount {
		h[i-1]++
		return h, false
	}
	return slices.Insert(h, i, k<<countBits|1), true
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
