package histogram

import (
	"fmt"
	"slices"
	"testing"

	"github.com/convops/convops"
)

// TestCellsCountPastTheirBits: a bin counted more often than a cell's 19
// bits hold goes on in a second cell; the histogram stays valid and sorted,
// and merged, in a merger, counts every conversation; taken out of a
// merger that holds it, it leaves nothing.
func TestCellsCountPastTheirBits(t *testing.T) {
	var h []Cell
	const n = maxCount + 5
	for range n {
		h = Add(h, convops.ByConsumer, 100)
	}
	h = Add(h, convops.ByCCP, 3)
	h = Add(h, convops.BySystem, 1000)
	if len(h) != 4 || !Valid(h) {
		t.Fatalf("%d cells, valid %v", len(h), Valid(h))
	}
	whole := NewMerger()
	whole.Add(h)
	if whole.Touched() != 3 || whole.counts[convops.ByConsumer][100] != n {
		t.Fatalf("%d bins touched, %d in the full one", whole.Touched(), whole.counts[convops.ByConsumer][100])
	}
	m := NewMerger()
	m.AddMerger(whole)
	if !m.Equal(whole) {
		t.Fatal("a merger added to an empty one is not equal to it")
	}
	m.Sub(h[:1])
	if m.n[convops.ByCCP] != 0 || m.n[convops.ByConsumer] != n || m.n[convops.BySystem] != 1 {
		t.Fatalf("merger counts %v", m.n)
	}
	m.Sub(h[1:])
	if !m.Empty() || m.Equal(whole) {
		t.Fatalf("left %v", m.n)
	}
	m.Reset()
	if m.Touched() != 0 {
		t.Fatal("bins marked after a reset")
	}
	// Out of order, or a second cell after one not full, is not valid.
	if Valid([]Cell{h[3], h[0]}) || Valid([]Cell{h[2], h[1]}) {
		t.Error("an unsorted histogram is valid")
	}
}

// TestAppendMergedIsAdd: a histogram merged with cells of any counts, as
// a series' late cells are, is the histogram Add makes of the same
// conversations, full cells included.
func TestAppendMergedIsAdd(t *testing.T) {
	cell := func(by convops.ResolvedBy, bin int, n uint32) Cell { return One(by, bin) - 1 + n }
	for _, tc := range []struct {
		name string
		a, b []Cell
	}{
		{"empty", nil, nil},
		{"only late", nil, []Cell{cell(0, 5, 1), cell(0, 5, 2), cell(2, 1, 1)}},
		{"disjoint", []Cell{cell(0, 1, 3), cell(1, 7, 1)}, []Cell{cell(0, 2, 1), cell(2, 0, 4)}},
		{"same bins", []Cell{cell(0, 1, 3), cell(1, 7, 1)}, []Cell{cell(0, 1, 2), cell(1, 7, 9)}},
		{"past a cell", []Cell{cell(1, 9, maxCount), cell(1, 9, 7)}, []Cell{cell(1, 9, maxCount-3), cell(1, 9, 5)}},
		{"exactly full", []Cell{cell(1, 9, maxCount-1)}, []Cell{cell(1, 9, 1)}},
		{"exactly two full", []Cell{cell(1, 9, maxCount)}, []Cell{cell(1, 9, maxCount)}},
	} {
		var want []Cell
		for _, h := range [][]Cell{tc.a, tc.b} {
			for _, c := range h {
				by, bin, n := parts(c)
				for range n {
					want = Add(want, by, bin)
				}
			}
		}
		got := AppendMerged(nil, tc.a, tc.b)
		if !Valid(got) || len(got) != len(want) {
			t.Fatalf("%s: %d cells, valid %v; Add made %d", tc.name, len(got), Valid(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: cell %d is %x, Add made %x", tc.name, i, got[i], want[i])
			}
		}
	}
}

// TestMergerCellsAreAdds: a merger's histogram written as cells is the
// one Add makes of the same conversations; a merger taken out of one that
// holds it leaves what was there before.
func TestMergerCellsAreAdds(t *testing.T) {
	m, before := NewMerger(), NewMerger()
	var want []Cell
	for i := range 3000 {
		by, bin := convops.ResolvedBy(i%3), (i*i)%Bins
		m.AddOne(by, bin)
		want = Add(want, by, bin)
	}
	for range maxCount + 2 { // a bin past a cell's count
		m.AddOne(convops.ByConsumer, 5)
		want = Add(want, convops.ByConsumer, 5)
	}
	got := m.AppendCells(nil)
	if !slices.Equal(got, want) {
		t.Fatalf("%d cells from the merger, %d from Add", len(got), len(want))
	}
	before.AddOne(convops.BySystem, 9)
	sum := NewMerger()
	sum.AddMerger(before)
	sum.AddMerger(m)
	sum.SubMerger(m)
	if !sum.Equal(before) || !slices.Equal(sum.AppendCells(nil), before.AppendCells(nil)) {
		t.Fatal("a merger added and taken out left something")
	}
}

// TestTailResetIsTailThenReset: reading a merger's tail and emptying it in
// one walk reads what Tail reads and leaves it as Reset does, bins emptied
// by a Sub included.
func TestTailResetIsTailThenReset(t *testing.T) {
	q := convops.Query{Percentiles: []convops.Percentile{{Tenths: 999}, {Tenths: 1}, {Tenths: 500}, {Tenths: 1000}},
		Thresholds: []int64{600, 1, 86400, 60}}
	newTail := func() *convops.Tail {
		return &convops.Tail{Percentiles: make([][4]int64, len(q.Percentiles)), Within: make([][3]int64, len(q.Thresholds))}
	}
	a, b := NewMerger(), NewMerger()
	for round := range 5 {
		for i := range 200 * round {
			by, bin := convops.ResolvedBy(i%3), (i*7919+round)%Bins
			if round == 3 && by == convops.BySystem {
				continue // a resolver with nothing
			}
			a.AddOne(by, bin)
			b.AddOne(by, bin)
		}
		emptied := One(convops.ByCCP, Bins-1)
		a.AddCell(emptied)
		a.SubCell(emptied)
		b.AddCell(emptied)
		b.SubCell(emptied)
		want, got := newTail(), newTail()
		a.Tail(&q, want)
		a.Reset()
		b.TailReset(&q, got)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("round %d: TailReset read %v, Tail %v", round, got, want)
		}
		if !b.Empty() || b.Touched() != 0 || !a.Equal(b) {
			t.Fatalf("round %d: %d bins marked after TailReset", round, b.Touched())
		}
	}
}
