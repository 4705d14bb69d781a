package convops

import "testing"

// TestShardOf: the documented hash (FNV-1a 32 of the id's bytes, mod 1024,
// mod n), with values an operator can check by hand.
func TestShardOf(t *testing.T) {
	// FNV-1a 32 of "123" is 0x7238631b (1916298011); mod 1024 is 795.
	if got := ShardSlot("123"); got != 795 {
		t.Errorf("slot of 123: %d", got)
	}
	if got := ShardOf("123", 2); got != 1 {
		t.Errorf("shard of 123 among 2: %d", got)
	}
	if got := ShardOf("123", 4); got != 3 {
		t.Errorf("shard of 123 among 4: %d", got)
	}
	for _, bad := range []string{"2/2", "0/3", "1", "a/2", "-1/2", "0/2048", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if s, err := ParseShard("3/8"); err != nil || s != (Shard{Index: 3, Count: 8}) || s.String() != "3/8" {
		t.Errorf("3/8: %v %v", s, err)
	}
}
