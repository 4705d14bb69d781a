// Package node runs one convops node: it folds the event log into the store,
// turns ingest requests into log messages and answers only once they are
// durable and applied here, and says when the node is ready.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
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
	opts   Options
	logger *slog.Logger
	clock  *clockGuard

	ready     chan struct{} // closed once the log present at start is applied
	readyOnce sync.Once
	applied   atomic.Uint64 // sequence of the last applied message
	// appliedTime is the log's time of that message (epoch ms).
	appliedTime atomic.Int64
	// foldMu is held while a message is folded, and while a snapshot
	// begins outside the fold goroutine: it keeps the store, partial and
	// applied in step.
	foldMu sync.Mutex
	stream int64 // the stream's creation time, which names the log
	snaps  snapshots
	poke   chan struct{} // SnapshotNow's call to snapshotWhenAsked

	// waiters holds the ingest requests waiting for their messages to be
	// applied, by message id: this node's, and other nodes' that asked
	// through Await. Guarded by mu.
	mu      sync.Mutex
	waiters map[string]*waiter
	// recent keeps the answers of forwarded messages (logged here by a node
	// of another shard) that no one waited for yet, for an Await that comes
	// after the fold. Guarded by mu.
	recent recentOutcomes
	// pending is how many messages of the node's shard were left to apply
	// at the last delivery.
	pending atomic.Uint64

	// partial holds the parts of requests logged in several messages until
	// the last one arrives, by request id. Guarded by foldMu.
	partial map[uint64]*partialRequest

	failed   chan struct{} // closed when the fold stops on its own
	failOnce sync.Once
	failErr  error         // why it stopped; set before failed is closed
	stopped  chan struct{} // closed when the fold and the mark writer have stopped

	closeMu sync.Mutex         // guards cancel
	cancel  context.CancelFunc // stops what Start started; nil before it and after Close
}

type waiter struct {
	done    chan struct{}
	outcome convops.Outcome
	err     error // the fold refused the request
}

// partialRequest is a request logged in several messages, of which the
// first parts have arrived.
type partialRequest struct {
	batch  convops.Batch // the events of the parts so far
	count  int           // parts in all
	msgIDs []string      // of the parts so far
	since  int64         // log time of the first part
	// forwarded: logged by a node of another shard, which awaits it
	forwarded bool
}

// DefaultPartTimeout is how long, in the log's own time, the parts of a
// request may take to arrive. A request whose parts are not all in the log
// by then (its node failed half-way and answered 503) is dropped whole: its
// client sends it again. Deciding by the log's timestamps makes every replay
// drop the same requests.
const DefaultPartTimeout = 2 * time.Minute

// Options configure a Node.
type Options struct {
	Logger *slog.Logger
	// MarkPath is the file where the node records how far into the log it has
	// applied, so that a log that lost messages is noticed at start. Empty
	// disables the check.
	MarkPath string
	// AcceptLoss starts the node on a log that lost messages, after logging
	// what was lost, instead of refusing to start.
	AcceptLoss bool
	// StallTimeout is how long the replay may go without applying a message
	// before the node gives up (30s when zero). A message the store cannot read
	// back stops delivery without an error; this turns that into one.
	StallTimeout time.Duration
	// PartTimeout is DefaultPartTimeout when zero. Every node of one log
	// must use the same.
	PartTimeout time.Duration
	// Clock is the node's real clock (time.Now when nil), which the guard
	// against clock faults watches; the data clock of --now is another.
	Clock func() time.Time
	// ClockProbeEvery is how often the clock of an external log's servers is
	// read (10s when zero).
	ClockProbeEvery time.Duration
	// SnapshotPath is the file of the node's snapshot; empty takes none.
	// A snapshot is taken every SnapshotInterval, or after SnapshotEvents
	// events, whichever comes first (the defaults when zero), and at Close.
	SnapshotPath     string
	SnapshotInterval time.Duration
	SnapshotEvents   int
	// Preload is the snapshot at SnapshotPath already being loaded into
	// the node's store (PreloadSnapshot); nil loads it at Start.
	Preload *Preload
	// Shard is the part of the accounts the node folds (the log's: see
	// eventlog.Options.Shard). An ingest for an account of another shard
	// is logged here and answered once Peers says a node of that shard
	// applied it.
	Shard convops.Shard
	Peers Peers
}

