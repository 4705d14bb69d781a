package httpapi

import (
	"sync"
	"sync/atomic"
)

// inflightLimiter caps the requests served at once, per account and in all.
// A request over a cap is refused at once (429), never queued: a wallboard
// polling too hard should back off, not pile up behind itself.
type inflightLimiter struct {
	perAccount int
	global     int64

	mu       sync.Mutex // guards accounts
	accounts map[string]int
	total    atomic.Int64

	// refused counts requests turned away, for logs and metrics.
	refused atomic.Uint64
}

func newInflightLimiter(perAccount, global int) *inflightLimiter {
	return &inflightLimiter{perAccount: perAccount, global: int64(global), accounts: make(map[string]int)}
}

// acquire takes a slot for account; ok is false when a cap is reached. A
// successful acquire must be followed by release.
func (l *inflightLimiter) acquire(account string) bool {
	if l.total.Add(1) > l.global {
		l.total.Add(-1)
		l.refused.Add(1)
		return false
	}
	l.mu.Lock()
	n := l.accounts[account]
	if n >= l.perAccount {
		l.mu.Unlock()
		l.total.Add(-1)
		l.refused.Add(1)
		return false
	}
	l.accounts[account] = n + 1
	l.mu.Unlock()
	return true
}

func (l *inflightLimiter) release(account string) {
	l.mu.Lock()
	if n := l.accounts[account]; n <= 1 {
		delete(l.accounts, account) // keep the map as small as the accounts in flight
	} else {
		l.accounts[account] = n - 1
	}
	l.mu.Unlock()
	l.total.Add(-1)
}
