package store

import (
	"github.com/convops/convops"
)

// series holds the running totals of one aggregate (an account, a skill, an
// agent, or an agent within a skill), one entry per bucket that has data, in
// ascending bucket order. An entry holds the totals of every bucket up to and
// including its own, so the total over any span of buckets is the difference
// of two entries: a query costs the same for 5 minutes as for 24 hours.
//
// Only buckets with data have an entry: a quiet agent with one conversation
// costs one entry (40 bytes), not a day of buckets. Finding the entry of a
// bucket is a binary search narrowed by the fact that buckets are distinct
// integers: a dense series finds it in one step, and the bounds that queries
// read most (the newest bucket, and the oldest of a 24-hour window) in none.
type series struct {
	entries []entry
}

// entry is the running total of a series up to and including bucket.
//
// Counts are kept modulo 2³²: the difference of two entries, taken modulo
// 2³², is exact whenever the true count of the span is below 2³² (4.29
// billion conversations of one account in 24 hours), and 4 bytes are saved
// per count. Handling times are summed in 64 bits.
type entry struct {
	bucket   uint32 // bucket index; fits until the year 42,000
	count    [3]uint32
	handling [3]int64
}

// entryBytes is the size of an entry, for the store's accounting.
const entryBytes = 40

// add counts an event in bucket b. It costs one append when b is the newest
// bucket of the series, and one update per later entry when b is older.
func (s *series) add(b uint32, by convops.ResolvedBy, handlingMs int64) {
	n := len(s.entries)
	if n == 0 || b > s.entries[n-1].bucket {
		var e entry
		if n > 0 {
			e = s.entries[n-1]
		}
		e.bucket = b
		e.count[by]++
		e.handling[by] += handlingMs
		s.entries = append(s.entries, e)
		return
	}
	i := s.search(b)
	if i == 0 || s.entries[i-1].bucket != b {
		// A new bucket before the newest: insert an entry holding the totals
		// before it, then count the event in it and every later entry.
		var e entry
		if i > 0 {
			e = s.entries[i-1]
		}
		e.bucket = b
		s.entries = append(s.entries, entry{})
		copy(s.entries[i+1:], s.entries[i:])
		s.entries[i] = e
	} else {
		i--
	}
	for j := i; j < len(s.entries); j++ {
		s.entries[j].count[by]++
		s.entries[j].handling[by] += handlingMs
	}
}

// search returns how many entries have a bucket <= x.
func (s *series) search(x uint32) int {
	n := len(s.entries)
	if n == 0 || x < s.entries[0].bucket {
		return 0
	}
	last := s.entries[n-1].bucket
	if x >= last {
		return n
	}
	// The answer p has entries[p-1].bucket <= x < entries[p].bucket. The
	// entries from p on hold distinct buckets in (x, last], and those before
	// p distinct buckets in [first, x]: that bounds p from both sides.
	lo := max(1, n-int(last-x))
	hi := min(n-1, int(x-s.entries[0].bucket)+1)
	// Invariant: entries[lo-1].bucket <= x, entries[hi].bucket > x.
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
	if x < 0 {
		return nil
	}
	if x > maxBucket {
		x = maxBucket
	}
	if p := s.search(uint32(x)); p > 0 {
		return &s.entries[p-1]
	}
	return nil
}

// maxBucket is the largest bucket index an entry can hold.
const maxBucket = 1<<32 - 1

// sums writes the total over each span into out.
func (s *series) sums(spans []convops.Span, out []convops.Counters) {
	for i, span := range spans {
		out[i] = difference(s.upTo(span.End-1), s.upTo(span.First-1))
	}
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

// trim drops the entries of buckets before horizon and reports whether the
// series is empty afterwards. The remaining entries are rebased so that they
// count from the horizon, and moved to the front of their array so that the
// array is reused as the series grows again.
func (s *series) trim(horizon uint32) (empty bool) {
	k := 0
	for k < len(s.entries) && s.entries[k].bucket < horizon {
		k++
	}
	if k == 0 {
		return len(s.entries) == 0
	}
	base := s.entries[k-1]
	n := copy(s.entries, s.entries[k:])
	s.entries = s.entries[:n]
	for j := range s.entries {
		e := &s.entries[j]
		for r := range e.count {
			e.count[r] -= base.count[r]
			e.handling[r] -= base.handling[r]
		}
	}
	if n == 0 {
		s.entries = nil
		return true
	}
	// Give back an array that is mostly empty, as a series that went quiet
	// would otherwise keep the size of its busiest day.
	if cap(s.entries) > 8 && n < cap(s.entries)/4 {
		s.entries = append([]entry(nil), s.entries...)
	}
	return false
}

// first returns the oldest bucket of a non-empty series.
func (s *series) first() uint32 { return s.entries[0].bucket }

// bytes is the memory the series' entries take.
func (s *series) bytes() int { return cap(s.entries) * entryBytes }
