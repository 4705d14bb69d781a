package store

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A snapshot is the store as of one message of the log, written while the
// fold goes on, so that a restart loads it and replays only the messages
// after it.
//
// It is consistent without stopping the fold: when a snapshot begins, the
// fold notes every account and dedupe shard there is; from then on, before
// it changes one that the snapshot has not taken yet, it hands the snapshot
// a copy. An account's copy is shallow: its lists and its series, not their
// entries, which it shares with the account until the snapshot has written
// it; while it does, the fold copies a series' entries before it changes
// them in place (appending changes nothing the snapshot sees). A shard's
// copy is its slots. The writer takes the others itself, one at a time,
// holding an account's lock for the length of a shallow copy, or the fold's
// for the length of writing one shard. The fold waits at most for one such
// copy, a query for one shallow copy.
//
// The file holds the state as it is in memory, little-endian and
// fixed-size, so that loading is mostly reading: a header, the dedupe index
// (its slots as they are, empty ones included), the accounts with their
// series, and a CRC-32C of it all. A file that is cut, damaged, or of
// another version is refused whole.

const (
	snapshotMagic    = "CONVOPS SNAPSHOT"
	snapshotEndMagic = "CONVOPS SNAP END"
	// SnapshotVersion is the version of the format written, and the only
	// one read. Version 3 kept the histograms of handling time, version 4
	// keeps a bucket's histogram of one cell in its entry; a snapshot of an
	// older version is refused and the log replayed whole, which rebuilds
	// them (the log holds the whole retention window).
	SnapshotVersion = 4
)

// ErrBadSnapshot is returned for a snapshot that cannot be used.
var ErrBadSnapshot = errors.New("bad snapshot")

// SnapshotHeader is what a snapshot says of itself.
type SnapshotHeader struct {
	Seq     uint64 // the last log message the state covers
	LogTime int64  // when the log stored it (epoch ms)
	Stream  int64  // when the stream was created (epoch ns): which log
	Clock   int64  // the fold's clock
}

// Snapshot is a snapshot being taken: BeginSnapshot starts it, WriteTo
// writes it, End ends it.
type Snapshot struct {
	s       *Store
	epoch   uint32
	header  SnapshotHeader
	horizon uint32
	// The accounts as of the snapshot, by id; and the dedupe index's
	// own counts.
	accounts  []*account
	live      map[uint32]int
	liveTotal int
	dedupeHor uint32

	mu       sync.Mutex // guards the two below
	captured map[*account]*account
	shards   map[int]shardCopy

	// longestHold is the longest the snapshot held a lock the fold or a
	// query waits for (ns): what a snapshot costs the others.
	longestHold atomic.Int64
}

// held notes that a lock the snapshot held since began is released now.
func (sn *Snapshot) held(began time.Time) {
	d := int64(time.Since(began))
	for {
		old := sn.longestHold.Load()
		if d <= old || sn.longestHold.CompareAndSwap(old, d) {
			return
		}
	}
}

// LongestHold is the longest the snapshot has held the fold's lock or an
// account's, to copy what it writes: the longest it made an ingest or a
// query wait.
func (sn *Snapshot) LongestHold() time.Duration { return time.Duration(sn.longestHold.Load()) }

// shardCopy is a dedupe shard as of the snapshot.
type shardCopy struct {
	slots []dedupeSlot
	used  int
}

// BeginSnapshot starts a snapshot of the store as it is now, after the
// batches applied so far: h says which log message that is. Only one
// snapshot is taken at a time.
func (s *Store) BeginSnapshot(h SnapshotHeader) (*Snapshot, error) {
	s.fold.Lock()
	defer s.fold.Unlock()
	began := time.Now()
	if s.snap != nil {
		return nil, errors.New("a snapshot is being taken")
	}
	s.epoch++
	sn := &Snapshot{s: s, epoch: s.epoch, header: h, horizon: s.horizon,
		captured: make(map[*account]*account), shards: make(map[int]shardCopy)}
	defer sn.held(began)
	sn.header.Clock = s.clock
	s.mu.RLock()
	for _, a := range s.accounts {
		sn.accounts = append(sn.accounts, a)
	}
	s.mu.RUnlock()
	slices.SortFunc(sn.accounts, func(x, y *account) int { return strings.Compare(x.id, y.id) })
	for _, a := range sn.accounts {
		a.listed = sn.epoch
	}
	sn.live = make(map[uint32]int, len(s.dedupe.live))
	for b, n := range s.dedupe.live {
		sn.live[b] = n
	}
	sn.liveTotal, sn.dedupeHor = s.dedupe.liveTotal, s.dedupe.horizon
	s.snap, s.dedupe.snap = sn, sn
	return sn, nil
}

