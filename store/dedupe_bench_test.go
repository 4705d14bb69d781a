package store

import (
	"fmt"
	"testing"
)

// BenchmarkDedupeInsert inserts a million new keys into an empty index.
func BenchmarkDedupeInsert(b *testing.B) {
	keys := make([]dedupeKey, 1_000_000)
	var scratch []byte
	for i := range keys {
		keys[i], scratch = keyOf(scratch, "acc", fmt.Sprint("sim-", i))
	}
	b.ResetTimer()
	for range b.N {
		d := newDedupeIndex()
		for _, k := range keys {
			d.insert(k, 5000, 4000)
		}
	}
	b.ReportMetric(float64(len(keys)*b.N)/b.Elapsed().Seconds(), "keys/s")
}
