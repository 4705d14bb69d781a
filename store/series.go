package store

import (
	"slices"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

// series holds the running totals of one aggregate (an account, a skill, an
// agent, or an agent within a skill), one entry per bucket that has data, in
// ascending bucket order. An entry holds the totals of every bucket up to and
// including its own, so the total over any span of buckets is the difference
// of two entries: a query costs the same for 5 minutes as for 24 hours.
//
// Only buckets with data have an entry: a quiet agent with one conversation
// costs the 184 bytes of the series itself, not a day of buckets. The newest
// entry (head) lives in the series, not in its array: events arrive mostly
// in the newest bucket, and counting one then touches one cache line. The
// entry of an older bucket is found by a binary search narrowed by the fact
// that buckets are distinct integers: a dense series finds it in one step,
// and the bounds that queries read most (the newest bucket, and the oldest of
// a 24-hour window) in none.
//
// Beside the totals, a series keeps the histogram of each bucket's handling
// times (package histogram): not running, as a histogram of totals would
// hold every bin ever seen in every entry, but per bucket. A bucket whose
// histogram is one cell (one conversation, or several of one bin: most
// buckets of an agent) keeps it in its entry, in what would be padding;
// the others keep theirs in cells, the older buckets' one after the other
// (entry.cells is where each bucket's end), the head's in headCells. A
// span's histogram is then one stretch of cells and the one-cell entries
// of the span, merged when a query asks for percentiles or thresholds.
// Counting an event of an agent thus touches no more memory than the
// totals did before histograms: its entry.
type series struct {
	head    entry   // the newest bucket; bucket 0 when the series is empty
	entries []entry // the older buckets, ascending
	// cells holds the histograms of the older buckets that are not one
	// cell, in their order; headCells the head's, when not one cell.
	cells     []histogram.Cell
	headCells []histogram.Cell
	// late holds the cells an older bucket gained that were not in its
	// histogram (a bin it had not seen, or a cell of one that is full),
	// unsorted, until there are lateMax of them or the series is trimmed:
	// settle then puts them in cells, each at its bucket's place. Inserting
	// each in cells at once moved all the newer buckets' cells, a day of
	// a busy series for an event hours late. A snapshot writes the series
	// as settle would leave it.
	late []lateCell
	// all is the histogram of every bucket held, merged, kept by a series
	// with at least wholeFrom cells (nil below): a window that covers most
	// of its buckets is read from it, less the buckets outside, at the cost
	// of the bins it touched rather than of a day of cells. It is dense, so
	// counting an event in it is one increment. It is not shared with
	// snapshots (they do not write it; a loaded series makes it again).
	all *histogram.Merger
	// headDense, kept with all, holds the head's histogram instead of
	// head.cell and headCells: a busy series' head has hundreds of cells,
	// and counting in them cost a search and an insert per event. Written
	// out as cells when the head becomes an older bucket, and in a
	// snapshot's copy.
	headDense *histogram.Merger
	// cloned is the epoch of the snapshot for which entries and cells were
	// copied before they were changed in place (see add and trim).
	cloned uint32
}

// entry is the running total of a series up to and including bucket.
//
// Counts are kept modulo 2³²: the difference of two entries, taken modulo
// 2³², is exact whenever the true count of the span is below 2³² (4.29
// billion conversations of one account in 24 hours), and 4 bytes are saved
// per count. Handling times are summed in 64 bits.
type entry struct {
	bucket uint32 // bucket index; fits until the year 42,000
	count  [3]uint32
	cells  uint32 // the end of the bucket's cells in series.cells (older entries only)
	// cell is the bucket's histogram when it is one cell, 0 when it is in
	// cells (or in headCells, for the head).
	cell     histogram.Cell
	handling [3]int64
}

// Sizes, for the store's accounting.
const (
	entryBytes  = 48
	seriesBytes = 184
	cellBytes   = 4
	lateBytes   = 8
)

func (e *entry) addEvent(by convops.ResolvedBy, handlingMs int64) {
	e.count[by]++
	e.handling[by] += handlingMs
}

// empty reports whether the series holds no bucket.
func (s *series) empty() bool { return s.head.bucket == 0 }

// buckets returns the number of buckets with data.
func (s *series) buckets() int {
	if s.empty() {
		return 0
	}
	return len(s.entries) + 1
}

// first returns the oldest bucket of a non-empty series.
func (s *series) first() uint32 {
	if len(s.entries) > 0 {
		return s.entries[0].bucket
	}
	return s.head.bucket
}

// touch reads the head, which counting an event writes. It returns nothing
// of use; see Store.Apply. (Reading the free slot after the older entries
// as well, which a new bucket writes, made the fold slower.)
func (s *series) touch() uint32 { return s.head.bucket }

// add counts an event in bucket b (> 0). It costs one update when b is the
// newest bucket, one append when it is newer, and one update per later
// entry when it is older.
//
// held is the epoch of a snapshot that holds this series' entries as they
// are (0 when none does): the entries it can see are then not changed in
// place but copied first, once. Appending changes nothing it can see.
//
// bin is the event's bin of handling time (histogram.Bin).
func (s *series) add(b uint32, by convops.ResolvedBy, handlingMs int64, bin int, held uint32) {
	switch {
	case b == s.head.bucket && s.headDense != nil:
		s.headDense.AddOne(by, bin)
	case b == s.head.bucket:
		s.head.cell, s.headCells = addToBucket(s.head.cell, s.headCells, by, bin)
	case b > s.head.bucket:
		if s.headDense != nil {
			s.head.cell, s.headCells = denseCells(s.headDense, s.headCells[:0])
			s.headDense.Reset()
		}
		if !s.empty() {
			// The head's cells join the older ones, unless it is one cell;
			// a snapshot sees the older ones only up to their length then,
			// and the head's through a copy of its own (see shallowCopy),
			// so both are changed in place.
			if s.head.cell == 0 {
				s.cells = append(s.cells, s.headCells...)
			}
			s.head.cells = uint32(len(s.cells))
			s.entries = append(s.entries, s.head)
			s.head.cells = 0 // the head's cells are headCells
		}
		s.head.bucket = b // the running total so far, now of bucket b
		s.head.cell = histogram.One(by, bin)
		s.headCells = s.headCells[:0]
		if s.headDense != nil {
			s.head.cell = 0
			s.headDense.AddOne(by, bin)
		}
	default:
		s.unshare(held)
		s.addOlder(b, by, handlingMs, bin)
	}
	s.head.addEvent(by, handlingMs)
	switch {
	case s.all != nil:
		s.all.AddOne(by, bin)
	case len(s.cells)+len(s.headCells) >= wholeFrom:
		s.makeWhole()
	}
}

// unshare copies the entries before they are changed in place, if a
// snapshot holds them and they have not been copied for it yet.
func (s *series) unshare(held uint32) {
	if held != 0 && s.cloned != held && len(s.entries) > 0 {
		s.entries = slices.Clone(s.entries)
		s.cells = slices.Clone(s.cells)
		s.cloned = held
	}
}

// addOlder counts an event in bucket b, older than the head, in every entry
// from b's on (the head is left to the caller).
func (s *series) addOlder(b uint32, by convops.ResolvedBy, handlingMs int64, bin int) {
	i := s.search(b)
	if i == 0 || s.entries[i-1].bucket != b {
		// A new bucket: an entry holding the totals before it, and its
		// histogram of one cell.
		var e entry
		if i > 0 {
			e = s.entries[i-1]
		}
		e.bucket, e.cell = b, histogram.One(by, bin)
		s.entries = append(s.entries, entry{})
		copy(s.entries[i+1:], s.entries[i:])
		s.entries[i] = e
	} else {
		i--
		e := &s.entries[i]
		if e.cell == 0 {
			if !histogram.Increment(s.cells[s.cellsStart(i):e.cells], by, bin) {
				s.addLate(b, by, bin)
			}
		} else if grown, ok := histogram.Grow(e.cell, by, bin); ok {
			e.cell = grown
		} else {
			s.addLate(b, by, bin)
		}
	}
	for j := i; j < len(s.entries); j++ {
		s.entries[j].addEvent(by, handlingMs)
	}
}

// olderBelow counts the older entries of buckets before x.
func (s *series) olderBelow(x int64) int {
	switch {
	case x > int64(s.head.bucket):
		return len(s.entries)
	case len(s.entries) == 0 || x <= int64(s.entries[0].bucket):
		return 0
	}
	return s.search(uint32(x - 1))
}

// search returns how many of the older entries have a bucket <= x, for x
// older than the head.
func (s *series) search(x uint32) int {
	return s.searchBelow(x, len(s.entries))
}

// searchBelow is search for an x whose answer is known to be at most hi:
// when the bounds of a query are read newest first, each bounds the next.
func (s *series) searchBelow(x uint32, hi int) int {
	if hi == 0 {
		return 0
	}
	// The answer p has entries[p-1].bucket <= x < entries[p].bucket (or p ==
	// len). The entries from p to hi hold distinct buckets in (x, above),
	// above being the bucket after them (the head's, or entries[hi]'s), and
	// those before p distinct buckets in [first, x]: that bounds p from both
	// sides. A dense series is answered in one step, and a bound near the
	// newest bucket (a short timeframe) without reading the oldest entries.
	above := s.head.bucket
	if hi < len(s.entries) {
		above = s.entries[hi].bucket
	}
	lo := hi - int(above-1-x)
	if lo < 1 {
		if x < s.entries[0].bucket {
			return 0
		}
		lo = 1
		hi = min(hi, int(x-s.entries[0].bucket)+1)
	}
	// Invariant: entries[lo-1].bucket <= x, and hi == len or entries[hi].bucket > x.
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.entries[mid].bucket <= x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// upTo returns the running total up to and including bucket x, nil for zero.
func (s *series) upTo(x int64) *entry {
	e, _ := s.upToBelow(x, len(s.entries))
	return e
}

// sums writes the total over each span into out. Spans that follow one
// another backwards (the intervals of a query, newest first) share their
// bounds: each bound is read once, and each narrows the search of the next.
func (s *series) sums(spans []convops.Span, out []convops.Counters) {
	var prevFirst int64
	var prevStart *entry
	hint := len(s.entries)
	for i, span := range spans {
		var end *entry
		if i > 0 && span.End == prevFirst {
			end = prevStart
		} else {
			end = s.upTo(span.End - 1)
			hint = len(s.entries)
		}
		var start *entry
		start, hint = s.upToBelow(span.First-1, hint)
		out[i] = difference(end, start)
		prevFirst, prevStart = span.First, start
	}
}

// upToBelow is upTo for an x whose entry is among the first hint older
// entries or the head; it also returns the hint for an older x.
func (s *series) upToBelow(x int64, hint int) (*entry, int) {
	switch {
	case s.empty():
		return nil, 0
	case x >= int64(s.head.bucket):
		return &s.head, len(s.entries)
	case x < 0:
		return nil, 0
	}
	p := s.searchBelow(uint32(x), hint)
	if p > 0 {
		return &s.entries[p-1], p
	}
	return nil, 0
}

// difference returns end − start as counters; nil entries are zero.
func difference(end, start *entry) convops.Counters {
	var c convops.Counters
	if end == nil {
		return c
	}
	for r := range end.count {
		count, handling := end.count[r], end.handling[r]
		if start != nil {
			count -= start.count[r]
			handling -= start.handling[r]
		}
		c.Count[r] = int64(count)
		c.Handling[r] = handling
	}
	return c
}

// trim drops the buckets before horizon and reports whether the series is
// empty afterwards. The remaining entries are rebased so that they count
// from the horizon, and moved to the front of their array so that the array
// is reused as the series grows again (held: see add).
func (s *series) trim(horizon uint32, held uint32) (empty bool) {
	if s.empty() {
		return true
	}
	if s.head.bucket < horizon {
		*s = series{}
		return true
	}
	k := 0
	for k < len(s.entries) && s.entries[k].bucket < horizon {
		k++
	}
	if k == 0 {
		return false
	}
	s.unshare(held)
	s.settle()
	base := s.entries[k-1]
	if s.all != nil {
		s.subBuckets(s.all, 0, k, false)
	}
	n := copy(s.entries, s.entries[k:])
	s.entries = s.entries[:n]
	s.cells = s.cells[:copy(s.cells, s.cells[base.cells:])]
	rebase := func(e *entry) {
		for r := range e.count {
			e.count[r] -= base.count[r]
			e.handling[r] -= base.handling[r]
		}
	}
	for j := range s.entries {
		rebase(&s.entries[j])
		s.entries[j].cells -= base.cells
	}
	rebase(&s.head)
	// Give back an array that is mostly empty, as a series that went quiet
	// would otherwise keep the size of its busiest day.
	switch {
	case n == 0:
		s.entries, s.cells = nil, nil
	case cap(s.entries) > 8 && n < cap(s.entries)/4:
		s.entries = append([]entry(nil), s.entries...)
	}
	if cap(s.cells) > 32 && len(s.cells) < cap(s.cells)/4 {
		s.cells = append([]histogram.Cell(nil), s.cells...)
	}
	if s.all != nil && len(s.cells)+s.headSize() < wholeFrom/2 {
		s.dropWhole() // a series gone quiet: its cells are cheap to merge
	}
	return false
}

// bytes is the memory of the series' arrays: older entries and cells.
func (s *series) bytes() int {
	n := cap(s.entries)*entryBytes + (cap(s.cells)+cap(s.headCells))*cellBytes + cap(s.late)*lateBytes
	if s.all != nil {
		n += histogram.MergerBytes()
	}
	if s.headDense != nil {
		n += histogram.MergerBytes()
	}
	return n
}
