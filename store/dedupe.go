package store

import (
	"encoding/binary"
	"math/bits"

	"github.com/minio/highwayhash"
)

// dedupeKey stands for an (account, eventId) pair in the dedupe index: 96
// bits of its HighwayHash under a fixed key. Keys of fixed size and without
// pointers make the index small and let the garbage collector skip it. Two
// different pairs share a key with probability about n²/2⁹⁷ for n pairs in
// retention (6·10⁻¹⁴ for a hundred million): never, in practice. The hash key
// is fixed so that every node and every replay decides alike.
type dedupeKey [3]uint32

var hashKey = []byte("convops/dedupe-key/v1/0123456789")[:32]

// keyOf hashes an account id and an event id. Account ids never hold a zero
// byte, so the pair is read back unambiguously from account, 0, eventID.
// scratch is reused between calls.
func keyOf(scratch []byte, account, eventID string) (dedupeKey, []byte) {
	scratch = append(scratch[:0], account...)
	scratch = append(scratch, 0)
	scratch = append(scratch, eventID...)
	sum := highwayhash.Sum128(scratch, hashKey)
	var k dedupeKey
	for i := range k {
		k[i] = binary.LittleEndian.Uint32(sum[4*i:])
	}
	return k, scratch
}

// dedupeIndex is the set of (account, eventId) keys in retention: an
// open-addressing hash table with linear probing, split into shards so that
// growing one moves a small part of the keys at a time.
//
// A slot holds the key and the bucket until which it is kept; a slot whose
// bucket has fallen behind the retention horizon is dead: lookups pass over
// it and inserts reuse it. Forgetting keys therefore needs no sweep at all,
// and replays and live folds forget at exactly the same point. Dead slots are
// dropped when a shard is rebuilt: when it is full (live and dead slots
// together), or when it has become much larger than its live keys need.
//
// A slot is 16 bytes. A growing shard is between 40% and 80% full; one that
// holds a steady day of keys is rebuilt 55% full when dead keys fill it; so
// a key in retention costs 20 to 40 bytes, about 29 in a steady day, the
// expiry included (and up to twice that while the number of keys in
// retention falls, until a shard is rebuilt smaller).
//
// The index belongs to the fold goroutine: it has no lock.
type dedupeIndex struct {
	shards [dedupeShards]dedupeShard
	// live counts keys per keep-until bucket, so that the number of keys in
	// retention is known without a scan.
	live map[uint32]int
	// liveTotal is the sum of live; horizon is the bucket it was last
	// expired to.
	liveTotal int
	horizon   uint32
	// slots counts the slots of all shards.
	slots int
	// snap is the snapshot being written, nil when none is.
	snap *Snapshot
}

const (
	dedupeShards   = 256
	minShardSlots  = 8
	maxFillPercent = 80 // a shard is rebuilt when live and dead slots reach this
	newFillPercent = 55 // and rebuilt this full with its live keys,
	// unless they are this many: then it is growing, and doubles.
	growFillPercent = 70
)

type dedupeShard struct {
	slots []dedupeSlot // empty until the first key
	used  int          // slots holding a key, live or dead
	id    int          // its place in dedupeIndex.shards
	// snapped is the epoch of the last snapshot that has this shard as it was
	// when the snapshot began.
	snapped uint32
}

// dedupeSlot is one slot of the table. keep is 1 + the last bucket the key
// is kept for: zero marks an empty slot.
type dedupeSlot struct {
	key  dedupeKey
	keep uint32
}

const dedupeSlotBytes = 16

func newDedupeIndex() *dedupeIndex {
	d := &dedupeIndex{live: make(map[uint32]int)}
	for i := range d.shards {
		d.shards[i].id = i
	}
	return d
}

// beforeWrite hands a shard about to change to the snapshot being written,
// if that snapshot does not have it yet.
func (d *dedupeIndex) beforeWrite(sh *dedupeShard) {
	if d.snap != nil && sh.snapped != d.snap.epoch {
		d.snap.takeShardLocked(sh)
	}
}

// locateLocked returns the shard of k and the start of its probe sequence.
func (d *dedupeIndex) locateLocked(k dedupeKey) (*dedupeShard, int) {
	sh := &d.shards[k[0]>>24]
	if len(sh.slots) == 0 {
		return sh, 0
	}
	// Scale 64 bits of the key to the table size (Lemire's fast range), so
	// that tables need not be powers of two.
	h := uint64(k[1])<<32 | uint64(k[2])
	i, _ := bits.Mul64(h, uint64(len(sh.slots)))
	return sh, int(i)
}

// touch reads the first slot of each key's probe sequence and returns
// nothing of use. The loads do not depend on one another, so the processor
// runs their cache misses side by side, where the inserts that follow, each
// depending on the one before, would wait for them one at a time.
func (d *dedupeIndex) touch(keys []dedupeKey) uint32 {
	var sum uint32
	for _, k := range keys {
		if sh, i := d.locateLocked(k); len(sh.slots) > 0 {
			sum += sh.slots[i].keep
		}
	}
	return sum
}

