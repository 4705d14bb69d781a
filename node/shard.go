package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/convops/convops"
)

// ingestForeign logs a batch of an account of another shard, and answers
// once a node of that shard has applied it (Peers). The bounds of the
// account are that node's to check, in its fold.
func (n *Node) ingestForeign(ctx context.Context, batch convops.Batch) (convops.Outcome, error) {
	if n.opts.Peers == nil {
		return convops.Outcome{}, &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard,
			Message: fmt.Sprintf("account %s belongs to shard %s, which this node cannot reach", batch.Account, n.opts.Shard.Of(batch.Account))}
	}
	msgs := n.log.Encode(batch)
	ids := make([]string, len(msgs))
	for i := range msgs {
		msgs[i].Forwarded = true
		ids[i] = msgs[i].ID
	}
	if err := n.log.Publish(ctx, msgs); err != nil {
		return convops.Outcome{}, n.unavailable(err)
	}
	out, err := n.opts.Peers.Await(ctx, batch.Account, ids)
	var e *convops.Error
	if errors.As(err, &e) && e.Cause == convops.CauseShard {
		// The events are in the log: say so, and that sending them again
		// counts none twice.
		err = &convops.Error{Code: e.Code, Cause: e.Cause, Message: fmt.Sprintf(
			"the events are stored, but no node of shard %s (which holds account %s) confirmed them in time; "+
				"they are counted when one applies them, and sending them again counts none twice", n.opts.Shard.Of(batch.Account), batch.Account)}
	}
	return out, err
}

// Await returns the fold's answer to the messages ids, logged by another
// node, once they are all applied here: the other half of ingestForeign.
func (n *Node) Await(ctx context.Context, ids []string) (convops.Outcome, error) {
	waiters := make([]*waiter, 0, len(ids))
	n.mu.Lock()
	for _, id := range ids {
		if r, ok := n.recent.getLocked(id); ok {
			w := &waiter{done: make(chan struct{}), outcome: r.outcome, err: r.err}
			close(w.done)
			waiters = append(waiters, w)
			continue
		}
		w := n.waiters[id]
		if w == nil {
			w = &waiter{done: make(chan struct{})}
			n.waiters[id] = w
		}
		waiters = append(waiters, w)
	}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		for i, id := range ids {
			if n.waiters[id] == waiters[i] {
				delete(n.waiters, id)
			}
		}
		n.mu.Unlock()
	}()
	return n.wait(ctx, waiters)
}

// The answers of forwarded messages are kept for Await for recentFor (the
// asking node sends its Await right after its messages are acknowledged,
// and waits at most its ingest's 30 s), and at most recentCapacity of them.
const (
	recentFor      = time.Minute
	recentCapacity = 1 << 16
)

type recentOutcome struct {
	outcome convops.Outcome
	err     error
	at      time.Time // when it was kept
}

// recentOutcomes holds answers by id, the oldest dropped first.
type recentOutcomes struct {
	byID  map[string]recentOutcome
	order []string // ids, oldest first, from head on
	head  int
}

// addLocked keeps o as id's answer. Lock n.mu should be held.
func (r *recentOutcomes) addLocked(id string, o recentOutcome) {
	if r.byID == nil {
		r.byID = make(map[string]recentOutcome)
	}
	o.at = time.Now()
	for r.head < len(r.order) && (len(r.order)-r.head >= recentCapacity || o.at.Sub(r.byID[r.order[r.head]].at) > recentFor) {
		delete(r.byID, r.order[r.head])
		r.order[r.head] = ""
		r.head++
	}
	if r.head > len(r.order)/2 && r.head > 1024 { // reuse the front of the slice
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
	r.order = append(r.order, id)
	r.byID[id] = o
}

// getLocked returns the answer of id; it stays, for an Await sent again. Lock
// n.mu should be held.
func (r *recentOutcomes) getLocked(id string) (recentOutcome, bool) {
	o, ok := r.byID[id]
	return o, ok
}
