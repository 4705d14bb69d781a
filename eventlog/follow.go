package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/convops/convops"
)

// The fold reads the log two ways. An ordered consumer pushes each message
// as it is stored: the cheapest way, and the quickest. But a consumer lives
// on one server and is made again through the JetStream meta leader, so
// that losing either (or this node's connection to its server) stalls it:
// 11 s after the loss of the meta leader were measured, all of it the
// consumer's re-making. So the fold also reads with batched direct gets
// ($JS.API.DIRECT.GET), which any server holding a replica of the stream
// answers and which need no meta leader: to replay the log at start, and
// whenever it knows of messages (its own writes, the other nodes' wake-ups)
// that the consumer has not delivered within stallAfter. Each message is
// applied once, in order, whichever way it came first.
const (
	// stallAfter is how long the consumer may leave a message this node
	// knows is stored undelivered before direct gets read it.
	stallAfter = 500 * time.Millisecond
	// directBatch and directBytes bound one direct get's answer.
	directBatch = 1000
	directBytes = 8 << 20
	// directWait is how long a direct get may go unanswered before it is
	// sent again (to another server, if the one that took it is gone).
	directWait = time.Second
	// pollEvery is how often the fold looks whether the consumer stalled.
	pollEvery = 100 * time.Millisecond
	// lagRetry is the first pause before asking again for messages a
	// replica does not have yet (it may lag the one that acknowledged
	// them); it doubles, up to pollEvery, while they do not come.
	lagRetry = 100 * time.Microsecond
	// consumerRetry is the pause between attempts to make the consumer.
	consumerRetry = time.Second
	// giveUpAfter is how long a catch-up asks for a message it knows of
	// that no server gives (lost, or expired) before it leaves it to the
	// consumer.
	giveUpAfter = 10 * time.Second
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

// Reads counts the reads of the log the fold has made with direct gets:
// its replay at start, and while its consumer was stalled.
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
// fold learns of the other nodes' messages from its consumer alone.
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
			l.logger.Warn("the NATS user may not hear the other nodes' wake-ups; while its consumer is stalled, this node does not read their messages (docs/cluster.md lists what it needs)",
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
	f := &follower{l: l, apply: apply, next: max(from, 1)}
	r := &directReader{l: l, filter: l.filter, next: f.nextSeq()}
	// The log as it is now, read with direct gets: no consumer is needed to
	// start, nor a meta leader to make one.
	first := started != nil
	if err := f.catchUp(ctx, r, func(pending uint64) {
		if first {
			started(pending)
			first = false
		}
	}); err != nil {
		return err
	}
	if first {
		started(0) // the shard has nothing (yet)
	}
	consumed := make(chan error, 1)
	go func() { consumed <- f.consume(ctx) }()
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			<-consumed
			return ctx.Err()
		case err := <-consumed:
			return err
		case <-l.wake:
		case <-poll.C:
		}
		if f.stalled() {
			f.catchUp(ctx, r, nil)
		}
	}
}

// follower applies the messages of the log once each, in order, from
// whichever reader has them first.
type follower struct {
	l     *Log
	apply ApplyFunc

	mu   sync.Mutex // serialises deliver; guards the fields below
	next uint64     // the sequence after the last applied
	// waiting is since when the fold has known of a message it has not
	// applied, without applying any (zero while it has not).
	waiting time.Time
	// given is the last known sequence a catch-up gave up on: it is not
	// taken for a stall again.
	given  uint64
	events []convops.Event
}

// deliver applies the message d, with its data, unless it was applied.
func (f *follower) deliver(d Delivery, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.Seq < f.next {
		return // applied already, having come the other way
	}
	f.waiting = time.Time{}
	var err error
	d.Batch, d.Part, err = decodeBatch(data, f.events)
	if cap(d.Batch.Events) > cap(f.events) {
		f.events = d.Batch.Events
	}
	f.next = d.Seq + 1
	f.apply(d, err)
	// The events' ids read this message's bytes: keeping them in the
	// buffer would keep the message.
	clear(d.Batch.Events)
}

func (f *follower) nextSeq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}

// stalled says whether the fold has known of a message it has not applied,
// and applied none, for longer than stallAfter.
func (f *follower) stalled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if known := f.l.known.Load(); f.next > known || known <= f.given {
		f.waiting = time.Time{}
		return false
	}
	if f.waiting.IsZero() {
		f.waiting = time.Now()
	}
	return time.Since(f.waiting) > stallAfter
}

// catchUp reads with direct gets from r.next on until nothing is left that
// this node knows of, telling pending (when not nil) how many messages of
// the shard remain after the first read. A message it knows of that no
// server gives for giveUpAfter is left to the consumer.
func (f *follower) catchUp(ctx context.Context, r *directReader, pending func(uint64)) error {
	lagging := lagRetry
	var since time.Time // since when it has asked for a known message in vain
	for ctx.Err() == nil {
		r.next = max(r.next, f.nextSeq()) // the consumer may have gone on meanwhile
		got, left, err := r.batch(ctx, func(d Delivery, data []byte) {
			if pending != nil {
				pending(d.Pending + 1)
				pending = nil
			}
			f.deliver(d, data)
		})
		if err != nil && ctx.Err() == nil && f.l.followLogs.allow(err.Error()) {
			f.l.logger.Warn("reading the event log; trying again", "err", err, "next", r.next)
		}
		if got > 0 && left > 0 {
			continue // more is there: read on at once
		}
		known := f.l.known.Load()
		if r.next > known && err == nil {
			return nil
		}
		// A message this node knows is stored is not read yet: the server
		// asked may lag the one that stored it, or be gone.
		switch {
		case got > 0 || since.IsZero():
			since = time.Now()
		case time.Since(since) > giveUpAfter:
			f.l.logger.Warn("no server of the event log gives a message this node knows was stored; the fold waits for its consumer", "next", r.next, "known", known)
			f.mu.Lock()
			f.given = known
			f.mu.Unlock()
			return nil
		}
		sleep(ctx, lagging)
		lagging = min(2*lagging, pollEvery)
	}
	return ctx.Err()
}