// contains reports whether k is held and alive at horizon.
func (d *dedupeIndex) contains(k dedupeKey, horizon uint32) bool {
	sh, i := d.locateLocked(k)
	n := len(sh.slots)
	for range n {
		s := &sh.slots[i]
		if s.keep == 0 {
			return false
		}
		if s.key == k {
			return s.keep-1 >= horizon
		}
		if i++; i == n {
			i = 0
		}
	}
	return false
}

// insert records k, kept until bucket keep (at least), unless it is held
// and alive at horizon. It reports whether k was new.
func (d *dedupeIndex) insert(k dedupeKey, keep, horizon uint32) bool {
	sh, i := d.locateLocked(k)
	if (sh.used+1)*100 > len(sh.slots)*maxFillPercent {
		d.makeRoom(sh, horizon)
		sh, i = d.locateLocked(k)
	}
	n := len(sh.slots)
	reuse := -1
	for range n {
		s := &sh.slots[i]
		if s.keep == 0 {
			break
		}
		if s.key == k {
			if s.keep-1 >= horizon {
				return false
			}
			// The key's own slot, dead: it comes back to life. Any dead
			// slot seen before it would do as well; this one keeps the
			// probe sequences short.
			reuse = i
			break
		}
		if reuse < 0 && s.keep-1 < horizon {
			reuse = i
		}
		if i++; i == n {
			i = 0
		}
	}
	d.beforeWrite(sh)
	if reuse >= 0 {
		i = reuse
	} else {
		sh.used++
	}
	sh.slots[i] = dedupeSlot{key: k, keep: keep + 1}
	d.live[keep]++
	d.liveTotal++
	return true
}

// makeRoom rebuilds a full shard. A shard whose slots are mostly live keys
// (growFillPercent) is filling up: it doubles, so that a growing index
// moves each key about twice in all (it is then 40% full, and fills up to
// 80% before it grows again). A shard full of dead keys is rebuilt
// newFillPercent full of its live ones.
func (d *dedupeIndex) makeRoom(sh *dedupeShard, horizon uint32) {
	live := sh.liveSlots(horizon)
	size := (live + 1) * 100 / newFillPercent
	if live*100 >= len(sh.slots)*growFillPercent {
		size = 2 * len(sh.slots)
	}
	d.rebuild(sh, horizon, size)
}

// rebuild makes a new table of size slots (at least enough) for sh,
// holding its live keys.
func (d *dedupeIndex) rebuild(sh *dedupeShard, horizon uint32, size int) {
	d.beforeWrite(sh)
	old := sh.slots
	size = max(minShardSlots, size, sh.liveSlots(horizon)*100/maxFillPercent+1)
	d.slots += size - len(old)
	sh.slots = make([]dedupeSlot, size)
	sh.used = 0
	for _, s := range old {
		if s.keep == 0 || s.keep-1 < horizon {
			continue
		}
		_, i := d.locateLocked(s.key)
		for sh.slots[i].keep != 0 {
			if i++; i == size {
				i = 0
			}
		}
		sh.slots[i] = s
		sh.used++
	}
}

// liveSlots counts the keys of sh alive at horizon.
func (sh *dedupeShard) liveSlots(horizon uint32) int {
	live := 0
	for i := range sh.slots {
		if sh.slots[i].keep != 0 && sh.slots[i].keep-1 >= horizon {
			live++
		}
	}
	return live
}

// expire moves the index to horizon: keys kept for earlier buckets are no
// longer counted as live. Shards that have become twice larger than their
// share of the live keys needs are rebuilt smaller.
func (d *dedupeIndex) expire(horizon uint32) {
	if horizon <= d.horizon {
		return
	}
	d.horizon = horizon
	for b, n := range d.live {
		if b < horizon {
			d.liveTotal -= n
			delete(d.live, b)
		}
	}
	// Keys spread evenly over the shards: a shard more than twice the size
	// its share of the live keys needs (its share 55% full) is rebuilt. Its
	// actual live keys decide its new size.
	share := d.liveTotal/dedupeShards + 1
	for i := range d.shards {
		sh := &d.shards[i]
		if len(sh.slots) > minShardSlots && len(sh.slots)*newFillPercent > 2*100*share {
			d.rebuild(sh, horizon, sh.liveSlots(horizon)*100/newFillPercent+1)
		}
	}
}

// len returns the number of keys in retention.
func (d *dedupeIndex) len() int { return d.liveTotal }

// bytes returns the memory the index takes.
func (d *dedupeIndex) bytes() int {
	return d.slots*dedupeSlotBytes + len(d.live)*48 // slots, and the per-bucket counts roughly
}
