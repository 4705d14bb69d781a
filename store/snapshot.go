package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/convops/convops"
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
	// SnapshotVersion is the version of the format written; it and
	// snapshotVersionWithoutVersions are read, others refused. Version 2
	// keeps each account's version (Store.Version), so that every node
	// gives an account the same one after a restart.
	SnapshotVersion                = 2
	snapshotVersionWithoutVersions = 1
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

// captureAccount hands the snapshot being taken a copy of a, which the fold
// is about to change, if the snapshot needs it and has not got it yet.
// Locks of the fold and of a should be held.
func (s *Store) captureAccount(a *account) {
	sn := s.snap
	if sn == nil || a.listed != sn.epoch || a.snapped == sn.epoch {
		return
	}
	began := time.Now()
	cp := a.shallowCopy(sn.epoch)
	sn.held(began) // the fold waited for it
	sn.mu.Lock()
	sn.captured[a] = cp
	sn.mu.Unlock()
}

// shallowCopy copies a's lists and series, not their entries, which the
// copy shares with a until the snapshot of epoch releases a.
// Lock of a should be held.
func (a *account) shallowCopy(epoch uint32) *account {
	cp := &account{id: a.id, swept: a.swept, total: a.total, version: a.version}
	cp.skills = idList[skill]{ids: slices.Clone(a.skills.ids), items: slices.Clone(a.skills.items), sorted: len(a.skills.ids)}
	for i := range cp.skills.items {
		sk := &cp.skills.items[i]
		sk.agents = idList[series]{ids: slices.Clone(sk.agents.ids), items: slices.Clone(sk.agents.items), sorted: len(sk.agents.ids)}
	}
	cp.agents = idList[series]{ids: slices.Clone(a.agents.ids), items: slices.Clone(a.agents.items), sorted: len(a.agents.ids)}
	a.snapped, a.heldBy = epoch, epoch
	return cp
}

// takeShard keeps a copy of a dedupe shard the fold is about to change.
// Lock of the fold should be held.
func (sn *Snapshot) takeShard(sh *dedupeShard) {
	c := shardCopy{slots: slices.Clone(sh.slots), used: sh.used}
	sh.snapped = sn.epoch
	sn.mu.Lock()
	sn.shards[sh.id] = c
	sn.mu.Unlock()
}

// WriteTo writes the snapshot to w.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	sw := newSnapshotWriter(w)
	sw.bytes([]byte(snapshotMagic))
	sw.u32(SnapshotVersion)
	h := sn.header
	sw.u64(h.Seq)
	sw.i64(h.LogTime)
	sw.i64(h.Stream)
	sw.i64(h.Clock)
	sw.u32(sn.horizon)

	// The dedupe index.
	sw.u32(sn.dedupeHor)
	sw.u64(uint64(sn.liveTotal))
	buckets := make([]uint32, 0, len(sn.live))
	for b := range sn.live {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	sw.u32(uint32(len(buckets)))
	for _, b := range buckets {
		sw.u32(b)
		sw.u64(uint64(sn.live[b]))
	}
	sw.u32(dedupeShards)
	d := sn.s.dedupe
	var scratch []dedupeSlot // one shard at a time, copied while the fold waits
	for i := range d.shards {
		c, ok := sn.takenShard(i)
		if !ok {
			// Not changed since the snapshot began: copied while the fold
			// waits (one shard is a small part of the index), and written
			// after: a write may wait for the disk, the fold must not.
			sn.s.fold.Lock()
			began := time.Now()
			sh := &d.shards[i]
			if sh.snapped != sn.epoch {
				scratch = append(scratch[:0], sh.slots...)
				c = shardCopy{slots: scratch, used: sh.used}
				sh.snapped = sn.epoch
				ok = true
			}
			sn.s.fold.Unlock()
			sn.held(began)
			if !ok {
				c, _ = sn.takenShard(i) // handed over by the fold in between
			}
		}
		sw.shard(c.slots, c.used)
	}

	// The accounts.
	sw.u32(uint32(len(sn.accounts)))
	var buf []byte
	for _, a := range sn.accounts {
		a.mu.Lock()
		began := time.Now()
		var cp *account
		if a.snapped != sn.epoch {
			cp = a.shallowCopy(sn.epoch)
		}
		a.mu.Unlock()
		sn.held(began)
		if cp == nil {
			sn.mu.Lock()
			cp = sn.captured[a]
			delete(sn.captured, a)
			sn.mu.Unlock()
		}
		buf = sw.account(cp, buf)
		sn.release(a)
	}
	return sw.finish()
}

