package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// keyRates bounds how many signed requests each key may make a second: a
// token bucket per key, refilled at rate a second up to burst. Every signed
// request that passes records its nonce in a bucket all keys share, and one
// key that signs without pause would fill it for every other (at 3,600
// requests a second, 256 MiB in nine minutes). A zero rate bounds nothing.
type keyRates struct {
	rate  float64
	burst float64
	// refused counts the requests turned away.
	refused atomic.Uint64

	mu      sync.Mutex // guards buckets
	buckets map[string]*tokens
}

type tokens struct {
	left float64
	at   time.Time
}

func newKeyRates(rate float64) *keyRates {
	return &keyRates{rate: rate, burst: max(2*rate, 1), buckets: make(map[string]*tokens)}
}

// allow takes a token of key's bucket at now, or says there is none. A nil
// or zero-rate keyRates allows everything.
func (k *keyRates) allow(key string, now time.Time) bool {
	if k == nil || k.rate <= 0 {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		b = &tokens{left: k.burst, at: now}
		k.buckets[key] = b
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.left = min(k.burst, b.left+elapsed*k.rate)
		b.at = now
	}
	if b.left < 1 {
		k.refused.Add(1)
		return false
	}
	b.left--
	return true
}

// forget drops the buckets of keys that no longer exist (after a reload).
func (k *keyRates) forget(exists func(key string) bool) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for key := range k.buckets {
		if !exists(key) {
			delete(k.buckets, key)
		}
	}
}
