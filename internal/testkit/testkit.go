// Package testkit is what the tests of convops share: the fixed instant
// their data clock stands at, a wait on a condition, a real NATS server,
// and a backend of the HTTP API that needs no log at all (package testnode
// opens real nodes). Everything it starts stops when the test ends.
package testkit

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/convops/convops"
)

// NowText is the instant the tests' data clock stands at: the seed's own
// example is at 13:29 of a day.
const NowText = "2026-11-27T13:29:17Z"

// Now is NowText as a time, and NowMs in epoch milliseconds.
var (
	Now   = time.Date(2026, 11, 27, 13, 29, 17, 0, time.UTC)
	NowMs = Now.UnixMilli()
)

// Eventually fails the test unless cond holds within within, looking every
// few milliseconds: what a test waits for, it waits on, never on a fixed
// time.
func Eventually(tb testing.TB, within time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %s", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// NATS runs a real nats-server on a free loopback port, with JetStream
// (its store in a temporary directory) unless o says otherwise; o may add
// TLS, accounts and the like. It stops when the test ends.
func NATS(tb testing.TB, o *server.Options) *server.Server {
	tb.Helper()
	if o == nil {
		o = &server.Options{JetStream: true}
	}
	o.Host, o.Port, o.NoLog, o.NoSigs = "127.0.0.1", -1, true, true
	if o.JetStream && o.StoreDir == "" {
		o.StoreDir = tb.TempDir()
	}
	ns, err := server.NewServer(o)
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server did not start")
	}
	tb.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Buffer collects what loggers write from many goroutines, for the test
// to read while they go on.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Backend is a backend of the HTTP API with no log behind it: it holds no
// data, takes every ingest (calling OnIngest, when set), and answers every
// query with Result. Handler tests that are about the HTTP layer alone use
// it.
type Backend struct {
	Result   convops.Result
	OnIngest func(account string, events []convops.Event)
}

func (b *Backend) Ingest(_ context.Context, account string, _ int64, events []convops.Event) (convops.Outcome, error) {
	if b.OnIngest != nil {
		b.OnIngest(account, events)
	}
	return convops.Outcome{Accepted: len(events)}, nil
}

func (b *Backend) Query(convops.Query, int64) (convops.Result, error) { return b.Result, nil }

func (b *Backend) AnswerSize(convops.Query, int64) (memory, json int64) { return 0, 0 }

func (b *Backend) Version(string) uint64 { return 0 }

func (b *Backend) IsReady() bool { return true }