// takenShard returns, and forgets, the copy of shard i the fold handed over.
func (sn *Snapshot) takenShard(i int) (shardCopy, bool) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	c, ok := sn.shards[i]
	delete(sn.shards, i)
	return c, ok
}

// account writes an account, after its length: its id, the horizon it was
// swept to, its version, its series, its skills with their agents, its
// agents. It is
// encoded into buf a few series at a time: one account may be most of the
// store, and a buffer as large would stall the process that allocates it.
// It returns buf for the next account.
func (sw *snapshotWriter) account(a *account, buf []byte) []byte {
	size := accountSize(a)
	sw.u32(uint32(size))
	start := sw.n
	b := buf[:0]
	b = binary.LittleEndian.AppendUint16(b, uint16(len(a.id)))
	b = append(b, a.id...)
	b = binary.LittleEndian.AppendUint32(b, a.swept)
	b = binary.LittleEndian.AppendUint64(b, a.version)
	b = appendSeries(b, &a.total)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(a.skills.ids)))
	for i, id := range a.skills.ids {
		sk := &a.skills.items[i]
		b = binary.LittleEndian.AppendUint64(b, uint64(id))
		b = appendSeries(b, &sk.total)
		b = sw.seriesList(b, &sk.agents)
	}
	b = sw.seriesList(b, &a.agents)
	sw.bytes(b)
	if sw.err == nil && sw.n-start != int64(size) {
		sw.err = fmt.Errorf("store: account %q encoded in %d bytes, not the %d its length says", a.id, sw.n-start, size)
	}
	return b[:0]
}

// seriesList appends a list of series to b, handing b to the writer
// whenever it holds a megabyte.
func (sw *snapshotWriter) seriesList(b []byte, l *idList[series]) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l.ids)))
	for i, id := range l.ids {
		b = binary.LittleEndian.AppendUint64(b, uint64(id))
		b = appendSeries(b, &l.items[i])
		if len(b) >= 1<<20 {
			sw.bytes(b)
			b = b[:0]
		}
	}
	return b
}

// accountSize is the length of the encoding of a that account writes.
func accountSize(a *account) int {
	n := 2 + len(a.id) + 4 + 8 + seriesSize(&a.total) + 4
	for i := range a.skills.items {
		sk := &a.skills.items[i]
		n += 8 + seriesSize(&sk.total) + listSize(&sk.agents)
	}
	return n + listSize(&a.agents)
}

func listSize(l *idList[series]) int {
	n := 4
	for i := range l.items {
		n += 8 + seriesSize(&l.items[i])
	}
	return n
}

func seriesSize(s *series) int { return entryBytes + 4 + len(s.entries)*entryBytes }

func appendSeries(b []byte, s *series) []byte {
	b = appendEntries(b, unsafe.Slice(&s.head, 1))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.entries)))
	return appendEntries(b, s.entries)
}

// appendEntries appends entries as 40 bytes each: bucket, the three counts,
// the three handling sums, little-endian. On a little-endian machine that is
// how they lie in memory, and they are copied whole.
func appendEntries(b []byte, entries []entry) []byte {
	if len(entries) == 0 {
		return b
	}
	if littleEndian {
		return append(b, unsafe.Slice((*byte)(unsafe.Pointer(&entries[0])), len(entries)*entryBytes)...)
	}
	for i := range entries {
		e := &entries[i]
		b = binary.LittleEndian.AppendUint32(b, e.bucket)
		for _, c := range e.count {
			b = binary.LittleEndian.AppendUint32(b, c)
		}
		for _, h := range e.handling {
			b = binary.LittleEndian.AppendUint64(b, uint64(h))
		}
	}
	return b
}

// littleEndian is true on the machines whose memory is laid out as the
// file is.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func init() {
	// The fast paths copy entries and slots as they lie in memory.
	if unsafe.Sizeof(entry{}) != entryBytes || unsafe.Sizeof(dedupeSlot{}) != dedupeSlotBytes {
		panic("store: entry or dedupe slot is not of the size the snapshot format assumes")
	}
}

