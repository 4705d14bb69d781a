package store

import (
	"github.com/convops/convops"
)

// advance moves the log's clock to now when it is later; when that moves
// the retention horizon, dedupe keys behind it die at once, and the accounts
// whose oldest data is behind it are swept.
func (s *Store) advance(now int64) {
	if now <= s.clock || now > convops.MaxTimeMs {
		return // a clock past the year 9999 is corrupt, not the future
	}
	s.clock = now
	h := convops.RetentionHorizon(now)
	if h <= int64(s.horizon) {
		return
	}
	s.horizon = horizonOf(now)
	s.dedupe.expire(s.horizon)
	s.publishDedupeStats()
	for bucket, accounts := range s.expiry {
		if bucket >= s.horizon {
			continue
		}
		delete(s.expiry, bucket)
		for _, a := range accounts {
			if a.queued != bucket {
				continue // listed again since, under another bucket
			}
			a.mu.Lock()
			s.captureAccountLocked(a)
			s.sweepLocked(a)
			s.releaseLocked(a)
			a.mu.Unlock()
		}
	}
}

// sweepLocked drops the data of a behind the horizon, and the series left empty.
// Lock of a should be held.
func (s *Store) sweepLocked(a *account) {
	if a.swept >= s.horizon {
		return
	}
	a.swept = s.horizon
	if a.total.empty() || a.total.first() >= s.horizon {
		return
	}
	h := s.horizon
	held := a.heldBy
	a.total.trim(h, held)
	keep := func(sr *series) bool { return !sr.trim(h, held) }
	a.agents.keepIf(keep)
	a.skills.keepIf(func(sk *skill) bool {
		sk.agents.keepIf(keep)
		return !sk.total.trim(h, held)
	})
}

// releaseLocked lists a under its oldest bucket, or forgets it when it holds no
// data. Lock of a should be held.
func (s *Store) releaseLocked(a *account) {
	if a.total.empty() {
		s.mu.Lock()
		if s.accounts[a.id] == a {
			delete(s.accounts, a.id)
		}
		s.mu.Unlock()
		a.queued = 0
		return
	}
	if oldest := a.total.first(); oldest != a.queued {
		a.queued = oldest
		s.expiry[oldest] = append(s.expiry[oldest], a)
	}
}
