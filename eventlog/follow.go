package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/convops/convops"
)

// The fold reads the log with batched direct gets ($JS.API.DIRECT.GET), which
// any server holding a replica of the stream answers, rather than through a
// consumer: a consumer lives on one server and is made again through the
// JetStream meta leader, so that losing either stalled the fold (11 s was
// measured after the loss of the meta leader, all of it the consumer's
// re-making; 1 s with direct gets). What is new is learnt three ways: this
// node's own writes, a wake-up message that every node sends after its
// writes are stored (wakePrefix), and, should both be missed, a look every
// pollEvery.
const (
	// directBatch and directBytes bound one direct get's answer.
	directBatch = 1000
	directBytes = 8 << 20
	// directWait is how long a direct get may go unanswered before it is
	// sent again (to another server, if the one that took it is gone).
	directWait = time.Second
	// pollEvery is how often the fold looks for new messages when nothing
	// has told it of any.
	pollEvery = 100 * time.Millisecond
	// lagRetry is the first pause before asking again for messages a
	// replica does not have yet (it may lag the one that acknowledged
	// them); it doubles, up to pollEvery, while they do not come.
	lagRetry = 2 * time.Millisecond
	// wakePrefix begins the subject of wake-up messages: the subject of
	// the message stored, with it instead of SubjectPrefix, so that a node
	// of one shard hears its shard's only. The payload is the sequence.
	wakePrefix = "convops.wake."
	// numPendingHeader says, on a message of a batch, how many of the
	// shard's messages follow it.
	numPendingHeader = "Nats-Num-Pending"
)

