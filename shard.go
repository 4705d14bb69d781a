package convops

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// ShardSlots is how many slots account ids hash to. The number of shards
// is a power of two up to ShardSlots, and shard i of n holds the slots
// whose lowest bits are i: the log's subjects carry a slot's bits, so that
// one subject filter selects one shard's messages, whatever the number of
// shards.
const ShardSlots = 1024

// ShardSlot is the slot of an account: the 32-bit FNV-1a hash of the
// account id's bytes, modulo ShardSlots. It is part of the contract with
// operators, who may compute it to know where an account lives; it never
// changes.
func ShardSlot(account string) int {
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32() % ShardSlots)
}

// Shard is the part of the accounts one node folds: shard Index of Count.
// The zero Shard, like 0/1, holds every account.
type Shard struct {
	Index, Count int
}

// ShardOf is the shard of account among count shards: its slot modulo
// count.
func ShardOf(account string, count int) int {
	if count <= 1 {
		return 0
	}
	return ShardSlot(account) % count
}

// Sharded reports whether s holds only part of the accounts.
func (s Shard) Sharded() bool { return s.Count > 1 }

// Holds reports whether account belongs to s.
func (s Shard) Holds(account string) bool {
	return !s.Sharded() || ShardOf(account, s.Count) == s.Index
}

// Of returns the shard, among as many as s's, that holds account.
func (s Shard) Of(account string) Shard {
	if !s.Sharded() {
		return Shard{Count: 1}
	}
	return Shard{Index: ShardOf(account, s.Count), Count: s.Count}
}

// String is the i/n form of the --shard flag.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, max(s.Count, 1)) }

// ParseShard reads the i/n form: shard i of n, 0 ≤ i < n, n a power of two
// up to ShardSlots.
func ParseShard(v string) (Shard, error) {
	i, n, ok := strings.Cut(v, "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("a shard is written i/n, shard i of n (0/2 and 1/2 are the two halves), not %q", v)
	}
	if count < 1 || count > ShardSlots || count&(count-1) != 0 || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("shard %q is out of range: n is a power of two from 1 to %d (1, 2, 4, 8, …) and i is 0 to n-1", v, ShardSlots)
	}
	return Shard{Index: index, Count: count}, nil
}
