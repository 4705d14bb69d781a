package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
)

// randomBatches makes batches of several accounts over the last hours, some
// events late, some ids sent twice.
func randomBatches(r *rand.Rand, n int, clock int64) []convops.Batch {
	var out []convops.Batch
	for i := range n {
		clock += r.Int64N(60_000)
		b := convops.Batch{Account: fmt.Sprint("acc", r.IntN(6)), Now: clock, LogTime: clock, LogSeq: uint64(i + 1)}
		for j := range 1 + r.IntN(50) {
			e := convops.Event{EventID: fmt.Sprint("e", i, "-", j), SkillID: r.Int64N(6) - 1, ResolvedBy: convops.ResolvedBy(r.IntN(3)),
				ResolvedAt: clock - r.Int64N(3*3_600_000), HandlingTimeMs: r.Int64N(900_000)}
			if r.IntN(10) == 0 && i > 0 {
				e.EventID = fmt.Sprint("e", r.IntN(i), "-0")
			}
			if r.IntN(5) != 0 {
				e.AgentID, e.HasAgent = r.Int64N(12), true
			}
			b.Events = append(b.Events, e)
		}
		out = append(out, b)
	}
	return out
}

// answers queries every account in every shape.
func answers(s *store.Store, at int64) string {
	var buf bytes.Buffer
	all := convops.IDFilter{Given: true, All: true}
	for a := range 6 {
		for _, q := range []convops.Query{
			{Account: fmt.Sprint("acc", a), Timeframe: 1440, Interval: 60, Skills: all, Agents: all},
			{Account: fmt.Sprint("acc", a), Timeframe: 30, Skills: convops.IDFilter{Given: true, IDs: []int64{-1, 2}}},
		} {
			fmt.Fprintln(&buf, s.Query(q, convops.Layout(at, q.Timeframe, q.Interval)))
		}
	}
	return buf.String()
}

// TestSnapshotIsTheStateWhenItBegan: a snapshot written while the fold
// goes on holds the state as of its beginning; loaded, it answers as a
// store that applied only the batches before it, and goes on like one.
func TestSnapshotIsTheStateWhenItBegan(t *testing.T) {
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 9))
		batches := randomBatches(r, 300, now-4*3_600_000)
		split := 100 + r.IntN(150)
		live, reference := store.New(store.Options{}), store.New(store.Options{})
		for _, b := range batches[:split] {
			mustApply(t, live, b)
			mustApply(t, reference, b)
		}
		sn, err := live.BeginSnapshot(store.SnapshotHeader{Seq: uint64(split)})
		if err != nil {
			t.Fatal(err)
		}
		// The fold goes on while the snapshot is written: before it, and at
		// the same time as the writer takes accounts and shards one by one.
		var file bytes.Buffer
		for _, b := range batches[split : split+20] {
			mustApply(t, live, b)
		}
		written := make(chan error)
		go func() {
			_, err := sn.WriteTo(&file)
			written <- err
		}()
		for _, b := range batches[split+20:] {
			mustApply(t, live, b)
			live.Query(convops.Query{Account: b.Account, Timeframe: 1440, Agents: convops.IDFilter{Given: true, All: true}}, convops.Layout(b.Now, 1440, 0))
		}
		if err := <-written; err != nil {
			t.Fatal(err)
		}
		sn.End()
		if sn.LongestHold() <= 0 {
			t.Errorf("seed %d: the snapshot says it held no lock to copy what it wrote", seed)
		}

		loaded, h, err := store.LoadSnapshot(bytes.NewReader(file.Bytes()), int64(file.Len()), store.Options{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if h.Seq != uint64(split) {
			t.Errorf("header %+v", h)
		}
		at := batches[len(batches)-1].Now
		if got, want := answers(loaded, batches[split-1].Now), answers(reference, batches[split-1].Now); got != want {
			t.Fatalf("seed %d: the loaded snapshot answers otherwise than the store it was taken of", seed)
		}
		if got, want := loaded.Stats(), reference.Stats(); got.Series != want.Series || got.Buckets != want.Buckets || got.DedupeKeys != want.DedupeKeys {
			t.Fatalf("seed %d: loaded %+v, taken of %+v", seed, got, want)
		}
		// Each account's version (the sequence of the batch that last
		// added to it) is kept: every node gives the same after a restart.
		for a := range 6 {
			account := fmt.Sprint("acc", a)
			if got, want := loaded.Version(account), reference.Version(account); got != want || want == 0 {
				t.Errorf("seed %d: %s has version %d loaded, %d taken", seed, account, got, want)
			}
		}
		// The tail applied to the loaded snapshot gives the live store.
		for _, b := range batches[split:] {
			o1, e1 := loaded.Apply(b)
			o2, e2 := reference.Apply(b)
			if o1 != o2 || (e1 == nil) != (e2 == nil) {
				t.Fatalf("seed %d: the tail decides otherwise: %+v %v, %+v %v", seed, o1, e1, o2, e2)
			}
		}
		if answers(loaded, at) != answers(live, at) || answers(reference, at) != answers(live, at) {
			t.Fatalf("seed %d: snapshot and tail answer otherwise than the live store", seed)
		}
	}
}

// TestDamagedSnapshotIsRefused: a snapshot cut short, with one byte
// changed anywhere, or of another version, is refused whole.
func TestDamagedSnapshotIsRefused(t *testing.T) {
	s := store.New(store.Options{})
	for _, b := range randomBatches(rand.New(rand.NewPCG(1, 1)), 50, now-3_600_000) {
		mustApply(t, s, b)
	}
	sn, err := s.BeginSnapshot(store.SnapshotHeader{Seq: 50})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if _, err := sn.WriteTo(&file); err != nil {
		t.Fatal(err)
	}
	sn.End()
	good := file.Bytes()
	load := func(b []byte) error {
		_, _, err := store.LoadSnapshot(bytes.NewReader(b), int64(len(b)), store.Options{})
		return err
	}
	if err := load(good); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	for range 300 {
		bad := bytes.Clone(good)
		switch r.IntN(3) {
		case 0:
			bad = bad[:r.IntN(len(bad))]
		case 1:
			bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
		default:
			bad = append(bad, 0)
		}
		if err := load(bad); !errors.Is(err, store.ErrBadSnapshot) {
			t.Fatalf("a damaged snapshot (%d of %d bytes) loaded: %v", len(bad), len(good), err)
		}
	}
	other := bytes.Clone(good)
	other[16] = store.SnapshotVersion + 1
	if err := load(other); !errors.Is(err, store.ErrBadSnapshot) {
		t.Errorf("another version: %v", err)
	}
}
