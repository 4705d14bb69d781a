package store

import (
	"cmp"
	"slices"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

// The histograms a series keeps beside its totals (see series): the
// buckets' cells, the late cells of older buckets waiting to be settled,
// the head's dense histogram and the whole one of a busy series, and
// reading them over a span.

// lateCell is a cell of an older bucket, waiting in series.late.
type lateCell struct {
	bucket uint32
	cell   histogram.Cell
}

// lateMax is the number of late cells a series holds before it settles
// them: settling costs a copy of the series' cells, so a busy series
// settles once in lateMax new cells of older buckets, while reading the
// late cells costs a look at each. (A variable, for tests.)
var lateMax = 128

// wholeFrom is the number of cells from which a series keeps its whole
// histogram: a dense merger costs about as much as 3,500 cells, and below
// that, merging a window's cells costs little anyway. (A variable, for
// tests.)
var wholeFrom = 4096

// addToBucket counts one conversation of by in bin in the histogram of a
// bucket, held as one cell, or in cells when cell is 0, and returns it so.
func addToBucket(cell histogram.Cell, cells []histogram.Cell, by convops.ResolvedBy, bin int) (histogram.Cell, []histogram.Cell) {
	if cell == 0 {
		return 0, histogram.Add(cells, by, bin)
	}
	if grown, ok := histogram.Grow(cell, by, bin); ok {
		return grown, cells
	}
	return 0, histogram.Add(append(cells[:0], cell), by, bin)
}

// denseCells writes the histogram m holds as a bucket's: one cell, or
// cells appended to buf.
func denseCells(m *histogram.Merger, buf []histogram.Cell) (histogram.Cell, []histogram.Cell) {
	cells := m.AppendCells(buf)
	if len(cells) == 1 {
		return cells[0], cells[:0]
	}
	return 0, cells
}

// makeWhole makes the whole histogram from the buckets', and the head's
// dense.
func (s *series) makeWhole() {
	s.all = histogram.NewMerger()
	s.addBuckets(s.all, 0, len(s.entries), true)
	if !s.empty() {
		dense := histogram.NewMerger()
		s.addHead(dense)
		s.head.cell, s.headCells, s.headDense = 0, nil, dense
	}
}

// dropWhole drops the whole histogram and the head's dense one.
func (s *series) dropWhole() {
	if s.headDense != nil {
		s.head.cell, s.headCells = denseCells(s.headDense, nil)
	}
	s.all, s.headDense = nil, nil
}

// headSize is about the number of cells of the head's histogram.
func (s *series) headSize() int {
	if s.headDense != nil {
		return s.headDense.Touched()
	}
	return len(s.headCells) + 1
}

// addBuckets adds the histograms of the older buckets from to to, and the
// head's if head, to m.
func (s *series) addBuckets(m *histogram.Merger, from, to int, head bool) {
	m.Add(s.cells[s.cellsStart(from):s.cellsStart(to)])
	for _, e := range s.entries[from:to] {
		if e.cell != 0 {
			m.AddCell(e.cell)
		}
	}
	if lo, hi := s.lateWithin(from, to); lo <= hi {
		for _, l := range s.late {
			if lo <= l.bucket && l.bucket <= hi {
				m.AddCell(l.cell)
			}
		}
	}
	if head {
		s.addHead(m)
	}
}

// lateWithin returns the range of buckets of the older entries from to
// to, whose late cells a span of them holds; hi < lo when it is empty.
func (s *series) lateWithin(from, to int) (lo, hi uint32) {
	if from >= to || len(s.late) == 0 {
		return 1, 0
	}
	return s.entries[from].bucket, s.entries[to-1].bucket
}

// subBuckets takes the histograms of the older buckets from to to, and the
// head's if head, out of m.
func (s *series) subBuckets(m *histogram.Merger, from, to int, head bool) {
	m.Sub(s.cells[s.cellsStart(from):s.cellsStart(to)])
	for _, e := range s.entries[from:to] {
		if e.cell != 0 {
			m.SubCell(e.cell)
		}
	}
	if lo, hi := s.lateWithin(from, to); lo <= hi {
		for _, l := range s.late {
			if lo <= l.bucket && l.bucket <= hi {
				m.SubCell(l.cell)
			}
		}
	}
	if head {
		switch {
		case s.headDense != nil:
			m.SubMerger(s.headDense)
		case s.head.cell != 0:
			m.SubCell(s.head.cell)
		default:
			m.Sub(s.headCells)
		}
	}
}

// addHead adds the head's histogram to m.
func (s *series) addHead(m *histogram.Merger) {
	switch {
	case s.empty():
	case s.headDense != nil:
		m.AddMerger(s.headDense)
	case s.head.cell != 0:
		m.AddCell(s.head.cell)
	default:
		m.Add(s.headCells)
	}
}

// addLate counts an event of older bucket b in its late cells, and settles
// them when there are too many.
func (s *series) addLate(b uint32, by convops.ResolvedBy, bin int) {
	for i := range s.late {
		l := &s.late[i]
		if l.bucket == b {
			if grown, ok := histogram.Grow(l.cell, by, bin); ok {
				l.cell = grown
				return
			}
		}
	}
	s.late = append(s.late, lateCell{bucket: b, cell: histogram.One(by, bin)})
	if len(s.late) >= lateMax {
		s.settle()
	}
}

// lateBucket is the histogram of older entry index once its late cells
// are merged into it.
type lateBucket struct {
	index int
	cells []histogram.Cell
}

// lateBuckets sorts the late cells and returns the histograms of the
// buckets they belong to, with them, in bucket order.
func (s *series) lateBuckets() []lateBucket {
	slices.SortFunc(s.late, func(x, y lateCell) int {
		return cmp.Compare(uint64(x.bucket)<<32|uint64(x.cell), uint64(y.bucket)<<32|uint64(y.cell))
	})
	var out []lateBucket
	var group []histogram.Cell
	for k := 0; k < len(s.late); {
		b := s.late[k].bucket
		group = group[:0]
		for ; k < len(s.late) && s.late[k].bucket == b; k++ {
			group = append(group, s.late[k].cell)
		}
		i := s.search(b) - 1 // b is an older entry's: late cells are only added to one
		own := s.cells[s.cellsStart(i):s.entries[i].cells]
		if c := s.entries[i].cell; c != 0 {
			own = []histogram.Cell{c}
		}
		out = append(out, lateBucket{index: i, cells: histogram.AppendMerged(nil, own, group)})
	}
	return out
}

// settle moves the late cells into cells, each at its bucket's place, in
// a new array (a snapshot may hold the old one), and the entries' ends
// with them (unshare them first).
func (s *series) settle() {
	if len(s.late) == 0 {
		return
	}
	buckets := s.lateBuckets()
	cells := make([]histogram.Cell, 0, len(s.cells)+2*len(s.late))
	start := 0 // where entry i's cells begin in s.cells
	for i := range s.entries {
		e := &s.entries[i]
		end := int(e.cells)
		if len(buckets) > 0 && buckets[0].index == i {
			cells = append(cells, buckets[0].cells...)
			e.cell = 0
			buckets = buckets[1:]
		} else {
			cells = append(cells, s.cells[start:end]...)
		}
		start = end
		e.cells = uint32(len(cells))
	}
	s.cells, s.late = cells, nil
}

// cellsStart is where the cells of older entry i begin.
func (s *series) cellsStart(i int) int {
	if i == 0 {
		return 0
	}
	return int(s.entries[i-1].cells)
}

// addSpan adds the histogram of span's buckets to each merger: theirs, or,
// when that is less work, the series' whole histogram less the buckets
// outside the span (a 24-hour window of a busy series: a few thousand bins
// instead of a day of cells).
func (s *series) addSpan(span convops.Span, ms ...*histogram.Merger) {
	if s.empty() {
		return
	}
	from, to := s.olderBelow(span.First), s.olderBelow(span.End)
	headIn := span.First <= int64(s.head.bucket) && int64(s.head.bucket) < span.End
	// What each way costs: the cells and entries read.
	inside := s.cellsStart(to) - s.cellsStart(from) + to - from
	if headIn {
		inside += s.headSize()
	}
	outside := len(s.cells) + len(s.entries) + s.headSize() - inside
	s.addSpanFrom(from, to, headIn, s.all != nil && s.all.Touched()+outside < inside, ms...)
}

// addSpanFrom adds the histogram of the older buckets from to to, and of
// the head if headIn: from theirs, or fromWhole from the whole histogram
// less the others'.
func (s *series) addSpanFrom(from, to int, headIn, fromWhole bool, ms ...*histogram.Merger) {
	for _, m := range ms {
		if !fromWhole {
			s.addBuckets(m, from, to, headIn)
			continue
		}
		m.AddMerger(s.all)
		s.subBuckets(m, 0, from, false)
		s.subBuckets(m, to, len(s.entries), !headIn)
	}
}