// consume follows the log with an ordered consumer from where the fold
// is, making it again (from where the fold is then) when it fails, until
// ctx is done.
func (f *follower) consume(ctx context.Context) error {
	l := f.l
	for ctx.Err() == nil {
		cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: f.nextSeq()}
		if l.filter != "" {
			cfg.FilterSubjects = []string{l.filter}
		}
		// Made through the meta leader, which may be being elected: the
		// fold goes on with direct gets meanwhile.
		cctx, cancel := context.WithTimeout(ctx, consumerRetry)
		cons, err := l.stream.OrderedConsumer(cctx, cfg)
		cancel()
		if err != nil {
			if ctx.Err() == nil && l.followLogs.allow("consumer "+err.Error()) {
				l.logger.Warn("the fold's consumer cannot be made now; reading the log with direct gets meanwhile", "err", err)
			}
			sleep(ctx, consumerRetry)
			continue
		}
		// Heartbeats every second: a consumer whose server went away is
		// noticed after two missed ones and made again on another server.
		it, err := cons.Messages(jetstream.PullMaxMessages(1000), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
		if err != nil {
			sleep(ctx, consumerRetry)
			continue
		}
		stop := context.AfterFunc(ctx, it.Stop)
		for {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) && l.followLogs.allow("consumer "+err.Error()) {
					l.logger.Warn("the fold's consumer failed; making it again", "err", err)
				}
				break
			}
			meta, err := msg.Metadata()
			if err != nil {
				l.logger.Error("event log message without metadata", "err", err)
				continue
			}
			f.deliver(Delivery{Seq: meta.Sequence.Stream, Pending: meta.NumPending, MsgID: msg.Headers().Get(jetstream.MsgIDHeader),
				Time: meta.Timestamp.UnixMilli(), Forwarded: msg.Headers().Get(forwardedHeader) != ""}, msg.Data())
		}
		it.Stop()
		stop()
	}
	return ctx.Err()
}

// directReader reads the stream from next on with batched direct gets.
type directReader struct {
	l      *Log
	filter string
	next   uint64
}

// directRequest is JetStream's request of a direct get (JSApiMsgGetRequest).
type directRequest struct {
	Seq      uint64 `json:"seq"`
	NextFor  string `json:"next_by_subj,omitempty"`
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes"`
}

// errNoResponders says no server answers direct gets of the stream.
var errNoResponders = errors.New("no server of the event stream answers direct gets (is allow_direct on?)")

// batch asks for the messages from r.next on, and hands each to deliver
// with its data; it returns how many came, and how many of the shard are
// left after them by the answering server's count.
//
// Each request has an inbox of its own, whose messages are never dropped
// (no pending limit: one answer holds at most directBytes), so that no
// answer to an earlier request is taken for this one's; and each message
// names the one before it in the answer (Nats-Last-Sequence), so that one
// lost on the way stops the batch rather than leave a hole in the fold.
func (r *directReader) batch(ctx context.Context, deliver func(Delivery, []byte)) (got int, pending uint64, err error) {
	r.l.reads.Add(1)
	nc := r.l.nc
	reply := nats.NewInbox()
	sub, err := nc.SubscribeSync(reply)
	if err != nil {
		sleep(ctx, pollEvery)
		return 0, 0, fmt.Errorf("ask the event log: %w", err)
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)
	req, _ := json.Marshal(directRequest{Seq: r.next, NextFor: r.filter, Batch: directBatch, MaxBytes: directBytes})
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+StreamName, reply, req); err != nil {
		sleep(ctx, pollEvery)
		return 0, 0, fmt.Errorf("ask the event log: %w", err)
	}
	var previous uint64 // the sequence of the message before, in this answer
	for {
		// The wait for each message is bounded, not the answer's whole
		// time: applying a message may take a while.
		wctx, cancel := context.WithTimeout(ctx, directWait)
		m, err := sub.NextMsgWithContext(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return got, 0, ctx.Err()
		case err != nil:
			return got, 0, fmt.Errorf("the event log did not answer within %s (reading from sequence %d): %w", directWait, r.next, err)
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
		before, berr := strconv.ParseUint(m.Header.Get(jetstream.LastSequenceHeader), 10, 64)
		if err != nil || berr != nil || seq < r.next || before != previous {
			// A message lost on the way, or one that cannot be read: the
			// next batch asks again from the first not delivered.
			return got, 0, fmt.Errorf("a direct get of the event log came with a hole (message %d after %d, %d expected)", seq, before, previous)
		}
		previous = seq
		d := Delivery{Seq: seq, MsgID: m.Header.Get(jetstream.MsgIDHeader), Forwarded: m.Header.Get(forwardedHeader) != ""}
		d.Pending, _ = strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
		if ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer)); err == nil {
			d.Time = ts.UnixMilli()
		}
		r.next = seq + 1
		got++
		deliver(d, m.Data)
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
