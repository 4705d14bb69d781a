package store

import (
	"slices"

	"github.com/convops/convops"
)

// ringSize is how many buckets the ring holds: the 289 a 1440-minute query
// reads, the one before them (a range sum needs it), the buckets clock skew
// reaches past now, and room for a query clock somewhat behind the log's.
const ringSize = 300

// column identifies one series of an account's ring: the running total of
// one aggregate (the account, a skill, an agent, or an agent within a skill).
type column int32

// ring holds the running totals of every series of one account over the
// buckets: slabs[slot(k)][c] is the sum of every bucket up to and including
// k for series c, for k in the window (latest − ringSize, latest]. The total
// over any span of buckets is the difference of two entries, so a query costs
// the same for 5 minutes as for 24 hours. Buckets that slide out of the
// window are folded into base.
//
// Entries are laid out bucket-major: the counters of all series for one
// bucket sit together. The fold writes the newest bucket, so its writes stay
// within one slab that the cache holds; a query reads two slabs per span.
type ring struct {
	latest int64                        // newest bucket of the window
	slabs  [ringSize][]convops.Counters // by slot, then by column
	base   []convops.Counters           // running totals just before the window
}

// slot is where bucket b lives in the ring. Bucket indices count from 1970
// and are positive, and an unsigned modulus by a constant compiles to a
// multiplication, not a division: this is the fold's innermost arithmetic.
func slot(b int64) int { return int(uint64(b) % ringSize) }

func newRing(bucket int64) *ring {
	return &ring{latest: bucket}
}

// columns is the number of series.
func (r *ring) columns() int { return len(r.base) }

// newColumn adds a series with no events.
func (r *ring) newColumn() column {
	for i := range r.slabs {
		r.slabs[i] = append(r.slabs[i], convops.Counters{})
	}
	r.base = append(r.base, convops.Counters{})
	return column(len(r.base) - 1)
}

// advance moves the window so that it ends at bucket to (> latest); new
// buckets start with the running totals so far.
func (r *ring) advance(to int64) {
	last := r.slabs[slot(r.latest)]
	if to-r.latest >= ringSize {
		copy(r.base, last)
		for i := range r.slabs {
			if i != slot(r.latest) {
				copy(r.slabs[i], last)
			}
		}
	} else {
		// The newest bucket to leave the window, to − ringSize, shares its
		// slot with to.
		copy(r.base, r.slabs[slot(to)])
		for b := r.latest + 1; b <= to; b++ {
			copy(r.slabs[slot(b)], last)
		}
	}
	r.latest = to
}

// reserve makes room for an event in bucket k. It reports false when k is
// older than the window: more than ringSize buckets before the newest event.
func (r *ring) reserve(k int64) bool {
	if k > r.latest {
		r.advance(k)
	}
	return k > r.latest-ringSize
}

// add counts an event in bucket k of series c; reserve(k) must have been true.
func (r *ring) add(k int64, c column, by convops.ResolvedBy, handlingMs int64) {
	for b := k; b <= r.latest; b++ {
		r.slabs[slot(b)][c].AddEvent(by, handlingMs)
	}
}

// at returns the running total of series c up to and including bucket x.
func (r *ring) at(x int64, c column) *convops.Counters {
	switch {
	case x >= r.latest:
		return &r.slabs[slot(r.latest)][c]
	case x <= r.latest-ringSize:
		return &r.base[c]
	}
	return &r.slabs[slot(x)][c]
}

// sums writes the total of series c over each span into out. Consecutive
// spans that share a bound (intervals, newest first) read it once.
func (r *ring) sums(c column, spans []convops.Span, out []convops.Counters) {
	var prevFirst int64
	var prev *convops.Counters
	for i, span := range spans {
		end := prev
		if end == nil || span.End != prevFirst {
			end = r.at(span.End-1, c)
		}
		first := r.at(span.First-1, c)
		out[i] = *end
		out[i].Sub(first)
		prev, prevFirst = first, span.First
	}
}

// live reports whether series c has events in the window.
func (r *ring) live(c column) bool {
	return r.slabs[slot(r.latest)][c] != r.base[c]
}

// compact keeps the series for which keep is true, renumbered in order, and
// returns each old column's new number (-1 for those dropped).
func (r *ring) compact(keep func(column) bool) []column {
	renumber := make([]column, r.columns())
	n := column(0)
	for c := range renumber {
		if keep(column(c)) {
			renumber[c] = n
			n++
		} else {
			renumber[c] = -1
		}
	}
	pack := func(s []convops.Counters) []convops.Counters {
		out := make([]convops.Counters, 0, n)
		for c, to := range renumber {
			if to >= 0 {
				out = append(out, s[c])
			}
		}
		return out
	}
	for i := range r.slabs {
		r.slabs[i] = pack(r.slabs[i])
	}
	r.base = pack(r.base)
	return renumber
}

// byID holds items by id, in ascending id order, so that answers are written
// in order without sorting.
type byID[T any] struct {
	ids   []int64
	items []T
}

// get returns the item of id.
func (l *byID[T]) get(id int64) (T, bool) {
	if i, ok := slices.BinarySearch(l.ids, id); ok {
		return l.items[i], true
	}
	var zero T
	return zero, false
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
