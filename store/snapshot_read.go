package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"unsafe"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

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
	if sr.version = sr.u32(); sr.err == nil && sr.version != SnapshotVersion {
		return nil, h, fmt.Errorf("%w: version %d, this server reads version %d", ErrBadSnapshot, sr.version, SnapshotVersion)
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
		e.cells = sr.u32()
		e.cell = sr.u32()
		for r := range e.handling {
			e.handling[r] = sr.i64()
		}
	}
	return entries
}

// cells reads a histogram's cells.
func (sr *snapshotReader) cells(n int) []histogram.Cell {
	if n == 0 || sr.err != nil {
		return nil
	}
	cells := make([]histogram.Cell, n)
	if littleEndian {
		sr.fill(unsafe.Slice((*byte)(unsafe.Pointer(&cells[0])), n*cellBytes), true)
		return cells
	}
	for i := range cells {
		cells[i] = sr.u32()
	}
	return cells
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
	s.head.cells = 0
	s.cells = sr.cells(sr.count(cellBytes))
	s.headCells = sr.cells(sr.count(cellBytes))
	if sr.err != nil {
		return series{}
	}
	// Each bucket's histogram is one valid cell in its entry or valid
	// cells within the array, the head's too: a damaged one would be read
	// out of its bounds.
	from := uint32(0)
	for i := range s.entries {
		to := s.entries[i].cells
		if to < from || int(to) > len(s.cells) || !bucketHistogram(s.entries[i].cell, s.cells[from:to]) {
			sr.fail("a histogram out of its bounds")
			return series{}
		}
		from = to
	}
	if int(from) != len(s.cells) || !s.empty() && !bucketHistogram(s.head.cell, s.headCells) ||
		s.empty() && (s.head.cell != 0 || len(s.headCells) > 0) {
		sr.fail("a histogram out of its bounds")
		return series{}
	}
	if len(s.cells)+len(s.headCells) >= wholeFrom {
		s.makeWhole()
	}
	return s
}

// seriesList reads a list of series by ascending id.
func (sr *snapshotReader) seriesList() idList[series] {
	var l idList[series]
	n := sr.count(8 + entryBytes + 12)
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
	a.version = sr.u64()
	a.total = sr.series()
	for range sr.count(8 + entryBytes + 12 + 4) {
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

// bucketHistogram reports whether a bucket's histogram is either the one
// cell cell (and no cells) or cells (and no cell).
func bucketHistogram(cell histogram.Cell, cells []histogram.Cell) bool {
	if cell != 0 {
		return len(cells) == 0 && histogram.Valid([]histogram.Cell{cell})
	}
	return len(cells) > 0 && histogram.Valid(cells)
}
