package eventlog

import (
	"strconv"
	"strings"
	"testing"

	"github.com/convops/convops"
)

// TestShardFilterSelectsTheShard: the one subject filter of shard i of n
// takes exactly the subjects of the accounts ShardOf puts in it.
func TestShardFilterSelectsTheShard(t *testing.T) {
	if got := shardFilter(convops.Shard{Count: 1}); got != "" {
		t.Errorf("one shard filters %q", got)
	}
	for _, n := range []int{2, 4, 8, 1024} {
		for i := range min(n, 8) {
			shard := convops.Shard{Index: i, Count: n}
			prefix := strings.TrimSuffix(shardFilter(shard), ">")
			for a := range 3000 {
				account := strconv.Itoa(a)
				subject := Subject(account)
				if !strings.HasSuffix(subject, "."+account) || strings.Count(subject, ".") != 2+slotBits {
					t.Fatalf("subject of %s: %s", account, subject)
				}
				if strings.HasPrefix(subject, prefix) != shard.Holds(account) {
					t.Fatalf("shard %s, filter %s: account %s (slot %d) with subject %s", shard, shardFilter(shard), account, convops.ShardSlot(account), subject)
				}
			}
		}
	}
}
