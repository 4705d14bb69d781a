package eventlog

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoncesExpireAndOutliveARestart: a nonce is fresh once, also after the
// log is closed and opened again, and fresh again once its window passed.
func TestNoncesExpireAndOutliveARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A nonce lives 1.5 windows: the restart below must take less for the
	// check after it to mean anything, which a slow machine may not give.
	const window = 4 * time.Second
	n, err := l.Nonces(ctx, window)
	if err != nil {
		t.Fatal(err)
	}
	use := func(n *Nonces, digest string) bool {
		t.Helper()
		fresh, err := n.Use(ctx, digest)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !use(n, "aa01") || use(n, "aa01") {
		t.Fatal("a nonce must be fresh once")
	}
	used := time.Now()
	l.Close()
	if l, err = Open(ctx, Options{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, err = l.Nonces(ctx, window); err != nil {
		t.Fatal(err)
	}
	if fresh := use(n, "aa01"); time.Since(used) >= window*3/2 {
		t.Log("the restart took longer than a nonce lives: its replay after the restart is not checked")
	} else if fresh {
		t.Error("a nonce used before the restart is fresh after it")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !use(n, "aa01") {
		if time.Now().After(deadline) {
			t.Fatal("the nonce did not expire")
		}
		time.Sleep(200 * time.Millisecond)
	}
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