// End ends the snapshot; the fold stops handing it copies, and no account
// shares its entries with it any more.
func (sn *Snapshot) End() {
	sn.s.fold.Lock()
	if sn.s.snap == sn {
		sn.s.snap, sn.s.dedupe.snap = nil, nil
	}
	sn.s.fold.Unlock()
	for _, a := range sn.accounts {
		sn.release(a)
	}
	sn.mu.Lock()
	sn.captured, sn.shards = nil, nil
	sn.mu.Unlock()
}

// release ends the sharing of a's entries with the snapshot.
func (sn *Snapshot) release(a *account) {
	a.mu.Lock()
	if a.heldBy == sn.epoch {
		a.heldBy = 0
	}
	a.mu.Unlock()
}

// Header says which message of the log the snapshot covers.
func (sn *Snapshot) Header() SnapshotHeader { return sn.header }

// captureAccountLocked hands the snapshot being taken a copy of a, which the fold
// is about to change, if the snapshot needs it and has not got it yet.
// Locks of the fold and of a should be held.
func (s *Store) captureAccountLocked(a *account) {
	sn := s.snap
	if sn == nil || a.listed != sn.epoch || a.snapped == sn.epoch {
		return
	}
	began := time.Now()
	cp := a.shallowCopyLocked(sn.epoch)
	sn.held(began) // the fold waited for it
	sn.mu.Lock()
	sn.captured[a] = cp
	sn.mu.Unlock()
}

// shallowCopyLocked copies a's lists and series, not their entries, which the
// copy shares with a until the snapshot of epoch releases a.
// Lock of a should be held.
func (a *account) shallowCopyLocked(epoch uint32) *account {
	cp := &account{id: a.id, swept: a.swept, total: a.total.shallowCopy(), version: a.version}
	cp.skills = idList[skill]{ids: slices.Clone(a.skills.ids), items: slices.Clone(a.skills.items), sorted: len(a.skills.ids)}
	for i := range cp.skills.items {
		sk := &cp.skills.items[i]
		sk.total = sk.total.shallowCopy()
		sk.agents = idList[series]{ids: slices.Clone(sk.agents.ids), items: slices.Clone(sk.agents.items), sorted: len(sk.agents.ids)}
		copyHeads(sk.agents.items)
	}
	cp.agents = idList[series]{ids: slices.Clone(a.agents.ids), items: slices.Clone(a.agents.items), sorted: len(a.agents.ids)}
	copyHeads(cp.agents.items)
	a.snapped, a.heldBy = epoch, epoch
	return cp
}

// shallowCopy returns s sharing its older entries and cells, which the
// fold copies before changing them in place while a snapshot holds them.
// The head's cells and the late cells, which the fold changes in place
// always, are copied; the whole histogram, which a snapshot does not
// write, is left out.
func (s series) shallowCopy() series {
	if s.headDense != nil {
		s.head.cell, s.headCells = denseCells(s.headDense, nil)
	} else {
		s.headCells = slices.Clone(s.headCells)
	}
	s.late = slices.Clone(s.late)
	s.all, s.headDense = nil, nil
	return s
}

// copyHeads makes the series of a copied list shallow copies.
func copyHeads(items []series) {
	for i := range items {
		items[i] = items[i].shallowCopy()
	}
}

// takeShardLocked keeps a copy of a dedupe shard the fold is about to change.
// Lock of the fold should be held.
func (sn *Snapshot) takeShardLocked(sh *dedupeShard) {
	c := shardCopy{slots: slices.Clone(sh.slots), used: sh.used}
	sh.snapped = sn.epoch
	sn.mu.Lock()
	sn.shards[sh.id] = c
	sn.mu.Unlock()
}
