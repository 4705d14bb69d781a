// Package node runs one convops node: it folds the event log into the store,
// turns ingest requests into log messages and answers only once they are
// durable and applied here, and says when the node is ready.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/store"
)

// Node is the one path of every event: log → fold → store.
type Node struct {
	log    *eventlog.Log
	store  *store.Store
	logger *slog.Logger

	ready     chan struct{} // closed once the log present at start is applied
	readyOnce sync.Once
	applied   atomic.Uint64 // sequence of the last applied message
	corrupt   atomic.Uint64 // messages skipped because they could not be decoded

	// waiters holds the ingest requests of this node waiting for their
	// messages to be applied, by message id. Guarded by mu.
	mu      sync.Mutex
	waiters map[string]*waiter

	followErr chan error
}

type waiter struct {
	done    chan struct{}
	outcome convops.Outcome
}

// New returns a node over an open log and an empty store; Start begins the fold.
func New(log *eventlog.Log, st *store.Store, logger *slog.Logger) *Node {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Node{
		log:       log,
		store:     st,
		logger:    logger,
		ready:     make(chan struct{}),
		waiters:   make(map[string]*waiter),
		followErr: make(chan error, 1),
	}
}

// Start replays the log and then follows it until ctx is done. It returns at
// once; Ready is closed when everything in the log at start has been applied.
func (n *Node) Start(ctx context.Context) error {
	msgs, lastSeq, err := n.log.State(ctx)
	if err != nil {
		return err
	}
	n.logger.Info("replaying event log", "messages", msgs, "lastSeq", lastSeq)
	started := time.Now()
	if msgs == 0 {
		n.markReady(started, lastSeq)
	}
	go func() {
		n.followErr <- n.log.Follow(ctx, func(seq uint64, msgID string, b convops.Batch, err error) {
			n.apply(seq, msgID, b, err)
			if seq >= lastSeq {
				n.markReady(started, lastSeq)
			}
		})
	}()
	return nil
}

func (n *Node) markReady(started time.Time, lastSeq uint64) {
	n.readyOnce.Do(func() {
		st := n.store.Stats()
		n.logger.Info("event log replayed", "lastSeq", lastSeq, "accounts", st.Accounts,
			"buckets", st.Buckets, "dedupeKeys", st.DedupeKeys, "took", time.Since(started).Round(time.Millisecond))
		close(n.ready)
	})
}

// Ready is closed once the node has replayed its log.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// IsReady reports whether Ready is closed.
func (n *Node) IsReady() bool {
	select {
	case <-n.ready:
		return true
	default:
		return false
	}
}

// Done returns a channel that yields the error that stopped the fold.
func (n *Node) Done() <-chan error { return n.followErr }

func (n *Node) apply(seq uint64, msgID string, b convops.Batch, err error) {
	var out convops.Outcome
	if err != nil {
		// A message this node cannot read is skipped, loudly: folding a guess
		// would give silently wrong numbers.
		n.corrupt.Add(1)
		n.logger.Error("skipping event log message that cannot be decoded", "seq", seq, "msgID", msgID, "err", err)
	} else {
		out = n.store.Apply(b)
	}
	n.applied.Store(seq)

	n.mu.Lock()
	w := n.waiters[msgID]
	delete(n.waiters, msgID)
	n.mu.Unlock()
	if w != nil {
		w.outcome = out
		close(w.done)
	}
}

// ErrNotReady is returned by Ingest before the log has been replayed.
var ErrNotReady = convops.Errorf(convops.EUnavailable, "the server is starting: it is replaying its event log; try again in a moment")

// Ingest appends validated events of one account to the log and returns once
// they are durable and applied to this node's store, with how many were new.
func (n *Node) Ingest(ctx context.Context, account string, now int64, events []convops.Event) (convops.Outcome, error) {
	var total convops.Outcome
	if !n.IsReady() {
		return total, ErrNotReady
	}
	if len(events) == 0 {
		return total, nil
	}
	msgs := n.log.Encode(convops.Batch{Account: account, Now: now, Events: events})

	// Register before publishing: the fold may apply a message before its
	// acknowledgement reaches us.
	waiters := make([]*waiter, len(msgs))
	n.mu.Lock()
	for i, m := range msgs {
		waiters[i] = &waiter{done: make(chan struct{})}
		n.waiters[m.ID] = waiters[i]
	}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		for _, m := range msgs {
			delete(n.waiters, m.ID)
		}
		n.mu.Unlock()
	}()

	if err := n.log.Publish(ctx, msgs); err != nil {
		return total, unavailable(err)
	}
	for _, w := range waiters {
		select {
		case <-w.done:
			total.Add(w.outcome)
		case <-ctx.Done():
			return total, unavailable(fmt.Errorf("wait for the fold: %w", ctx.Err()))
		}
	}
	return total, nil
}

func unavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &convops.Error{Code: convops.EUnavailable, Message: "the event log did not confirm the events in time; nothing is lost by sending the same events again"}
}

// Query answers q at now (epoch ms).
func (n *Node) Query(q convops.Query, now int64) (convops.Result, error) {
	if !n.IsReady() {
		return convops.Result{}, ErrNotReady
	}
	return n.store.Query(q, convops.Layout(now, q.Timeframe, q.Interval)), nil
}
