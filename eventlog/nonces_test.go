package eventlog

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

// useNonce records digest in n and says whether it was fresh.
func useNonce(t *testing.T, n *Nonces, digest string) bool {
	t.Helper()
	fresh, err := n.Use(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

// openNonces opens the log in dir and its nonce bucket of window.
func openNonces(t *testing.T, dir string, window time.Duration) (*Log, *Nonces) {
	t.Helper()
	l, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.Nonces(context.Background(), window)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	return l, n
}

// TestNoncesOutliveARestart: a nonce is fresh once, also after the log is
// closed and opened again. The window, ten minutes as OAuth's, is longer
// than any restart takes, so the check after it always holds.
func TestNoncesOutliveARestart(t *testing.T) {
	dir := t.TempDir()
	const window = 10 * time.Minute
	l, n := openNonces(t, dir, window)
	if !useNonce(t, n, "aa01") || useNonce(t, n, "aa01") {
		t.Fatal("a nonce must be fresh once")
	}
	l.Close()
	l, n = openNonces(t, dir, window)
	defer l.Close()
	if useNonce(t, n, "aa01") {
		t.Error("a nonce used before the restart is fresh after it")
	}
}

// TestNoncesExpire: a nonce is fresh again once its window (and the half
// again the bucket keeps it) has passed.
func TestNoncesExpire(t *testing.T) {
	l, n := openNonces(t, t.TempDir(), 2*time.Second)
	defer l.Close()
	if !useNonce(t, n, "bb02") || useNonce(t, n, "bb02") {
		t.Fatal("a nonce must be fresh once")
	}
	testkit.Eventually(t, time.Minute, func() bool { return useNonce(t, n, "bb02") })
}

// BenchmarkNonces: what a signed request pays to record its nonce in the
// embedded server's bucket (an fsync each, as every write of the log).
func BenchmarkNonces(b *testing.B) {
	ctx := context.Background()
	l, err := Open(ctx, Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	n, err := l.Nonces(ctx, 10*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	var i atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := n.Use(ctx, fmt.Sprintf("%032x", i.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
