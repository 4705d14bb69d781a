package store

import (
	"slices"

	"github.com/convops/convops"
)

// ringSize is how many buckets a series holds: the 289 a 1440-minute query
// reads, the one before them (a range sum needs it), the buckets clock skew
// reaches past now, and room for a query clock somewhat behind the log's.
const ringSize = 300

// series is the running total of one aggregate (an account, a skill, an agent,
// or an agent within a skill) over the buckets: cum[k % ringSize] holds the sum
// of every bucket up to and including k, for k in the window
// (latest − ringSize, latest]. The total over any span of buckets is then the
// difference of two entries, so a query costs the same for 5 minutes as for 24
// hours. Buckets that slide out of the window are folded into base.
type series struct {
	latest int64                      // newest bucket of the window
	base   convops.Counters           // running total just before the window
	cum    [ringSize]convops.Counters // running totals inside the window
}

// slot is where bucket b lives in the ring. Bucket indices count from 1970
// and are positive, and an unsigned modulus by a constant compiles to a
// multiplication, not a division: this is the fold's innermost arithmetic.
func slot(b int64) int { return int(uint64(b) % ringSize) }

func newSeries(bucket int64) *series {
	return &series{latest: bucket}
}

// advance moves the window so that it ends at bucket to (> latest); new
// buckets start with the running total so far.
func (s *series) advance(to int64) {
	last := s.cum[slot(s.latest)]
	if to-s.latest >= ringSize {
		s.base = last
		for i := range s.cum {
			s.cum[i] = last
		}
	} else {
		// The newest bucket to leave the window, to − ringSize, shares its
		// slot with to.
		s.base = s.cum[slot(to)]
		for b := s.latest + 1; b <= to; b++ {
			s.cum[slot(b)] = last
		}
	}
	s.latest = to
}

// add counts an event in bucket k. It reports false when k is older than the
// window: more than ringSize buckets before the newest event of the series.
func (s *series) add(k int64, by convops.ResolvedBy, handlingMs int64) bool {
	if k > s.latest {
		s.advance(k)
	}
	if k <= s.latest-ringSize {
		return false
	}
	for b := k; b <= s.latest; b++ {
		s.cum[slot(b)].AddEvent(by, handlingMs)
	}
	return true
}

// at returns the running total up to and including bucket x.
func (s *series) at(x int64) *convops.Counters {
	switch {
	case x >= s.latest:
		return &s.cum[slot(s.latest)]
	case x <= s.latest-ringSize:
		return &s.base
	}
	return &s.cum[slot(x)]
}

// sums writes the total over each span into out. Consecutive spans that
// share a bound (intervals, newest first) read it once.
func (s *series) sums(spans []convops.Span, out []convops.Counters) {
	var prevFirst int64
	var prev *convops.Counters
	for i, span := range spans {
		end := prev
		if end == nil || span.End != prevFirst {
			end = s.at(span.End - 1)
		}
		first := s.at(span.First - 1)
		out[i] = *end
		out[i].Sub(first)
		prev, prevFirst = first, span.First
	}
}

// byID holds items by id, in ascending id order, so that answers are written
// in order without sorting.
type byID[T any] struct {
	ids   []int64
	items []T
}

// get returns the item of id, or the zero T.
func (l *byID[T]) get(id int64) T {
	if i, ok := slices.BinarySearch(l.ids, id); ok {
		return l.items[i]
	}
	var zero T
	return zero
}

// getOrAdd returns the item of id, made by create when missing.
func (l *byID[T]) getOrAdd(id int64, create func() T) T {
	i, ok := slices.BinarySearch(l.ids, id)
	if !ok {
		l.ids = slices.Insert(l.ids, i, id)
		l.items = slices.Insert(l.items, i, create())
	}
	return l.items[i]
}

// keepIf removes the items for which keep is false.
func (l *byID[T]) keepIf(keep func(T) bool) {
	n := 0
	for i, item := range l.items {
		if keep(item) {
			l.ids[n], l.items[n] = l.ids[i], item
			n++
		}
	}
	clear(l.items[n:])
	l.ids, l.items = l.ids[:n], l.items[:n]
}
