package store

import (
	"sync"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

// tailer computes the tails (percentiles and counts within thresholds) of
// the metrics objects of one query, from the histograms of their series.
// Objects without data in a span get none: the answer writes that as
// having no conversation.
type tailer struct {
	q     *convops.Query
	spans []convops.Span
	m     *histogram.Merger
	arena tailArena
	// Sums over the listed skills and the listed agents, per span, for the
	// totals of those lists.
	skillSums, agentSums []*histogram.Merger
}

var mergers = sync.Pool{New: func() any { return histogram.NewMerger() }}

func newTailer(q *convops.Query, spans []convops.Span) *tailer {
	if !q.WantsTail() {
		return nil
	}
	return &tailer{q: q, spans: spans, m: mergers.Get().(*histogram.Merger), arena: tailArena{np: len(q.Percentiles), nt: len(q.Thresholds)}}
}

// sumsFor returns mergers for the sums of a list, one per span.
func (t *tailer) sumsFor() []*histogram.Merger {
	sums := make([]*histogram.Merger, len(t.spans))
	for i := range sums {
		sums[i] = mergers.Get().(*histogram.Merger)
	}
	return sums
}

// release gives the mergers back.
func (t *tailer) release() {
	if t == nil {
		return
	}
	mergers.Put(t.m)
	for _, sums := range [][]*histogram.Merger{t.skillSums, t.agentSums} {
		for _, m := range sums {
			m.Reset()
			mergers.Put(m)
		}
	}
}

// of sets the tail of counters[i], the sums of sr over span i, for each
// span with data; and adds sr's histograms into sums, when given.
func (t *tailer) of(sr *series, counters []convops.Counters, sums []*histogram.Merger) {
	for i, span := range t.spans {
		if counters[i].IsZero() {
			continue
		}
		if sums != nil {
			sr.addSpan(span, t.m, sums[i])
		} else {
			sr.addSpan(span, t.m)
		}
		counters[i].Tail = t.read(t.m)
	}
}

// read returns the tail of what m holds, and empties it.
func (t *tailer) read(m *histogram.Merger) *convops.Tail {
	if m.Empty() {
		return nil
	}
	tail := t.arena.new()
	m.TailReset(t.q, tail)
	return tail
}

// tailArena hands out tails carved from larger arrays: an answer may hold
// hundreds of thousands.
type tailArena struct {
	np, nt int
	tails  []convops.Tail
	ps     [][4]int64
	ws     [][3]int64
}

const arenaChunk = 256

func (a *tailArena) new() *convops.Tail {
	if len(a.tails) == 0 {
		a.tails = make([]convops.Tail, arenaChunk)
		a.ps = make([][4]int64, arenaChunk*a.np)
		a.ws = make([][3]int64, arenaChunk*a.nt)
	}
	t := &a.tails[0]
	a.tails = a.tails[1:]
	t.Percentiles, a.ps = a.ps[:a.np:a.np], a.ps[a.np:]
	t.Within, a.ws = a.ws[:a.nt:a.nt], a.ws[a.nt:]
	return t
}

// tailBytes is what a tail takes in an answer: in memory, and in JSON (a
// percentile's four keys, a threshold's five, each name and number).
func tailBytes(q *convops.Query) (memory, json int64) {
	np, nt := int64(len(q.Percentiles)), int64(len(q.Thresholds))
	return 48 + np*32 + nt*24, np*4*64 + nt*(4*56+40)
}