// Peers reaches the nodes of other shards.
type Peers interface {
	// Await returns the fold's answer to the messages ids of account, once
	// a node of the account's shard has applied them all.
	Await(ctx context.Context, account string, ids []string) (convops.Outcome, error)
}

// New returns a node over an open log and an empty store; Start begins the fold.
func New(log *eventlog.Log, st *store.Store, opts Options) *Node {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = 30 * time.Second
	}
	if opts.PartTimeout == 0 {
		opts.PartTimeout = DefaultPartTimeout
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.ClockProbeEvery == 0 {
		opts.ClockProbeEvery = 10 * time.Second
	}
	if opts.SnapshotInterval == 0 {
		opts.SnapshotInterval = DefaultSnapshotInterval
	}
	if opts.SnapshotEvents == 0 {
		opts.SnapshotEvents = DefaultSnapshotEvents
	}
	var logOffset func(context.Context) (time.Duration, error)
	if log.External() {
		logOffset = func(ctx context.Context) (time.Duration, error) { return log.ClockOffset(ctx, opts.Clock) }
	}
	return &Node{
		clock:   newClockGuard(opts.Clock, logOffset),
		log:     log,
		store:   st,
		opts:    opts,
		logger:  opts.Logger,
		ready:   make(chan struct{}),
		waiters: make(map[string]*waiter),
		partial: make(map[uint64]*partialRequest),
		failed:  make(chan struct{}),
		poke:    make(chan struct{}, 1),
		snaps: snapshots{path: opts.SnapshotPath, interval: opts.SnapshotInterval, events: opts.SnapshotEvents,
			last: time.Now()},
		stopped: make(chan struct{}),
	}
}

// Start checks the log against the node's mark, then replays the log and
// follows it until Close. It returns once the fold is running; Ready is closed
// when everything in the log at start has been applied.
func (n *Node) Start(ctx context.Context) error {
	var st eventlog.State
	err := n.log.RetryStarting(ctx, "the event log's state", func() (err error) {
		st, err = n.log.State(ctx)
		return err
	})
	if err != nil {
		return err
	}
	damaged := false
	if err := n.checkLog(st); err != nil {
		if !n.opts.AcceptLoss {
			return err
		}
		n.logger.Error("starting on a damaged event log; the numbers lack the lost events", "err", err)
		// Remember what was accepted, so that the next start is clean.
		if err := n.writeMark(mark{AppliedSeq: 0, AcceptedDeleted: st.Deleted}); err != nil {
			return fmt.Errorf("record the accepted loss: %w", err)
		}
		damaged = true
	}
	// The clock is checked once before anything is written.
	n.clock.measure()
	if err := n.clock.probe(ctx); err != nil {
		n.logger.Warn("cannot read the clock of the event log's servers", "err", err)
	}
	if err := n.clock.check(); err != nil {
		n.logger.Error("refusing writes: " + err.Error())
	}
	started := time.Now()
	n.stream = st.Created
	var from uint64
	if damaged {
		// The numbers are to follow what is left of the log, as another
		// node's would: a snapshot taken before the loss is dropped.
		if p := n.opts.Preload; p != nil {
			<-p.done
			n.store.Reset()
		}
		n.dropSnapshot("the event log lost messages since it was taken")
	} else {
		from = n.loadSnapshot(st)
	}
	n.applied.Store(from)
	n.logger.Info("replaying event log", "messages", st.Msgs, "from", from+1, "lastSeq", st.LastSeq)
	if st.Msgs == 0 || from >= st.LastSeq {
		n.markReady(started, st.LastSeq)
	}
	ctx, cancel := context.WithCancel(ctx)
	n.closeMu.Lock()
	n.cancel = cancel
	n.closeMu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { n.snapshotWhenAsked(ctx) })
	wg.Go(func() {
		n.clock.watch(ctx, n.opts.ClockProbeEvery, func(msg string, args ...any) { n.logger.Warn(msg, args...) })
	})
	wg.Go(func() { n.watchReplay(ctx, st) })
	wg.Go(func() { n.follow(ctx, from, st, started) })
	wg.Go(func() { n.writeMarks(ctx) })
	go func() {
		wg.Wait()
		close(n.stopped)
	}()
	return nil
}

