package node

import (
	"context"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
)

// JSON held whole.
func (n *Node) AnswerSize(q convops.Query, now int64) (memory, json int64) {
	return n.store.AnswerSize(q, convops.Layout(now, q.Timeframe, q.Interval))
}

// Stats describes what the node's store holds.
func (n *Node) Stats() store.Stats { return n.store.Stats() }

// FoldStats is how far the fold is behind the event log, and what the log
// holds.
type FoldStats struct {
	Applied     uint64    // sequence of the last message applied
	AppliedTime time.Time // the log's time of that message (zero before any)
	LastSeq     uint64    // sequence of the log's last message
	LogMessages uint64    // messages the log holds
	LogBytes    uint64    // bytes the log holds
	LogReads    uint64    // reads of the log by the fold

	// A node of one shard reads only part of the log: its lag is what the
	// fold had left of its shard at the last delivery.
	sharded bool
	pending uint64
}

// Lag is how many messages of the log the fold has yet to apply.
func (f FoldStats) Lag() uint64 {
	if f.sharded {
		return f.pending
	}
	if f.LastSeq > f.Applied {
		return f.LastSeq - f.Applied
	}
	return 0
}

// FoldStats reads the log's state (a round trip to NATS) and the fold's
// position.
func (n *Node) FoldStats(ctx context.Context) (FoldStats, error) {
	// The fold's position is read first: read after, it could be ahead of
	// the log state read before it.
	f := FoldStats{Applied: n.applied.Load(), sharded: n.opts.Shard.Sharded(), pending: n.pending.Load(), LogReads: n.log.Reads()}
	if t := n.appliedTime.Load(); t > 0 {
		f.AppliedTime = time.UnixMilli(t)
	}
	st, err := n.log.State(ctx)
	if err != nil {
		return f, err
	}
	f.LastSeq, f.LogMessages, f.LogBytes = st.LastSeq, st.Msgs, st.Bytes
	return f, nil
}

// Version changes whenever the fold adds data to the account (see
// store.Store.Version).
func (n *Node) Version(account string) uint64 { return n.store.Version(account) }

// Query answers q at now (epoch ms).
func (n *Node) Query(q convops.Query, now int64) (convops.Result, error) {
	if !n.IsReady() {
		return convops.Result{}, ErrNotReady
	}
	return n.store.Query(q, convops.Layout(now, q.Timeframe, q.Interval)), nil
}
