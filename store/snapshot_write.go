package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"time"
	"unsafe"

	"github.com/convops/convops/histogram"
)

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
			cp = a.shallowCopyLocked(sn.epoch)
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

func seriesSize(s *series) int {
	cells := len(s.cells) + len(s.headCells)
	for _, lb := range s.lateBuckets() {
		cells += len(lb.cells) - (int(s.entries[lb.index].cells) - s.cellsStart(lb.index))
	}
	return entryBytes + 12 + len(s.entries)*entryBytes + cells*cellBytes
}

// appendSeries appends the head, the older entries, their cells and the
// head's, each list after its length. A series with late cells is written
// as settle would leave it, so that the file does not depend on when it
// was written.
func appendSeries(b []byte, s *series) []byte {
	b = appendEntries(b, unsafe.Slice(&s.head, 1))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.entries)))
	if len(s.late) > 0 {
		b = appendSettled(b, s)
	} else {
		b = appendEntries(b, s.entries)
		b = appendCells(b, s.cells)
	}
	return appendCells(b, s.headCells)
}

// appendSettled appends the older entries and cells of a series with late
// cells as settle would leave them, without changing them: the snapshot
// shares them with the series. (It sorts the late cells, which are the
// snapshot's own copy.)
func appendSettled(b []byte, s *series) []byte {
	buckets := s.lateBuckets()
	grown, k := 0, 0 // cells added before entry i; the next late bucket
	for i := range s.entries {
		e := s.entries[i]
		if k < len(buckets) && buckets[k].index == i {
			grown += len(buckets[k].cells) - (int(e.cells) - s.cellsStart(i))
			e.cell = 0
			k++
		}
		e.cells = uint32(int(e.cells) + grown)
		b = appendEntries(b, unsafe.Slice(&e, 1))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.cells)+grown))
	start := 0
	for _, lb := range buckets {
		b = appendCellData(b, s.cells[start:s.cellsStart(lb.index)])
		b = appendCellData(b, lb.cells)
		start = int(s.entries[lb.index].cells)
	}
	return appendCellData(b, s.cells[start:])
}

// appendCells appends the count of cells, then the cells.
func appendCells(b []byte, cells []histogram.Cell) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cells)))
	return appendCellData(b, cells)
}

// appendCellData appends cells, 4 bytes each.
func appendCellData(b []byte, cells []histogram.Cell) []byte {
	if len(cells) == 0 {
		return b
	}
	if littleEndian {
		return append(b, unsafe.Slice((*byte)(unsafe.Pointer(&cells[0])), len(cells)*cellBytes)...)
	}
	for _, c := range cells {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	return b
}

// appendEntries appends entries as 48 bytes each: bucket, the three counts,
// the end of the cells, the one cell, the three handling sums,
// little-endian. On a little-endian machine that is how they lie in
// memory, and they are copied whole.
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
		b = binary.LittleEndian.AppendUint32(b, e.cells)
		b = binary.LittleEndian.AppendUint32(b, e.cell)
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