// Close stops the fold and records the final mark, then writes a snapshot
// of what was applied, so that the next start replays nothing; it returns
// why that snapshot could not be written. Ingests still waiting for the
// fold wait on until their own time is up.
func (n *Node) Close() error {
	n.closeMu.Lock()
	cancel := n.cancel
	n.cancel = nil
	n.closeMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-n.stopped
	return n.finalSnapshot()
}

// follow folds the log from the message after from until ctx is done,
// marking the node ready once what the log held at start (st) is applied.
func (n *Node) follow(ctx context.Context, from uint64, st eventlog.State, started time.Time) {
	err := n.log.Follow(ctx, from+1, func(d eventlog.Delivery, err error) {
		n.pending.Store(d.Pending)
		n.foldMu.Lock()
		events := len(d.Batch.Events)
		n.applyLocked(d, err)
		n.maybeSnapshot(d, events)
		n.foldMu.Unlock()
		// Caught up: the last message present at start is applied, or none
		// is left (a log with lost messages may end before its LastSeq).
		if d.Seq >= st.LastSeq || d.Pending == 0 {
			n.markReady(started, st.LastSeq)
		}
	}, func(pending uint64) {
		n.pending.Store(pending)
		// A shard may have nothing in a log that holds other shards'
		// messages.
		if pending == 0 {
			n.markReady(started, st.LastSeq)
		}
	})
	if ctx.Err() == nil {
		n.fail(fmt.Errorf("follow the event log: %w", err))
	}
}

// snapshotWhenAsked begins the snapshots asked for by SnapshotNow while the
// fold is idle (the fold begins them itself when a message comes).
func (n *Node) snapshotWhenAsked(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.poke:
		}
		n.foldMu.Lock()
		n.snaps.mu.Lock()
		due := n.snaps.asked && !n.snaps.writing && len(n.partial) == 0 && n.snaps.path != ""
		n.snaps.mu.Unlock()
		if due && n.applied.Load() > 0 {
			n.beginSnapshot(store.SnapshotHeader{Seq: n.applied.Load(), LogTime: n.appliedTime.Load(), Stream: n.stream})
		}
		n.foldMu.Unlock()
	}
}

func (n *Node) markReady(started time.Time, lastSeq uint64) {
	n.readyOnce.Do(func() {
		st := n.store.Stats()
		n.logger.Info("event log replayed", "lastSeq", lastSeq, "accounts", st.Accounts,
			"series", st.Series, "dedupeKeys", st.DedupeKeys, "took", time.Since(started).Round(time.Millisecond))
		close(n.ready)
		// A replay leaves much garbage behind (the decoded log); give its
		// memory back to the system now rather than over minutes.
		go debug.FreeOSMemory()
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

// Failed is closed when the fold stops on its own (not by Close); Err says why.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err returns why the fold stopped, once Failed is closed.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		close(n.failed)
	})
}

// watchReplay fails the node when the replay stops making progress before it
// is done.
func (n *Node) watchReplay(ctx context.Context, st eventlog.State) {
	last, since := n.applied.Load(), time.Now()
	tick := time.NewTicker(n.opts.StallTimeout / 10)
	defer tick.Stop()
	for {
		select {
		case <-n.ready:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if cur := n.applied.Load(); cur != last {
			last, since = cur, time.Now()
			continue
		}
		if time.Since(since) >= n.opts.StallTimeout {
			n.fail(fmt.Errorf("the event log is damaged: its replay stopped after sequence %d of %d and made no progress for %s "+
				"(a message the store cannot read back); restore the data directory from a backup", last, st.LastSeq, n.opts.StallTimeout))
			return
		}
	}
}
