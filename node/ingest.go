package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/convops/convops"
	"github.com/convops/convops/eventlog"
)

// ErrNotReady is returned by Ingest before the log has been replayed.
var ErrNotReady = &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseStarting,
	Message: "the server is starting: it is replaying its event log; try again in a moment"}

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
	// A clock that cannot be trusted stamps nothing.
	if err := n.clock.check(); err != nil {
		return total, err
	}
	// A request the fold would refuse is not logged; the fold decides again
	// when it applies the request, as others may be applied in between. The
	// log will stamp it about now, by this node's clock.
	if !n.opts.Shard.Holds(account) {
		return n.ingestForeign(ctx, convops.Batch{Account: account, Now: now, Events: events})
	}
	batch := convops.Batch{Account: account, Now: now, LogTime: n.opts.Clock().UnixMilli(), Events: events}
	if err := n.store.Check(batch); err != nil {
		return total, err
	}
	batch.LogTime = 0 // the log's time, not a guess, goes into the log
	msgs := n.log.Encode(batch)

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
		return total, n.unavailable(err)
	}
	return n.wait(ctx, waiters)
}

// wait returns the sum of the waiters' answers once the fold has given
// them all, or the first refusal.
func (n *Node) wait(ctx context.Context, waiters []*waiter) (convops.Outcome, error) {
	var total convops.Outcome
	for _, w := range waiters {
		select {
		case <-w.done:
			if w.err != nil {
				return convops.Outcome{}, w.err
			}
			total.Add(w.outcome)
		case <-ctx.Done():
			return total, n.unavailable(fmt.Errorf("wait for the fold: %w", ctx.Err()))
		}
	}
	return total, nil
}

// unavailable turns a failure to append or apply into the 503 a client sees;
// the cause goes to the log.
func (n *Node) unavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	n.logger.Warn("ingest failed; answered 503", "err", err)
	if errors.Is(err, eventlog.ErrStorageFull) {
		return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseStorage, Message: "the event log cannot store more events: its disk is full or its storage limit is reached; queries still work"}
	}
	return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseLog, Message: "the event log did not confirm the events in time; nothing is lost by sending the same events again"}
}

// AnswerSize bounds what the answer of q at now takes, in memory and as
