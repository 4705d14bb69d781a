package histogram

import (
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
