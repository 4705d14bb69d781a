// Package store keeps the in-memory aggregates that queries read: per account,
// per 5-minute bucket, the three counts and three handling-time sums of the
// account, of each skill, of each agent, and of each agent within each skill.
// Each is kept as a running total over the buckets (see series), so that any
// span of buckets is answered with one subtraction: a query costs what its
// answer holds, whatever its timeframe.
//
// The store is a deterministic fold of the event log: applying the same
// batches in the same order always gives the same state, so every node and
// every restart agrees.
package store

import (
	"slices"
	"sync"

	"github.com/convops/convops"
)

// Store holds the aggregates of every account.
//
// Locking: mu guards the accounts map only; each account has its own lock, so a
// query of one account never waits for the fold of another. Apply is called by
// one goroutine at a time (the fold); queries run concurrently with it.
type Store struct {
	mu       sync.RWMutex
	accounts map[string]*account

	// Fields below belong to the fold goroutine.
	clock   int64 // the largest batch Now seen: the log's own clock
	horizon int64 // RetentionHorizon(clock) at the last sweep
}

// New returns an empty store.
func New() *Store {
	return &Store{accounts: make(map[string]*account)}
}

type account struct {
	mu sync.RWMutex // guards all fields

	total  *series       // nil until the first event
	skills byID[*skill]  // ascending skill id
	agents byID[*series] // each agent over all its skills

	// seen holds the key of each eventId in retention; seenByBucket lists them
	// by the bucket of their event, and a key is forgotten when that bucket
	// leaves retention.
	seen         map[dedupeKey]struct{}
	seenByBucket map[int64][]dedupeKey
}

// skill is the series of one skill and of each agent within it.
type skill struct {
	total  *series
	agents byID[*series]
}

func (s *Store) account(id string, create bool) *account {
	s.mu.RLock()
	a := s.accounts[id]
	s.mu.RUnlock()
	if a != nil || !create {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a = s.accounts[id]; a == nil {
		a = &account{
			seen:         make(map[dedupeKey]struct{}),
			seenByBucket: make(map[int64][]dedupeKey),
		}
		s.accounts[id] = a
	}
	return a
}

// Apply folds one batch into the store. The first occurrence of an eventId in
// log order counts; later ones are duplicates.
//
// Retention follows the log's own clocks, never the wall clock, so that a replay
// makes the same decisions as the live fold. An event older than the horizon of
// its batch's Now is acknowledged but not stored: no query at that time could
// reach it (a node never logs one; only a foreign publisher could). Buckets and
// dedupe keys are dropped when they fall behind the horizon of the log's clock,
// the largest Now seen so far. Comparing each event with its own batch keeps a
// server run with --now in the past (a demo, a replay) from silently dropping
// what it accepted after a log that had reached a later time.
func (s *Store) Apply(b convops.Batch) convops.Outcome {
	if b.Now > s.clock {
		s.clock = b.Now
		if h := convops.RetentionHorizon(s.clock); h > s.horizon {
			s.horizon = h
			s.sweep(h)
		}
	}
	var out convops.Outcome
	batchHorizon := convops.RetentionHorizon(b.Now)
	a := s.account(b.Account, true)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range b.Events {
		e := &b.Events[i]
		// One map operation both tests and records the key: the fold's
		// hottest line.
		key := keyOf(e.EventID)
		before := len(a.seen)
		a.seen[key] = struct{}{}
		if len(a.seen) == before {
			out.Duplicates++
			continue
		}
		out.Accepted++
		idx := convops.BucketIndex(e.ResolvedAt)
		if idx < batchHorizon || !a.add(idx, e) {
			delete(a.seen, key) // not stored: no key to keep
			continue
		}
		a.seenByBucket[idx] = append(a.seenByBucket[idx], key)
	}
	return out
}

// add counts e in bucket idx of every series it belongs to. It reports false,
// counting nothing, when idx is older than the account's series can hold (more
// than a day before the newest event of the account).
func (a *account) add(idx int64, e *convops.Event) bool {
	if a.total == nil {
		a.total = newSeries(idx)
	}
	if !a.total.add(idx, e.ResolvedBy, e.HandlingTimeMs) {
		return false
	}
	// The account's series is the first to see every bucket, so the others,
	// whose newest bucket is never newer, always have room for idx.
	fresh := func() *series { return newSeries(idx) }
	sk := a.skills.getOrAdd(e.SkillID, func() *skill { return &skill{total: newSeries(idx)} })
	sk.total.add(idx, e.ResolvedBy, e.HandlingTimeMs)
	if e.HasAgent {
		sk.agents.getOrAdd(e.AgentID, fresh).add(idx, e.ResolvedBy, e.HandlingTimeMs)
		a.agents.getOrAdd(e.AgentID, fresh).add(idx, e.ResolvedBy, e.HandlingTimeMs)
	}
	return true
}

// sweep drops every series and dedupe key older than horizon.
func (s *Store) sweep(horizon int64) {
	s.mu.RLock()
	accounts := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		accounts = append(accounts, a)
	}
	s.mu.RUnlock()
	for _, a := range accounts {
		a.mu.Lock()
		a.sweep(horizon)
		a.mu.Unlock()
	}
}