// snapshotWriter writes through a buffer and a CRC-32C, and remembers the
// first error.
type snapshotWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	n   int64
	err error
	tmp [8]byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newSnapshotWriter(w io.Writer) *snapshotWriter {
	crc := crc32.New(castagnoli)
	return &snapshotWriter{w: bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20), crc: crc}
}

func (sw *snapshotWriter) bytes(b []byte) {
	if sw.err == nil {
		var n int
		n, sw.err = sw.w.Write(b)
		sw.n += int64(n)
	}
}

func (sw *snapshotWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(sw.tmp[:4], v)
	sw.bytes(sw.tmp[:4])
}

func (sw *snapshotWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(sw.tmp[:], v)
	sw.bytes(sw.tmp[:])
}

func (sw *snapshotWriter) i64(v int64) { sw.u64(uint64(v)) }

func (sw *snapshotWriter) shard(slots []dedupeSlot, used int) {
	sw.u32(uint32(len(slots)))
	sw.u32(uint32(used))
	sw.slots(slots)
}

func (sw *snapshotWriter) slots(slots []dedupeSlot) {
	if len(slots) == 0 {
		return
	}
	if littleEndian {
		sw.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&slots[0])), len(slots)*dedupeSlotBytes))
		return
	}
	for _, s := range slots {
		for _, k := range s.key {
			sw.u32(k)
		}
		sw.u32(s.keep)
	}
}

// finish writes the checksum of all written so far and the end mark.
func (sw *snapshotWriter) finish() (int64, error) {
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err != nil {
		return sw.n, sw.err
	}
	sum := sw.crc.Sum32()
	var tail [4 + len(snapshotEndMagic)]byte
	binary.LittleEndian.PutUint32(tail[:4], sum)
	copy(tail[4:], snapshotEndMagic)
	n, err := sw.w.Write(tail[:])
	sw.n += int64(n)
	if err == nil {
		err = sw.w.Flush()
	}
	return sw.n, err
}

// Reset empties the store: what it held is dropped.
func (s *Store) Reset() {
	s.fold.Lock()
	defer s.fold.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts, s.clock, s.horizon = make(map[string]*account), 0, 0
	s.dedupe, s.expiry = newDedupeIndex(), make(map[uint32][]*account)
	s.publishDedupeStats()
}

// Load replaces the state of an empty store by the snapshot read from r,
// and returns what the snapshot covers. size is the length of r. Any
// damage, a cut, or another version is an error wrapping ErrBadSnapshot,
// and leaves the store as it was.
func (s *Store) Load(r io.Reader, size int64) (SnapshotHeader, error) {
	loaded, h, err := LoadSnapshot(r, size, s.opts)
	if err != nil {
		return h, err
	}
	s.fold.Lock()
	defer s.fold.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.accounts) > 0 || s.clock != 0 {
		return h, errors.New("a snapshot is loaded into an empty store only")
	}
	s.accounts, s.clock, s.horizon, s.dedupe, s.expiry = loaded.accounts, loaded.clock, loaded.horizon, loaded.dedupe, loaded.expiry
	s.publishDedupeStats()
	return h, nil
}

