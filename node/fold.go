package node

import (
	"github.com/convops/convops"
	"github.com/convops/convops/eventlog"
)

// applyLocked folds one message. Lock foldMu should be held.
func (n *Node) applyLocked(d eventlog.Delivery, err error) {
	defer func() {
		n.appliedTime.Store(d.Time)
		n.applied.Store(d.Seq)
	}()
	n.dropStaleParts(d.Time)
	if err != nil {
		// A message this node cannot read is skipped, loudly: folding a guess
		// would give silently wrong numbers.
		n.logger.Error("skipping event log message that cannot be decoded", "seq", d.Seq, "msgID", d.MsgID, "err", err)
		n.finish(d.MsgID, d.Forwarded, convops.Outcome{}, errUnreadable)
		return
	}
	d.Batch.LogTime, d.Batch.LogSeq = d.Time, d.Seq
	if !n.opts.Shard.Holds(d.Batch.Account) {
		// A batch of another shard, in a log written before shards: its
		// own nodes fold it.
		return
	}
	if d.Part.Count <= 1 {
		out, err := n.store.Apply(d.Batch)
		n.finish(d.MsgID, d.Forwarded, out, err)
		return
	}

	// One part of a request: held until the request is whole.
	p := n.partial[d.Part.Request]
	if p == nil && d.Part.Index == 0 {
		p = &partialRequest{batch: convops.Batch{Account: d.Batch.Account, Now: d.Batch.Now}, count: d.Part.Count, since: d.Time, forwarded: d.Forwarded}
		n.partial[d.Part.Request] = p
	}
	if p == nil || d.Part.Index != len(p.msgIDs) || d.Part.Count != p.count || d.Batch.Account != p.batch.Account {
		// Its first parts were dropped, or it does not follow them.
		n.logger.Warn("dropping a request whose parts are missing from the event log; its client was told to send it again",
			"seq", d.Seq, "request", d.Part.Request, "part", d.Part.Index, "parts", d.Part.Count)
		if p != nil {
			n.dropParts(d.Part.Request, p)
		}
		n.finish(d.MsgID, d.Forwarded, convops.Outcome{}, errIncomplete)
		return
	}
	p.batch.Events = append(p.batch.Events, d.Batch.Events...)
	p.msgIDs = append(p.msgIDs, d.MsgID)
	if len(p.msgIDs) < p.count {
		return
	}
	delete(n.partial, d.Part.Request)
	p.batch.LogTime, p.batch.LogSeq = d.Time, d.Seq // the request is applied when its last part is read
	out, err := n.store.Apply(p.batch)
	for _, id := range p.msgIDs[:p.count-1] {
		n.finish(id, p.forwarded, convops.Outcome{}, nil)
	}
	n.finish(d.MsgID, d.Forwarded, out, err)
}

// dropStaleParts drops the requests whose parts have been incomplete for
// longer than the part timeout, by the log's clock now.
func (n *Node) dropStaleParts(now int64) {
	for id, p := range n.partial {
		if now-p.since > n.opts.PartTimeout.Milliseconds() {
			n.logger.Warn("dropping a request whose last parts never reached the event log; its client was told to send it again",
				"request", id, "parts", len(p.msgIDs), "of", p.count)
			n.dropParts(id, p)
		}
	}
}

func (n *Node) dropParts(id uint64, p *partialRequest) {
	delete(n.partial, id)
	for _, msgID := range p.msgIDs {
		n.finish(msgID, p.forwarded, convops.Outcome{}, errIncomplete)
	}
}

// finish hands the fold's answer to the ingest waiting for message msgID.
// The answer to a message another shard's node logged for this one
// (forwarded) that no one waits for yet is kept a while, for its Await.
func (n *Node) finish(msgID string, forwarded bool, out convops.Outcome, err error) {
	n.mu.Lock()
	w := n.waiters[msgID]
	delete(n.waiters, msgID)
	if w == nil && forwarded {
		n.recent.addLocked(msgID, recentOutcome{outcome: out, err: err})
	}
	n.mu.Unlock()
	if w != nil {
		w.outcome, w.err = out, err
		close(w.done)
	}
}

// errUnreadable is the answer to an ingest whose message the fold could not
// read back from the log.
var errUnreadable = &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseLog,
	Message: "the event log gave back the request's events damaged, so none of them was stored; send the request again"}

// errIncomplete is the answer to an ingest whose messages the fold could not
// applyLocked whole.
var errIncomplete = &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseLog,
	Message: "the request's events did not all reach the event log, so none of them was stored; send the request again"}