// stored tells the fold that the log holds messages up to seq, the last of
// which is one the fold reads (of its shard).
func (l *Log) stored(seq uint64) {
	for {
		known := l.known.Load()
		if seq <= known || l.known.CompareAndSwap(known, seq) {
			break
		}
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Reads counts the reads of the log the fold has made (batched direct
// gets): about ten a second while nothing is new.
func (l *Log) Reads() uint64 { return l.reads.Load() }

// followed is the subject filter of what Follow reads.
func (l *Log) followed() string {
	if l.filter == "" {
		return SubjectPrefix + ">"
	}
	return l.filter
}

// hearWakeUps subscribes to the other nodes' wake-ups of what Follow reads.
// Without them (a NATS user that may not hear them, said in the log) the
// fold still finds new messages within pollEvery.
func (l *Log) hearWakeUps() error {
	subject := wakePrefix + strings.TrimPrefix(l.followed(), SubjectPrefix)
	sub, err := l.nc.Subscribe(subject, func(m *nats.Msg) {
		if seq, err := strconv.ParseUint(string(m.Data), 10, 64); err == nil {
			l.stored(seq)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	l.wakes = sub
	// The server refuses a subscription after it is made: asked now, so
	// that the refusal is said here, and not taken later for another.
	if err := l.nc.Flush(); err == nil {
		if refused := l.nc.LastError(); errors.Is(refused, nats.ErrPermissionViolation) && strings.Contains(refused.Error(), `"`+subject+`"`) {
			l.logger.Warn("the NATS user may not hear the other nodes' wake-ups; this node finds new messages within "+pollEvery.String()+" instead (docs/cluster.md lists what it needs)",
				"subject", subject)
		}
	}
	return nil
}

// follows says whether the fold reads messages of subject.
func (l *Log) follows(subject string) bool {
	return l.filter == "" || strings.HasPrefix(subject, strings.TrimSuffix(l.filter, ">"))
}

// announce tells the other nodes that the log holds messages up to seq,
// the last of which has subject.
func (l *Log) announce(subject string, seq uint64) {
	l.nc.Publish(wakePrefix+strings.TrimPrefix(subject, SubjectPrefix), strconv.AppendUint(nil, seq, 10))
}

// Follow delivers the messages of the log's shard from sequence from on
// (from the first when from is 0 or 1) to apply, one at a time and in order,
// until ctx is done. started, when not nil, is told first how many messages
// of the shard there are to deliver at that moment.
func (l *Log) Follow(ctx context.Context, from uint64, apply ApplyFunc, started func(pending uint64)) error {
	r := &directReader{l: l, filter: l.followed(), next: max(from, 1), replies: make(chan *nats.Msg, 2*directBatch), inbox: nats.NewInbox()}
	sub, err := l.nc.ChanSubscribe(r.inbox+".*", r.replies)
	if err != nil {
		return fmt.Errorf("follow event log: %w", err)
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1) // bounded by what one direct get may answer

	first := started != nil
	var events []convops.Event // decoded into, message after message
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	lagging := lagRetry
	for ctx.Err() == nil {
		got, pending, err := r.batch(ctx, func(d Delivery, data []byte) {
			var derr error
			d.Batch, d.Part, derr = decodeBatch(data, events)
			if cap(d.Batch.Events) > cap(events) {
				events = d.Batch.Events
			}
			if first {
				started(d.Pending + 1)
				first = false
			}
			apply(d, derr)
			// The events' ids read this message's bytes: keeping them in
			// the buffer would keep the message.
			clear(d.Batch.Events)
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if l.followLogs.allow(err.Error()) {
				l.logger.Warn("reading the event log; trying again", "err", err, "next", r.next)
			}
		}
		behind := r.next <= l.known.Load()
		if first && err == nil && got == 0 && !behind {
			started(0) // the shard has nothing (yet)
			first = false
		}
		if got > 0 && pending > 0 {
			continue // more is there: read on at once
		}
		if behind {
			// A message this node knows is stored is not read yet: the
			// server asked may lag the one that stored it.
			sleep(ctx, lagging)
			lagging = min(2*lagging, pollEvery)
			continue
		}
		lagging = lagRetry
		select {
		case <-ctx.Done():
		case <-l.wake:
		case <-poll.C:
		}
	}
	return ctx.Err()
}

// directReader reads the stream from next on with batched direct gets.
type directReader struct {
	l       *Log
	filter  string
	next    uint64
	inbox   string
	replies chan *nats.Msg
	asked   uint64 // requests sent, each answered on an inbox of its own
}

// directRequest is JetStream's request of a direct get (JSApiMsgGetRequest).
type directRequest struct {
	Seq      uint64 `json:"seq"`
	NextFor  string `json:"next_by_subj"`
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes"`
}

// errNoResponders says no server answers direct gets of the stream.
var errNoResponders = errors.New("no server of the event stream answers direct gets (is allow_direct on?)")

// batch asks for the messages from r.next on, and hands each to deliver
// with its data; it returns how many came, and how many of the shard are
// left after them by the answering server's count.
func (r *directReader) batch(ctx context.Context, deliver func(Delivery, []byte)) (got int, pending uint64, err error) {
	r.asked++
	r.l.reads.Add(1)
	reply := r.inbox + "." + strconv.FormatUint(r.asked, 36)
	req, _ := json.Marshal(directRequest{Seq: r.next, NextFor: r.filter, Batch: directBatch, MaxBytes: directBytes})
	if err := r.l.nc.PublishRequest("$JS.API.DIRECT.GET."+StreamName, reply, req); err != nil {
		sleep(ctx, pollEvery)
		return 0, 0, fmt.Errorf("ask the event log: %w", err)
	}
	timeout := time.NewTimer(directWait)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return got, 0, ctx.Err()
		case <-timeout.C:
			return got, 0, fmt.Errorf("the event log did not answer within %s (reading from sequence %d)", directWait, r.next)
		case m := <-r.replies:
			if m.Subject != reply {
				continue // the answer to a request given up on
			}
			if status := m.Header.Get("Status"); status != "" {
				switch status {
				case "204": // the end of the batch
					pending, _ = strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
					return got, pending, nil
				case "404": // nothing from r.next on
					return got, 0, nil
				case "503":
					sleep(ctx, pollEvery)
					return got, 0, errNoResponders
				}
				return got, 0, fmt.Errorf("the event log refused a read: %s %s", status, m.Header.Get("Description"))
			}
			seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			if err != nil || seq < r.next {
				continue
			}
			d := Delivery{Seq: seq, MsgID: m.Header.Get(jetstream.MsgIDHeader), Forwarded: m.Header.Get(forwardedHeader) != ""}
			d.Pending, _ = strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
			if ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer)); err == nil {
				d.Time = ts.UnixMilli()
			}
			r.next = seq + 1
			got++
			deliver(d, m.Data)
			timeout.Reset(directWait)
		}
	}
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