func (a *account) sweep(horizon int64) {
	if a.total != nil && a.total.latest < horizon {
		a.total = nil
	}
	current := func(s *series) bool { return s.latest >= horizon }
	a.agents.keepIf(current)
	a.skills.keepIf(func(sk *skill) bool {
		sk.agents.keepIf(current)
		return current(sk.total)
	})

	for idx, ids := range a.seenByBucket {
		if idx < horizon {
			for _, id := range ids {
				delete(a.seen, id)
			}
			delete(a.seenByBucket, idx)
		}
	}
}

// Stats describes what the store holds.
type Stats struct {
	Accounts   int
	Series     int // running totals: accounts, skills, agents, agents within skills
	DedupeKeys int
}

// Stats counts what the store holds.
func (s *Store) Stats() Stats {
	var st Stats
	s.mu.RLock()
	defer s.mu.RUnlock()
	st.Accounts = len(s.accounts)
	for _, a := range s.accounts {
		a.mu.RLock()
		if a.total != nil {
			st.Series++
		}
		st.Series += len(a.agents.items) + len(a.skills.items)
		for _, sk := range a.skills.items {
			st.Series += len(sk.agents.items)
		}
		st.DedupeKeys += len(a.seen)
		a.mu.RUnlock()
	}
	return st
}

// Query answers q over the window w. Its cost is that of the answer: one
// subtraction per number reported, whatever the timeframe.
func (s *Store) Query(q convops.Query, w convops.Window) convops.Result {
	a := s.account(q.Account, false)
	if a != nil {
		a.mu.RLock()
		defer a.mu.RUnlock()
	}
	// The intervals, newest first, then the whole range. The intervals tile
	// the range, so they share their bounds: the running totals are read
	// once at each bound, series by series, which keeps each series' memory
	// hot while all of its numbers are taken.
	spans := append(slices.Clone(w.Intervals), w.Whole)
	reports := a.reports(&q, spans)
	res := convops.Result{Whole: reports[len(spans)-1]}
	for i, span := range w.Intervals {
		res.Intervals = append(res.Intervals, convops.IntervalReport{TimestampMs: span.EndMs(), Report: reports[i]})
	}
	return res
}

// reports computes the elements q asks for over each span. A nil account has
// no data.
func (a *account) reports(q *convops.Query, spans []convops.Span) []convops.Report {
	r := make([]convops.Report, len(spans))
	if a == nil || a.total == nil {
		return r
	}
	sums := make([]convops.Counters, len(spans))
	a.total.sums(spans, sums)
	for i := range r {
		r[i].Totals = sums[i]
	}
	if q.Skills.Given {
		ids := q.Skills.IDs
		if q.Skills.All {
			ids = a.skills.ids
		}
		for _, id := range ids {
			sk := a.skills.get(id)
			if sk == nil {
				continue
			}
			sk.total.sums(spans, sums)
			with := make([]*convops.SkillMetrics, len(spans)) // where the skill has data
			any := false
			for i := range r {
				if !sums[i].IsZero() {
					r[i].SkillTotals.Add(&sums[i])
					r[i].Skills = append(r[i].Skills, convops.SkillMetrics{SkillID: id, Totals: sums[i]})
					with[i] = &r[i].Skills[len(r[i].Skills)-1]
					any = true
				}
			}
			if !any {
				continue
			}
			for j, s := range sk.agents.items {
				s.sums(spans, sums)
				for i := range r {
					if with[i] != nil && !sums[i].IsZero() {
						with[i].Agents = append(with[i].Agents, convops.AgentMetrics{AgentID: sk.agents.ids[j], Counters: sums[i]})
					}
				}
			}
		}
	}
	if q.Agents.Given {
		add := func(id int64, s *series) {
			s.sums(spans, sums)
			for i := range r {
				if !sums[i].IsZero() {
					r[i].AgentTotals.Add(&sums[i])
					r[i].Agents = append(r[i].Agents, convops.AgentMetrics{AgentID: id, Counters: sums[i]})
				}
			}
		}
		if q.Agents.All {
			for j, s := range a.agents.items {
				add(a.agents.ids[j], s)
			}
		} else {
			for _, id := range q.Agents.IDs {
				if s := a.agents.get(id); s != nil {
					add(id, s)
				}
			}
		}
	}
	return r
}
