package store

import (
	"fmt"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

// Apply folds one batch into the store. The first occurrence of an
// (account, eventId) in the order batches are applied counts; later ones are
// duplicates. (A request logged in parts is applied when its last part is
// read, so a request logged between its parts comes before it.) A batch
// that would give its account more distinct skills or agents than the
// bounds allow is refused whole: nothing of it is stored, and the error says
// which event passes which bound.
//
// Retention follows the log's own clocks, never the wall clock, so that a
// replay makes the same decisions as the live fold. An event older than the
// horizon of its batch's Now is acknowledged but not stored: no query at
// that time could reach it (a node never logs one; only a foreign publisher
// could). Buckets and dedupe keys are dropped when they fall behind the
// horizon of the log's clock, the largest clockOf of the batches so far;
// one stored behind
// that horizon (a batch of a server run with --now in the past, after a log
// that had reached a later time) is kept until the clock moves on, so that
// what was accepted is not silently dropped at once.
func (s *Store) Apply(b convops.Batch) (convops.Outcome, error) {
	s.fold.Lock()
	defer s.fold.Unlock()
	s.advance(clockOf(b))
	a := s.account(b.Account, true)
	a.mu.Lock()
	defer a.mu.Unlock()
	s.captureAccountLocked(a)
	s.sweepLocked(a)

	s.hashKeysLocked(b)
	batchHorizon := convops.RetentionHorizon(b.Now)
	if err := s.checkBoundsLocked(a, b, batchHorizon, s.horizon); err != nil {
		s.releaseLocked(a)
		return convops.Outcome{}, err
	}

	// The fold waits on memory more than it computes: each event touches a
	// slot of the dedupe index and four series, anywhere in memory. Finding
	// them first, for a window of events, lets the processor fetch them side
	// by side, as no lookup depends on another; the updates that follow,
	// which do depend on each other, then find their memory in cache. The
	// window is small enough for what it fetches to stay in cache.
	var out convops.Outcome
	var tooOld map[dedupeKey]struct{} // too old to store; a node never logs one
	for start := 0; start < len(b.Events); start += foldWindow {
		events := b.Events[start:min(len(b.Events), start+foldWindow)]
		keys := s.keys[start : start+len(events)]
		s.sink += s.dedupe.touch(keys)
		s.where = a.locateLocked(events, s.where[:0])
		for i := range events {
			e := &events[i]
			bucket, ok := storable(e, batchHorizon)
			if !ok {
				// Acknowledged, not stored: no key to keep, but a repeat
				// within the batch is still a duplicate.
				if _, again := tooOld[keys[i]]; again || s.dedupe.contains(keys[i], s.horizon) {
					out.Duplicates++
					continue
				}
				if tooOld == nil {
					tooOld = make(map[dedupeKey]struct{})
				}
				tooOld[keys[i]] = struct{}{}
				out.Accepted++
				continue
			}
			if !s.dedupe.insert(keys[i], max(bucket, s.horizon), s.horizon) {
				out.Duplicates++
				continue
			}
			out.Accepted++
			a.add(bucket, e, s.where[i])
		}
	}
	a.settle()
	if out.Accepted > 0 {
		if b.LogSeq > 0 {
			a.version = b.LogSeq
		} else {
			s.changes++
			a.version = s.changes
		}
	}
	s.releaseLocked(a)
	s.publishDedupeStats()
	return out, nil
}

// Version returns a number that changes whenever a batch adds data to the
// account (0 when the store holds nothing of it). Answers about the account
// can only have changed, for a window that has not moved, when it has.
//
// It is the log sequence of that batch, which every node folding the log
// gives alike, snapshots keeping it, so that a node can ask another
// whether an account changed (an account loaded from a snapshot of the
// first format has the snapshot's sequence until a batch adds to it). A
// batch not read from a log (a test's) takes the count of such batches
// instead: a version never repeats, even for an account dropped and made
// again.
func (s *Store) Version(account string) uint64 {
	a := s.account(account, false)
	if a == nil {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.version
}

// publishDedupeStats copies the size of the dedupe index, which belongs to
// the fold, where Stats can read it.
func (s *Store) publishDedupeStats() {
	s.dedupeKeys.Store(int64(s.dedupe.len()))
	s.dedupeBytes.Store(int64(s.dedupe.bytes()))
}

// Check tells whether Apply would refuse b if it were applied now, and why.
// A node checks a request before it logs it, so that a request refused by a
// bound does not reach the log; Apply decides again, as other requests may
// be applied in between. Check changes nothing: the horizon that b's Now
// would move the log's clock to is taken into account, not moved to.
func (s *Store) Check(b convops.Batch) error {
	s.fold.Lock()
	defer s.fold.Unlock()
	a := s.account(b.Account, false)
	if a == nil {
		a = &account{} // no data: every id is new
	} else {
		a.mu.RLock()
		defer a.mu.RUnlock()
	}
	if !a.mayPassBounds(&s.opts, len(b.Events)) {
		return nil
	}
	s.hashKeysLocked(b)
	h := max(s.horizon, horizonOf(clockOf(b)))
	return s.checkBoundsLocked(a, b, convops.RetentionHorizon(b.Now), h)
}

// LogClockSlack is how far the fold's clock may run ahead of the time the
// log stored a batch: the clocks of nodes and of the log's servers agree
// within it, or the nodes refuse writes.
const LogClockSlack = 60_000

// clockOf is the time a batch moves the log's clock to: its Now, but never
// more than LogClockSlack past the time the log stored it. A batch written by
// a node whose clock was a day ahead (a mistyped --now, a virtual machine
// resumed with a stale clock) thus moves the clock no further than the log
// shows time passing, and every replay decides alike, as the log's times are
// in the log.
func clockOf(b convops.Batch) int64 {
	if b.LogTime > 0 {
		return min(b.Now, b.LogTime+LogClockSlack)
	}
	return b.Now
}

// horizonOf is the retention horizon of a clock at now, as a bucket of the
// store.
func horizonOf(now int64) uint32 {
	return uint32(min(max(convops.RetentionHorizon(now), 0), maxBucket))
}

// hashKeysLocked computes the dedupe key of every event of b into s.keys.
// Lock of the fold should be held.
func (s *Store) hashKeysLocked(b convops.Batch) {
	s.keys = s.keys[:0]
	for i := range b.Events {
		var k dedupeKey
		k, s.scratch = keyOf(s.scratch, b.Account, b.Events[i].EventID)
		s.keys = append(s.keys, k)
	}
}

// mayPassBounds reports whether a batch of n events could give a more ids
// than the bounds allow. Most batches cannot, and skip the exact check.
func (a *account) mayPassBounds(o *Options, n int) bool {
	return a.skills.len()+n > o.MaxSkillsPerAccount || a.agents.len()+n > o.MaxAgentsPerAccount
}

// foldWindow is how many events Apply locates before it counts them.
const foldWindow = 128

// maxBucket is the largest bucket index the store holds: the dedupe index
// keeps 1 + a bucket in 32 bits, and 2³² − 2 buckets of 5 minutes reach
// beyond the year 42,000.
const maxBucket = 1<<32 - 2

// storable reports whether an event of a batch with the given horizon is
// stored, and in which bucket.
func storable(e *convops.Event, batchHorizon int64) (uint32, bool) {
	idx := convops.BucketIndex(e.ResolvedAt)
	if idx < batchHorizon || idx < 1 || idx > maxBucket {
		return 0, false // bucket 0 (1970) marks an empty series
	}
	return uint32(idx), true
}

// checkBoundsLocked refuses a batch that would give account a more distinct
// skills or agents with data than the bounds allow, once the log's clock is
// at horizon h. It counts what Apply would store: events not already held,
// in retention, each id once. Locks of the fold and of a (for reading at
// least) should be held; a is settled; s.keys holds the keys of b.
func (s *Store) checkBoundsLocked(a *account, b convops.Batch, batchHorizon int64, h uint32) error {
	if !a.mayPassBounds(&s.opts, len(b.Events)) {
		return nil
	}
	// The ids a holds at h: all of its ids once it has been swept to h;
	// before that, those whose newest data is not behind h, which the sweep
	// to h keeps.
	swept := a.swept >= h
	heldSkill := func(id int64) bool {
		sk := a.skills.get(id)
		return sk != nil && (swept || sk.total.head.bucket >= h)
	}
	heldAgent := func(id int64) bool {
		ag := a.agents.get(id)
		return ag != nil && (swept || ag.head.bucket >= h)
	}
	skills, agents := a.skills.len(), a.agents.len()
	if !swept {
		skills, agents = 0, 0
		for _, id := range a.skills.ids {
			if heldSkill(id) {
				skills++
			}
		}
		for _, id := range a.agents.ids {
			if heldAgent(id) {
				agents++
			}
		}
	}
	seen := make(map[dedupeKey]struct{})
	newSkills := make(map[int64]struct{})
	newAgents := make(map[int64]struct{})
	for i := range b.Events {
		e := &b.Events[i]
		if _, ok := storable(e, batchHorizon); !ok {
			continue
		}
		k := s.keys[i]
		if _, dup := seen[k]; dup || s.dedupe.contains(k, h) {
			continue
		}
		seen[k] = struct{}{}
		if _, known := newSkills[e.SkillID]; !known && !heldSkill(e.SkillID) {
			newSkills[e.SkillID] = struct{}{}
			if skills+len(newSkills) > s.opts.MaxSkillsPerAccount {
				return boundError(i, convops.FieldSkillID, e.SkillID, "skills", s.opts.MaxSkillsPerAccount, FlagMaxSkills)
			}
		}
		if !e.HasAgent {
			continue
		}
		if _, known := newAgents[e.AgentID]; !known && !heldAgent(e.AgentID) {
			newAgents[e.AgentID] = struct{}{}
			if agents+len(newAgents) > s.opts.MaxAgentsPerAccount {
				return boundError(i, convops.FieldAgentID, e.AgentID, "agents", s.opts.MaxAgentsPerAccount, FlagMaxAgents)
			}
		}
	}
	return nil
}

func boundError(index int, field string, id int64, what string, limit int, flag string) error {
	return &convops.Error{
		Code:      convops.EInvalid,
		Parameter: "events",
		Message: fmt.Sprintf("event %d would give the account more than %d distinct %s in the last 24 hours (%s); nothing was stored",
			index, limit, what, flag),
		Items: []convops.ItemError{{
			Index: index, Field: field,
			Message: fmt.Sprintf("%s: %d would be %s number %d of the account in the last 24 hours; at most %d are allowed (%s)",
				field, id, what[:len(what)-1], limit+1, limit, flag),
		}},
	}
}

// seriesAt says where the series of an event are in its account's sorted
// lists, -1 for those not found (new, or added by this batch).
type seriesAt struct {
	skill, pair, agent int32
}

// locateLocked finds the series of each event, reading the head of each so that
// it is in cache when the event is counted. Lock of a should be held.
func (a *account) locateLocked(events []convops.Event, where []seriesAt) []seriesAt {
	var sink uint32
	skillIDs, agentIDs := a.skills.ids[:a.skills.sorted], a.agents.ids[:a.agents.sorted]
	for i := range events {
		e := &events[i]
		w := seriesAt{-1, -1, -1}
		if si := find(skillIDs, e.SkillID); si >= 0 {
			w.skill = int32(si)
			sk := &a.skills.items[si]
			sink += sk.total.touch()
			if e.HasAgent {
				if pi := find(sk.agents.ids[:sk.agents.sorted], e.AgentID); pi >= 0 {
					w.pair = int32(pi)
					sink += sk.agents.items[pi].touch()
				}
			}
		}
		if e.HasAgent {
			if ai := find(agentIDs, e.AgentID); ai >= 0 {
				w.agent = int32(ai)
				sink += a.agents.items[ai].touch()
			}
		}
		where = append(where, w)
	}
	a.sink += sink
	return where
}

// add counts e in bucket b of every series it belongs to, found at w (the
// sorted parts of the lists do not move while a batch is folded).
// Lock of a should be held.
func (a *account) add(b uint32, e *convops.Event, w seriesAt) {
	held := a.heldBy
	bin := histogram.Bin(e.HandlingTimeMs)
	a.total.add(b, e.ResolvedBy, e.HandlingTimeMs, bin, held)
	var sk *skill
	if w.skill >= 0 {
		sk = &a.skills.items[w.skill]
	} else {
		sk, _ = a.skills.getOrAdd(e.SkillID)
	}
	sk.total.add(b, e.ResolvedBy, e.HandlingTimeMs, bin, held)
	if !e.HasAgent {
		return
	}
	var inSkill *series
	if w.pair >= 0 {
		inSkill = &sk.agents.items[w.pair]
	} else {
		wasSettled := sk.agents.settled()
		var added bool
		inSkill, added = sk.agents.getOrAdd(e.AgentID)
		if added && wasSettled {
			a.unsettled = append(a.unsettled, e.SkillID)
		}
	}
	inSkill.add(b, e.ResolvedBy, e.HandlingTimeMs, bin, held)
	var agent *series
	if w.agent >= 0 {
		agent = &a.agents.items[w.agent]
	} else {
		agent, _ = a.agents.getOrAdd(e.AgentID)
	}
	agent.add(b, e.ResolvedBy, e.HandlingTimeMs, bin, held)
}

// settle merges the ids added by a batch into the sorted lists that queries
// read. Lock of a should be held.
func (a *account) settle() {
	a.skills.settle()
	a.agents.settle()
	for _, id := range a.unsettled {
		a.skills.get(id).agents.settle()
	}
	a.unsettled = a.unsettled[:0]
}
