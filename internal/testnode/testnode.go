// Package testnode opens real nodes for tests: an embedded event log in a
// temporary directory, and a node folding it. Everything it opens is closed
// when the test ends.
package testnode

import (
	"context"
	"testing"
	"time"

	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/node"
	"github.com/convops/convops/store"
)

// OpenLog opens an embedded event log in dir (a temporary directory when
// empty), closed when the test ends.
func OpenLog(tb testing.TB, dir string) *eventlog.Log {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	log, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { log.Close() })
	return log
}

// StartNode starts a node with a store of so on log, and waits until it
// is ready; it is closed when the test ends (before the log).
func StartNode(tb testing.TB, log *eventlog.Log, so store.Options, no node.Options) *node.Node {
	tb.Helper()
	n := node.New(log, store.New(so), no)
	if err := n.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Close() })
	select {
	case <-n.Ready():
	case <-time.After(time.Minute):
		tb.Fatal("node not ready in a minute")
	}
	return n
}

// Node is StartNode on a new embedded log of its own.
func Node(tb testing.TB) *node.Node {
	tb.Helper()
	return StartNode(tb, OpenLog(tb, ""), store.Options{}, node.Options{})
}
