package eventlog

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestFollowWaitsQuietlyForItsShard: a node of one shard that writes a
// batch of another shard's account (a forwarded ingest) does not wait for
// it: its fold, whose consumer never delivers it, does not take it for a
// stall and read the log for it; it reads its own shard's batches as they
// come.
func TestFollowWaitsQuietlyForItsShard(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := Open(ctx, Options{DataDir: t.TempDir(), Shard: convops.Shard{Index: 0, Count: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	account := func(shard int) string {
		for i := 0; ; i++ {
			if a := strconv.Itoa(i); convops.ShardOf(a, 2) == shard {
				return a
			}
		}
	}
	got := make(chan string, 10)
	started := make(chan struct{})
	go l.Follow(ctx, 1, func(d Delivery, err error) { got <- d.Batch.Account }, func(uint64) { close(started) })
	<-started // the replay at start is over
	publish := func(account string) {
		t.Helper()
		msgs := l.Encode(convops.Batch{Account: account, Now: 1, Events: []convops.Event{{ConversationID: "c", EventID: "c"}}})
		if err := l.Publish(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	publish(account(1))
	before := l.Reads()
	time.Sleep(2 * stallAfter)
	if reads := l.Reads() - before; reads != 0 {
		t.Errorf("%d direct reads of the log with nothing of the shard to read", reads)
	}
	publish(account(0))
	select {
	case a := <-got:
		if a != account(0) {
			t.Errorf("the fold of shard 0/2 read account %s", a)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the shard's own batch not read in 30 s")
	}
}
