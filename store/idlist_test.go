package store

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestIDList adds random ids in rounds, settling after each, and checks the
// order and the items against a map.
func TestIDList(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var l idList[int64]
	want := map[int64]int64{}
	for round := range 50 {
		n := r.IntN(3 * linearLimit) // below and above the point where new ids get a map
		if round%10 == 9 {
			n = 5000
		}
		for range n {
			id := r.Int64N(20000) - 100
			item, added := l.getOrAdd(id)
			if _, had := want[id]; had == added {
				t.Fatalf("round %d id %d: added %v, had %v", round, id, added, had)
			}
			*item += id
			want[id] += id
			if got := l.get(id); got == nil || *got != want[id] {
				t.Fatalf("round %d: get(%d) before settle = %v", round, id, got)
			}
		}
		l.settle()
		if !slices.IsSorted(l.ids) || len(l.ids) != len(want) {
			t.Fatalf("round %d: %d ids, sorted %v, want %d", round, len(l.ids), slices.IsSorted(l.ids), len(want))
		}
		for i, id := range l.ids {
			if l.items[i] != want[id] {
				t.Fatalf("round %d: item of %d is %d, want %d", round, id, l.items[i], want[id])
			}
		}
		if round%7 == 6 {
			l.keepIf(func(v *int64) bool { return *v%3 != 0 })
			for id, v := range want {
				if v%3 == 0 {
					delete(want, id)
				}
			}
			if len(l.ids) != len(want) || l.get(3) != nil {
				t.Fatalf("round %d: keepIf left %d ids, want %d", round, len(l.ids), len(want))
			}
		}
	}
}
