// Package store keeps the in-memory aggregates that queries read: per account,
// per 5-minute bucket, per (skill, agent) cell, the three counts and three
// handling-time sums. It is a deterministic fold of the event log: applying the
// same batches in the same order always gives the same state, so every node and
// every restart agrees.
package store

import (
	"cmp"
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

type cellKey struct {
	skill    int64
	agent    int64
	hasAgent bool
}

type bucket struct {
	cells map[cellKey]*convops.Counters
}

type account struct {
	mu      sync.RWMutex // guards all fields
	buckets map[int64]*bucket
	// seen maps each eventId in retention to the bucket of its event; the key is
	// forgotten when that bucket leaves retention.
	seen         map[string]int64
	seenByBucket map[int64][]string
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
			buckets:      make(map[int64]*bucket),
			seen:         make(map[string]int64),
			seenByBucket: make(map[int64][]string),
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
		if _, dup := a.seen[e.EventID]; dup {
			out.Duplicates++
			continue
		}
		out.Accepted++
		idx := convops.BucketIndex(e.ResolvedAt)
		if idx < batchHorizon {
			continue
		}
		a.seen[e.EventID] = idx
		a.seenByBucket[idx] = append(a.seenByBucket[idx], e.EventID)
		bk := a.buckets[idx]
		if bk == nil {
			bk = &bucket{cells: make(map[cellKey]*convops.Counters)}
			a.buckets[idx] = bk
		}
		key := cellKey{skill: e.SkillID, agent: e.AgentID, hasAgent: e.HasAgent}
		c := bk.cells[key]
		if c == nil {
			c = new(convops.Counters)
			bk.cells[key] = c
		}
		c.AddEvent(e.ResolvedBy, e.HandlingTimeMs)
	}
	return out
}

// sweep drops every bucket and dedupe key older than horizon.
func (s *Store) sweep(horizon int64) {
	s.mu.RLock()
	accounts := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		accounts = append(accounts, a)
	}
	s.mu.RUnlock()
	for _, a := range accounts {
		a.mu.Lock()
		for idx := range a.buckets {
			if idx < horizon {
				delete(a.buckets, idx)
			}
		}
		for idx, ids := range a.seenByBucket {
			if idx < horizon {
				for _, id := range ids {
					delete(a.seen, id)
				}
				delete(a.seenByBucket, idx)
			}
		}
		a.mu.Unlock()
	}
}

// Stats describes what the store holds.
type Stats struct {
	Accounts   int
	Buckets    int
	Cells      int
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
		st.Buckets += len(a.buckets)
		for _, b := range a.buckets {
			st.Cells += len(b.cells)
		}
		st.DedupeKeys += len(a.seen)
		a.mu.RUnlock()
	}
	return st
}

// Query answers q over the window w.
func (s *Store) Query(q convops.Query, w convops.Window) convops.Result {
	var res convops.Result
	a := s.account(q.Account, false)
	if a == nil {
		res.Whole = newAccumulator(q).report()
		for _, span := range w.Intervals {
			res.Intervals = append(res.Intervals, convops.IntervalReport{TimestampMs: span.EndMs(), Report: res.Whole})
		}
		return res
	}

	a.mu.RLock()
	defer a.mu.RUnlock()
	whole := newAccumulator(q)
	for _, span := range w.Intervals {
		acc := newAccumulator(q)
		a.addSpan(span, acc, whole)
		res.Intervals = append(res.Intervals, convops.IntervalReport{TimestampMs: span.EndMs(), Report: acc.report()})
	}
	if w.Intervals == nil {
		a.addSpan(w.Whole, whole)
	}
	res.Whole = whole.report()
	return res
}

// addSpan adds every cell of the buckets of span to each accumulator.
func (a *account) addSpan(span convops.Span, accs ...*accumulator) {
	for idx := span.First; idx < span.End; idx++ {
		b := a.buckets[idx]
		if b == nil {
			continue
		}
		for key, c := range b.cells {
			for _, acc := range accs {
				acc.add(key, c)
			}
		}
	}
}

// accumulator sums cells into the elements a query asks for.
type accumulator struct {
	q      *convops.Query
	totals convops.Counters
	skills map[int64]*skillAcc
	agents map[int64]*convops.Counters
}

type skillAcc struct {
	totals convops.Counters
	agents map[int64]*convops.Counters
}

func newAccumulator(q convops.Query) *accumulator {
	return &accumulator{q: &q, skills: map[int64]*skillAcc{}, agents: map[int64]*convops.Counters{}}
}

func (acc *accumulator) add(key cellKey, c *convops.Counters) {
	acc.totals.Add(c)
	if acc.q.Skills.Given && acc.q.Skills.Contains(key.skill) {
		sk := acc.skills[key.skill]
		if sk == nil {
			sk = &skillAcc{agents: map[int64]*convops.Counters{}}
			acc.skills[key.skill] = sk
		}
		sk.totals.Add(c)
		if key.hasAgent {
			addTo(sk.agents, key.agent, c)
		}
	}
	if acc.q.Agents.Given && key.hasAgent && acc.q.Agents.Contains(key.agent) {
		addTo(acc.agents, key.agent, c)
	}
}

func addTo(m map[int64]*convops.Counters, id int64, c *convops.Counters) {
	sum := m[id]
	if sum == nil {
		sum = new(convops.Counters)
		m[id] = sum
	}
	sum.Add(c)
}

func (acc *accumulator) report() convops.Report {
	r := convops.Report{Totals: acc.totals}
	for id, sk := range acc.skills {
		r.Skills = append(r.Skills, convops.SkillMetrics{SkillID: id, Totals: sk.totals, Agents: sortedAgents(sk.agents)})
		r.SkillTotals.Add(&sk.totals)
	}
	slices.SortFunc(r.Skills, func(x, y convops.SkillMetrics) int { return cmp.Compare(x.SkillID, y.SkillID) })
	r.Agents = sortedAgents(acc.agents)
	for i := range r.Agents {
		r.AgentTotals.Add(&r.Agents[i].Counters)
	}
	return r
}

func sortedAgents(m map[int64]*convops.Counters) []convops.AgentMetrics {
	if len(m) == 0 {
		return nil
	}
	out := make([]convops.AgentMetrics, 0, len(m))
	for id, c := range m {
		out = append(out, convops.AgentMetrics{AgentID: id, Counters: *c})
	}
	slices.SortFunc(out, func(x, y convops.AgentMetrics) int { return cmp.Compare(x.AgentID, y.AgentID) })
	return out
}
