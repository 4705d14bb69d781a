//go:build chunkedseries

package store

import (
	"github.com/convops/convops"
)

// The second candidate for series, kept behind a build tag for comparison
// (go test -tags chunkedseries): running totals in chunks of 16 buckets,
// each allocated when one of its buckets gets data. Lookups are one step
// into a chunk; a series costs a chunk (about 700 bytes) per 80 minutes
// with data.

const chunkBuckets = 16

type chunk struct {
	first uint32 // first bucket, a multiple of chunkBuckets
	cum   [chunkBuckets]totals
}

// totals is an entry without its bucket.
type totals struct {
	count    [3]uint32
	handling [3]int64
}

type series struct {
	chunks []*chunk // ascending
	oldest uint32   // first bucket kept
	latest uint32   // newest bucket with data; 0 when empty
	base   totals   // the totals before oldest, dropped by trim
}

const (
	entryBytes  = 40
	seriesBytes = 32
)

func (t *totals) addEvent(by convops.ResolvedBy, handlingMs int64) {
	t.count[by]++
	t.handling[by] += handlingMs
}

func (s *series) empty() bool { return s.latest == 0 }

func (s *series) buckets() int { return len(s.chunks) * chunkBuckets }

func (s *series) first() uint32 { return s.oldest }

func (s *series) touch() uint32 {
	if n := len(s.chunks); n > 0 {
		return s.chunks[n-1].first
	}
	return 0
}

// chunkIndex returns how many chunks start at or before x.
func (s *series) chunkIndex(x uint32) int {
	lo, hi := 0, len(s.chunks)
	for lo < hi {
		mid := (lo + hi) / 2
		if s.chunks[mid].first <= x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (s *series) add(b uint32, by convops.ResolvedBy, handlingMs int64) {
	start := b - b%chunkBuckets
	i := s.chunkIndex(b)
	if i == 0 || s.chunks[i-1].first != start {
		c := &chunk{first: start}
		if i > 0 {
			prev := s.chunks[i-1].cum[chunkBuckets-1]
			for k := range c.cum {
				c.cum[k] = prev
			}
		}
		s.chunks = append(s.chunks, nil)
		copy(s.chunks[i+1:], s.chunks[i:])
		s.chunks[i] = c
		i++
	}
	c := s.chunks[i-1]
	for k := b - start; k < chunkBuckets; k++ {
		c.cum[k].addEvent(by, handlingMs)
	}
	for _, later := range s.chunks[i:] {
		for k := range later.cum {
			later.cum[k].addEvent(by, handlingMs)
		}
	}
	if s.empty() || b < s.oldest {
		s.oldest = b
	}
	s.latest = max(s.latest, b)
}

// upTo returns the running total up to and including bucket x.
func (s *series) upTo(x int64) *totals {
	if s.empty() {
		return nil
	}
	if x < int64(s.oldest) {
		return &s.base
	}
	if x > int64(s.latest) {
		x = int64(s.latest)
	}
	i := s.chunkIndex(uint32(x))
	if i == 0 {
		return nil
	}
	c := s.chunks[i-1]
	return &c.cum[min(uint32(x)-c.first, chunkBuckets-1)]
}

func (s *series) sums(spans []convops.Span, out []convops.Counters) {
	for i, span := range spans {
		out[i] = differenceTotals(s.upTo(span.End-1), s.upTo(span.First-1))
	}
}

func differenceTotals(end, start *totals) convops.Counters {
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

func (s *series) trim(horizon uint32) bool {
	if s.empty() {
		return true
	}
	if s.latest < horizon {
		*s = series{}
		return true
	}
	// Drop whole chunks that end before the horizon; what was before the
	// horizon is the base of the rest.
	if horizon > s.oldest {
		if b := s.upTo(int64(horizon) - 1); b != nil {
			s.base = *b
		}
	}
	k := 0
	for k < len(s.chunks) && s.chunks[k].first+chunkBuckets <= horizon {
		k++
	}
	if k > 0 {
		s.chunks = append(s.chunks[:0], s.chunks[k:]...)
		clear(s.chunks[len(s.chunks):cap(s.chunks)])
	}
	s.oldest = max(s.oldest, horizon)
	return false
}

func (s *series) bytes() int { return cap(s.chunks)*8 + len(s.chunks)*704 }
