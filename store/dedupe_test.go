package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDedupeIndex inserts keys over many buckets with a moving horizon and
// compares every answer with a map of key → bucket it is kept until.
func TestDedupeIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	d := newDedupeIndex()
	want := map[dedupeKey]uint32{}
	var scratch []byte
	var keys []dedupeKey
	horizon := uint32(1000)
	for step := range 3000 {
		if step%10 == 0 {
			horizon++
			d.expire(horizon)
		}
		for range r.IntN(60) {
			var k dedupeKey
			if len(keys) > 0 && r.IntN(4) == 0 {
				k = keys[r.IntN(len(keys))] // again, maybe after it expired
			} else {
				k, scratch = keyOf(scratch, fmt.Sprint("acc", r.IntN(3)), fmt.Sprint("event-", step, "-", r.Int()))
				keys = append(keys, k)
			}
			keep := horizon + uint32(r.IntN(300))
			kept, had := want[k]
			alive := had && kept >= horizon
			if got := d.contains(k, horizon); got != alive {
				t.Fatalf("step %d: contains = %v, want %v", step, got, alive)
			}
			if isNew := d.insert(k, keep, horizon); isNew == alive {
				t.Fatalf("step %d: insert said new = %v for a key alive = %v", step, isNew, alive)
			}
			if !alive {
				want[k] = keep
			}
		}
		if step%100 == 0 {
			live := 0
			for _, kept := range want {
				if kept >= horizon {
					live++
				}
			}
			if d.len() != live {
				t.Fatalf("step %d: len %d, want %d", step, d.len(), live)
			}
		}
	}
	if d.len() == 0 {
		t.Fatal("nothing alive at the end")
	}
	if perKey := float64(d.bytes()) / float64(d.len()); perKey > 80 {
		t.Errorf("%.0f bytes per key", perKey)
	}
}

// TestDedupeMemoryFollowsKeys: a day of keys, then a quiet day; the index
// shrinks as the keys leave retention.
func TestDedupeMemoryFollowsKeys(t *testing.T) {
	d := newDedupeIndex()
	var scratch []byte
	var k dedupeKey
	horizon := uint32(5000)
	for b := range uint32(288) {
		for i := range 1000 {
			k, scratch = keyOf(scratch, "a", fmt.Sprint(b, "-", i))
			d.insert(k, horizon+289+b, horizon)
		}
	}
	full := d.bytes()
	if perKey := float64(full) / float64(d.len()); perKey > 40 {
		t.Errorf("%.1f bytes per key in retention, want at most 40", perKey)
	}
	for range 2 * 289 {
		horizon++
		d.expire(horizon)
	}
	if d.len() != 0 || d.bytes() > full/100 {
		t.Errorf("after a quiet day: %d keys, %d bytes (full: %d)", d.len(), d.bytes(), full)
	}
}
