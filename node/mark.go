package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/convops/convops/eventlog"
)

// markInterval is how often the applied sequence is recorded. A log that
// loses messages older than the last mark is noticed at start; the mark lags
// the log by at most this much.
const markInterval = 200 * time.Millisecond

// mark is what the node records about its log.
type mark struct {
	// AppliedSeq is the last sequence applied.
	AppliedSeq uint64 `json:"appliedSeq"`
	// AcceptedDeleted is the number of lost messages an operator accepted with
	// --accept-log-loss; the store keeps reporting them as missing.
	AcceptedDeleted int `json:"acceptedDeleted,omitempty"`
}

// readMark returns the recorded mark, zero when there is none.
func (n *Node) readMark() mark {
	var m mark
	if n.opts.MarkPath == "" {
		return m
	}
	data, err := os.ReadFile(n.opts.MarkPath)
	if errors.Is(err, os.ErrNotExist) {
		return m
	}
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		n.logger.Warn("log mark unreadable; the check for lost messages is skipped this time", "path", n.opts.MarkPath, "err", err)
		return mark{}
	}
	return m
}

// writeMark records m atomically (a new file renamed over the old one). It is
// not fsynced: after a power loss an older mark is only a weaker check.
func (n *Node) writeMark(m mark) error {
	if n.opts.MarkPath == "" {
		return nil
	}
	data, _ := json.Marshal(m)
	tmp := n.opts.MarkPath + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, n.opts.MarkPath)
}

// writeMarks records the applied sequence every markInterval while it moves,
// and once more when ctx is done.
func (n *Node) writeMarks(ctx context.Context) {
	if n.opts.MarkPath == "" {
		return
	}
	accepted := n.readMark().AcceptedDeleted
	var written uint64
	tick := time.NewTicker(markInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		if seq := n.applied.Load(); seq != written && seq != 0 {
			if err := n.writeMark(mark{AppliedSeq: seq, AcceptedDeleted: accepted}); err != nil {
				n.logger.Warn("cannot record the log mark", "err", err)
			} else {
				written = seq
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// checkLog compares the log with the mark: a log that ends before the mark,
// or has holes, lost messages that this node had applied.
func (n *Node) checkLog(st eventlog.State) error {
	m := n.readMark()
	if st.Deleted > m.AcceptedDeleted {
		return fmt.Errorf("the event log is damaged: %d messages are missing between sequences %d and %d; "+
			"restore the data directory from a backup, or start with --accept-log-loss to serve what is left", st.Deleted, st.FirstSeq, st.LastSeq)
	}
	if m.AppliedSeq > st.LastSeq {
		return fmt.Errorf("the event log is damaged: it ends at sequence %d, but this server had applied up to %d (%s); "+
			"restore the data directory from a backup, or start with --accept-log-loss to serve what is left", st.LastSeq, m.AppliedSeq, n.opts.MarkPath)
	}
	return nil
}
