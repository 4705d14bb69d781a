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

// BenchmarkDedupeInsertTouched inserts the same keys in batches of 1,000,
// each batch's first slots read beforehand.
func BenchmarkDedupeInsertTouched(b *testing.B) {
	keys := make([]dedupeKey, 1_000_000)
	var scratch []byte
	for i := range keys {
		keys[i], scratch = keyOf(scratch, "acc", fmt.Sprint("sim-", i))
	}
	var sink uint32
	b.ResetTimer()
	for range b.N {
		d := newDedupeIndex()
		for start := 0; start < len(keys); start += 1000 {
			batch := keys[start : start+1000]
			sink += d.touch(batch)
			for _, k := range batch {
				d.insert(k, 5000, 4000)
			}
		}
	}
	b.ReportMetric(float64(len(keys)*b.N)/b.Elapsed().Seconds(), "keys/s")
	_ = sink
}

// BenchmarkDedupeInsertReserved inserts into an index sized beforehand.
func BenchmarkDedupeInsertReserved(b *testing.B) {
	keys := make([]dedupeKey, 1_000_000)
	var scratch []byte
	for i := range keys {
		keys[i], scratch = keyOf(scratch, "acc", fmt.Sprint("sim-", i))
	}
	var sink uint32
	b.ResetTimer()
	for range b.N {
		d := newDedupeIndex()
		for i := range d.shards {
			d.rebuild(&d.shards[i], 4000, (len(keys)/dedupeShards+100)*100/newFillPercent)
		}
		for start := 0; start < len(keys); start += 1000 {
			batch := keys[start : start+1000]
			sink += d.touch(batch)
			for _, k := range batch {
				d.insert(k, 5000, 4000)
			}
		}
	}
	b.ReportMetric(float64(len(keys)*b.N)/b.Elapsed().Seconds(), "keys/s")
	_ = sink
}
