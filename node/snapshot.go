package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/store"
)

// Defaults of when snapshots are taken.
const (
	DefaultSnapshotInterval = 5 * time.Minute
	DefaultSnapshotEvents   = 2_000_000
	// maxSnapshotGap is the least time between the end of one snapshot and
	// the beginning of the next, whatever the rate of events (or the
	// interval, when that is shorter).
	maxSnapshotGap = 10 * time.Second
)

// snapshots takes the node's snapshots: one when SnapshotInterval has
// passed or SnapshotEvents have been applied since the last, one at a
// graceful stop, one when asked. Each is written to a temporary file,
// fsynced, and renamed over the last: a crash at any moment leaves the last
// good one. It is started by the fold goroutine, between two messages, and
// written by a goroutine of its own while the fold goes on.
//
// Locking: mu guards the fields below it.
type snapshots struct {
	path     string // empty: no snapshots
	interval time.Duration
	events   int

	mu      sync.Mutex
	writing bool
	done    chan struct{} // closed when the snapshot being written is
	last    time.Time     // when the last one ended (or the node started)
	lastSeq uint64        // the log message the last one covers
	since   int           // events applied since the last began
	asked   bool          // one was asked for (SnapshotNow)
	took    time.Duration // how long the last took
	err     error         // why the last failed, nil when it did not
}

// SnapshotStats describes the node's snapshots.
type SnapshotStats struct {
	Seq  uint64        // the log message the last covers; 0 when there is none
	At   time.Time     // when it was written
	Took time.Duration // how long writing it took
}

// SnapshotStats describes the last snapshot written.
func (n *Node) SnapshotStats() SnapshotStats {
	n.snaps.mu.Lock()
	defer n.snaps.mu.Unlock()
	if n.snaps.lastSeq == 0 {
		return SnapshotStats{}
	}
	return SnapshotStats{Seq: n.snaps.lastSeq, At: n.snaps.last, Took: n.snaps.took}
}