// LoadSnapshot reads a snapshot written by WriteTo into a new store with
// opts, and returns what the snapshot covers. size is the length of r, so
// that no length read from a damaged file makes it allocate more than the
// file could hold. Any damage, a cut, or another version is an error
// wrapping ErrBadSnapshot, and no store.
func LoadSnapshot(r io.Reader, size int64, opts Options) (*Store, SnapshotHeader, error) {
	sr := &snapshotReader{r: bufio.NewReaderSize(r, 1<<20), crc: crc32.New(castagnoli), left: size}
	var h SnapshotHeader
	if magic := sr.bytes(len(snapshotMagic)); sr.err == nil && string(magic) != snapshotMagic {
		return nil, h, fmt.Errorf("%w: not a convops snapshot", ErrBadSnapshot)
	}
	if sr.version = sr.u32(); sr.err == nil && sr.version != SnapshotVersion && sr.version != snapshotVersionWithoutVersions {
		return nil, h, fmt.Errorf("%w: version %d, this server reads versions %d and %d", ErrBadSnapshot, sr.version, snapshotVersionWithoutVersions, SnapshotVersion)
	}
	h.Seq, h.LogTime, h.Stream, h.Clock = sr.u64(), sr.i64(), sr.i64(), sr.i64()
	s := New(opts)
	s.clock, s.horizon = h.Clock, sr.u32()

	d := s.dedupe
	d.horizon = sr.u32()
	d.liveTotal = int(sr.u64())
	for range sr.count(12) {
		b := sr.u32()
		d.live[b] = int(sr.u64())
	}
	if n := sr.u32(); sr.err == nil && n != dedupeShards {
		return nil, h, fmt.Errorf("%w: %d dedupe shards, not %d", ErrBadSnapshot, n, dedupeShards)
	}
	for i := range d.shards {
		sh := &d.shards[i]
		n := sr.count(dedupeSlotBytes)
		sh.used = int(sr.u32())
		sh.slots = sr.slots(n)
		d.slots += len(sh.slots)
		if sr.err == nil && (sh.used > len(sh.slots) || len(sh.slots) > 0 && len(sh.slots) < minShardSlots) {
			sr.fail("dedupe shard %d: %d of %d slots used", i, sh.used, len(sh.slots))
		}
	}

	for range sr.count(8) {
		recordSize := sr.u32()
		start := sr.read
		a := sr.account()
		if sr.err == nil && sr.read-start != int64(recordSize) {
			sr.fail("account %q: record of %d bytes, read %d", a.id, recordSize, sr.read-start)
		}
		if sr.err != nil {
			break
		}
		if _, dup := s.accounts[a.id]; dup || a.total.empty() {
			sr.fail("account %q twice, or without data", a.id)
			break
		}
		s.accounts[a.id] = a
		if sr.version == snapshotVersionWithoutVersions {
			a.version = h.Seq // not kept: the snapshot's own, until a batch adds to it
		}
		a.queued = a.total.first()
		s.expiry[a.queued] = append(s.expiry[a.queued], a)
	}

	sum := sr.crc.Sum32()
	tail := sr.bytesNoCRC(4 + len(snapshotEndMagic))
	if sr.err != nil {
		return nil, h, fmt.Errorf("%w: %v", ErrBadSnapshot, sr.err)
	}
	if binary.LittleEndian.Uint32(tail[:4]) != sum || string(tail[4:]) != snapshotEndMagic {
		return nil, h, fmt.Errorf("%w: its checksum does not match its content", ErrBadSnapshot)
	}
	if sr.left != 0 {
		return nil, h, fmt.Errorf("%w: %d bytes after its end", ErrBadSnapshot, sr.left)
	}
	s.publishDedupeStats()
	return s, h, nil
}

// snapshotReader reads what snapshotWriter wrote, checking every length
// against what is left of the file, and remembers the first problem.
type snapshotReader struct {
	version uint32 // of the format
	r       *bufio.Reader
	crc     hash.Hash32
	left    int64 // bytes of the file not read yet
	read    int64
	err     error
	tmp     [8]byte
}

func (sr *snapshotReader) fail(format string, args ...any) {
	if sr.err == nil {
		sr.err = fmt.Errorf(format, args...)
	}
}

// fill reads len(b) bytes into b.
func (sr *snapshotReader) fill(b []byte, crc bool) {
	if sr.err != nil {
		clear(b)
		return
	}
	if int64(len(b)) > sr.left {
		sr.fail("cut short: %d bytes wanted, %d left", len(b), sr.left)
		clear(b)
		return
	}
	if _, err := io.ReadFull(sr.r, b); err != nil {
		sr.fail("read: %v", err)
		clear(b)
		return
	}
	sr.left -= int64(len(b))
	sr.read += int64(len(b))
	if crc {
		sr.crc.Write(b)
	}
}

func (sr *snapshotReader) bytes(n int) []byte {
	if int64(n) > sr.left {
		sr.fail("cut short")
		return make([]byte, 0)
	}
	b := make([]byte, n)
	sr.fill(b, true)
	return b
}

func (sr *snapshotReader) bytesNoCRC(n int) []byte {
	b := make([]byte, n)
	sr.fill(b, false)
	return b
}

func (sr *snapshotReader) u32() uint32 {
	sr.fill(sr.tmp[:4], true)
	return binary.LittleEndian.Uint32(sr.tmp[:4])
}