// SnapshotNow asks for a snapshot at the next message the fold applies, or
// at once when the fold is idle; it does not wait for it.
func (n *Node) SnapshotNow() {
	n.snaps.mu.Lock()
	n.snaps.asked = true
	n.snaps.mu.Unlock()
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// Preload is a snapshot being loaded into a store while the event log
// opens: both take time at start, and they need not wait for each other.
type Preload struct {
	path   string
	done   chan struct{}
	header store.SnapshotHeader
	size   int64
	took   time.Duration
	err    error // why it was not loaded; os.ErrNotExist without one
}

// PreloadSnapshot starts loading the snapshot at path into st, which must
// be empty; Options.Preload hands the result to the node, which checks it
// against the log before it trusts it.
func PreloadSnapshot(path string, st *store.Store) *Preload {
	p := &Preload{path: path, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.header, p.size, p.took, p.err = loadSnapshotFile(path, st)
	}()
	return p
}

// loadSnapshotFile loads the snapshot at path into st. The collector is
// off meanwhile: a load makes no garbage, and a heap growing from nothing
// to its full size would be collected a dozen times on the way.
func loadSnapshotFile(path string, st *store.Store) (store.SnapshotHeader, int64, time.Duration, error) {
	var h store.SnapshotHeader
	f, err := os.Open(path)
	if err != nil {
		return h, 0, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return h, 0, 0, err
	}
	started := time.Now()
	gc := debug.SetGCPercent(-1)
	h, err = st.Load(f, info.Size())
	debug.SetGCPercent(gc)
	return h, info.Size(), time.Since(started), err
}

// loadSnapshot loads the node's snapshot, if it has a good one for this
// log, and returns the log message it covers (0 without one). A snapshot
// that cannot be trusted is named in the log and ignored: the whole log is
// replayed instead.
func (n *Node) loadSnapshot(st eventlog.State) uint64 {
	path := n.snaps.path
	if path == "" {
		return 0
	}
	if os.Remove(path+".tmp") == nil {
		n.logger.Info("removed a snapshot cut short by a crash", "path", path+".tmp")
	}
	p := n.opts.Preload
	if p == nil || p.path != path {
		p = PreloadSnapshot(path, n.store)
	}
	<-p.done
	ignore := func(why string, args ...any) uint64 {
		n.store.Reset()
		n.logger.Warn("ignoring the snapshot; the whole event log is replayed instead: "+why, append([]any{"path", path}, args...)...)
		return 0
	}
	switch {
	case errors.Is(p.err, os.ErrNotExist):
		return 0
	case errors.Is(p.err, store.ErrBadSnapshot):
		return ignore("it is damaged or of another version", "err", p.err)
	case p.err != nil:
		return ignore("it cannot be read", "err", p.err)
	case p.header.Stream != st.Created:
		return ignore("it was taken of another event log (the stream was created anew)")
	case p.header.Seq > st.LastSeq:
		return ignore(fmt.Sprintf("it covers the log up to message %d, but the log ends at %d", p.header.Seq, st.LastSeq))
	}
	n.snaps.lastSeq, n.snaps.last = p.header.Seq, time.Now()
	stats := n.store.Stats()
	n.logger.Info("snapshot loaded", "seq", p.header.Seq, "accounts", stats.Accounts, "series", stats.Series,
		"dedupeKeys", stats.DedupeKeys, "bytes", p.size, "took", p.took.Round(time.Millisecond))
	return p.header.Seq
}

// dropSnapshot removes the node's snapshot, saying why.
func (n *Node) dropSnapshot(why string) {
	if n.snaps.path == "" {
		return
	}
	if err := os.Remove(n.snaps.path); err == nil {
		n.logger.Warn("snapshot dropped: "+why, "path", n.snaps.path)
	}
}

// maybeSnapshot begins a snapshot after message d when one is due. It runs
// in the fold goroutine, between two messages.
func (n *Node) maybeSnapshot(d eventlog.Delivery, events int) {
	sn := &n.snaps
	if sn.path == "" {
		return
	}
	sn.mu.Lock()
	sn.since += events
	due := !sn.writing && len(n.partial) == 0 && time.Since(sn.last) >= min(maxSnapshotGap, sn.interval) &&
		(sn.asked || time.Since(sn.last) >= sn.interval || sn.since >= sn.events)
	sn.mu.Unlock()
	if due {
		n.beginSnapshot(store.SnapshotHeader{Seq: d.Seq, LogTime: d.Time, Stream: n.stream})
	}
}

// beginSnapshot begins a snapshot covering the log up to h.Seq and writes
// it in the background.
func (n *Node) beginSnapshot(h store.SnapshotHeader) {
	snap, err := n.store.BeginSnapshot(h)
	if err != nil {
		n.logger.Warn("cannot begin a snapshot", "err", err)
		return
	}
	sn := &n.snaps
	sn.mu.Lock()
	sn.writing, sn.asked, sn.since = true, false, 0
	done := make(chan struct{})
	sn.done = done
	sn.mu.Unlock()
	go func() {
		defer close(done)
		started := time.Now()
		size, err := writeSnapshot(sn.path, snap)
		snap.End()
		took := time.Since(started)
		sn.mu.Lock()
		sn.writing = false
		sn.last = time.Now()
		sn.err = err
		if err == nil {
			sn.lastSeq, sn.took = h.Seq, took
		}
		sn.mu.Unlock()
		if err != nil {
			n.logger.Error("cannot write a snapshot; the next start replays more of the log", "err", err)
			return
		}
		n.logger.Info("snapshot written", "seq", h.Seq, "bytes", size, "took", took.Round(time.Millisecond),
			"longestLockHeld", snap.LongestHold().Round(time.Microsecond))
	}()
}

// waitSnapshot waits for the snapshot being written, if there is one.
func (n *Node) waitSnapshot() {
	n.snaps.mu.Lock()
	done, writing := n.snaps.done, n.snaps.writing
	n.snaps.mu.Unlock()
	if writing {
		<-done
	}
}

// finalSnapshot writes a snapshot when the fold has stopped, if anything
// was applied since the last one, so that the next start replays nothing;
// it returns why that snapshot could not be written.
func (n *Node) finalSnapshot() error {
	n.waitSnapshot()
	seq, t := n.applied.Load(), n.appliedTime.Load()
	n.snaps.mu.Lock()
	due := n.snaps.path != "" && seq > n.snaps.lastSeq && len(n.partial) == 0
	n.snaps.mu.Unlock()
	if !due {
		return nil
	}
	n.beginSnapshot(store.SnapshotHeader{Seq: seq, LogTime: t, Stream: n.stream})
	n.waitSnapshot()
	n.snaps.mu.Lock()
	defer n.snaps.mu.Unlock()
	if n.snaps.err != nil {
		return fmt.Errorf("write the final snapshot: %w", n.snaps.err)
	}
	return nil
}

// writeSnapshot writes snap to path atomically: a temporary file, fsynced,
// renamed over path, and the directory fsynced, so that path holds the old
// snapshot or the new one, whole, whatever happens.
func writeSnapshot(path string, snap *store.Snapshot) (int64, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	size, err := snap.WriteTo(&syncingWriter{f: f})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return size, fmt.Errorf("write snapshot %s: %w", path, err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return size, nil
}

// syncingWriter writes to f and fsyncs it every syncEvery bytes: the disk
// then takes a snapshot in steps, between the fsyncs of the event log,
// instead of one flush of hundreds of megabytes that every ingest's fsync
// would queue behind.
type syncingWriter struct {
	f       *os.File
	written int64
}

const syncEvery = 16 << 20

func (w *syncingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	before := w.written
	w.written += int64(n)
	if err == nil && before/syncEvery != w.written/syncEvery {
		err = w.f.Sync()
	}
	return n, err
}