func (sr *snapshotReader) u64() uint64 {
	sr.fill(sr.tmp[:], true)
	return binary.LittleEndian.Uint64(sr.tmp[:])
}

func (sr *snapshotReader) i64() int64 { return int64(sr.u64()) }

// count reads a number of items of at least itemBytes each, refusing one
// that the rest of the file could not hold.
func (sr *snapshotReader) count(itemBytes int) int {
	n := int64(sr.u32())
	if n*int64(itemBytes) > sr.left {
		sr.fail("%d items of %d bytes cannot fit in the %d bytes left", n, itemBytes, sr.left)
		return 0
	}
	return int(n)
}

func (sr *snapshotReader) slots(n int) []dedupeSlot {
	if n == 0 || sr.err != nil {
		return nil
	}
	slots := make([]dedupeSlot, n)
	if littleEndian {
		sr.fill(unsafe.Slice((*byte)(unsafe.Pointer(&slots[0])), n*dedupeSlotBytes), true)
		return slots
	}
	for i := range slots {
		for k := range slots[i].key {
			slots[i].key[k] = sr.u32()
		}
		slots[i].keep = sr.u32()
	}
	return slots
}

func (sr *snapshotReader) entries(n int) []entry {
	if n == 0 || sr.err != nil {
		return nil
	}
	entries := make([]entry, n)
	if littleEndian {
		sr.fill(unsafe.Slice((*byte)(unsafe.Pointer(&entries[0])), n*entryBytes), true)
		return entries
	}
	for i := range entries {
		e := &entries[i]
		e.bucket = sr.u32()
		for r := range e.count {
			e.count[r] = sr.u32()
		}
		for r := range e.handling {
			e.handling[r] = sr.i64()
		}
	}
	return entries
}

// series reads a series and checks that its buckets ascend.
func (sr *snapshotReader) series() series {
	var s series
	if head := sr.entries(1); len(head) == 1 {
		s.head = head[0]
	}
	s.entries = sr.entries(sr.count(entryBytes))
	prev := uint32(0)
	for i := range s.entries {
		if s.entries[i].bucket <= prev {
			sr.fail("series out of order")
			return series{}
		}
		prev = s.entries[i].bucket
	}
	if !s.empty() && s.head.bucket <= prev || s.empty() && len(s.entries) > 0 {
		sr.fail("series out of order")
		return series{}
	}
	return s
}

// seriesList reads a list of series by ascending id.
func (sr *snapshotReader) seriesList() idList[series] {
	var l idList[series]
	n := sr.count(8 + entryBytes + 4)
	for range n {
		id := int64(sr.u64())
		s := sr.series()
		if sr.err != nil {
			return idList[series]{}
		}
		if len(l.ids) > 0 && id <= l.ids[len(l.ids)-1] || s.empty() {
			sr.fail("ids out of order, or a series without data")
			return idList[series]{}
		}
		l.ids = append(l.ids, id)
		l.items = append(l.items, s)
	}
	l.sorted = len(l.ids)
	return l
}

func (sr *snapshotReader) u16() uint16 {
	sr.fill(sr.tmp[:2], true)
	return binary.LittleEndian.Uint16(sr.tmp[:2])
}

// account reads what snapshotWriter.account wrote, checking ids and order.
func (sr *snapshotReader) account() *account {
	id := string(sr.bytes(int(sr.u16())))
	a := &account{id: id}
	if sr.err == nil && convops.ValidateAccountID(id) != nil {
		sr.fail("account id %q", id)
	}
	a.swept = sr.u32()
	if sr.version != snapshotVersionWithoutVersions {
		a.version = sr.u64()
	}
	a.total = sr.series()
	for range sr.count(8 + entryBytes + 4 + 4) {
		id := int64(sr.u64())
		sk := skill{total: sr.series(), agents: sr.seriesList()}
		if sr.err != nil {
			return a
		}
		if len(a.skills.ids) > 0 && id <= a.skills.ids[len(a.skills.ids)-1] || sk.total.empty() {
			sr.fail("account %q: skills out of order, or one without data", a.id)
			return a
		}
		a.skills.ids = append(a.skills.ids, id)
		a.skills.items = append(a.skills.items, sk)
	}
	a.skills.sorted = len(a.skills.ids)
	a.agents = sr.seriesList()
	return a
}
