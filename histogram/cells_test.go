package histogram

import (
	"testing"

	"github.com/convops/convops"
)

// TestCellsCountPastTheirBits: a bin counted more often than a cell's 19
// bits hold goes on in a second cell; the histogram stays valid and sorted,
// and merged, in a total and in a merger, counts every conversation; taken
// out of a total, it leaves nothing.
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
	m := NewMerger()
	total := TotalOf(m, h)
	if len(total) != 3 || uint32(total[1]) != n {
		t.Fatalf("total %x", total)
	}
	m.AddTotal(total)
	m.Sub(h[:1])
	if m.n[convops.ByCCP] != 0 || m.n[convops.ByConsumer] != n || m.n[convops.BySystem] != 1 {
		t.Fatalf("merger counts %v", m.n)
	}
	m.Reset()
	if !m.Empty() {
		t.Fatal("not empty after a reset")
	}
	if rest := SubTotal(total, h); len(rest) != 0 {
		t.Fatalf("left %x", rest)
	}
	// Out of order, or a second cell after one not full, is not valid.
	if Valid([]Cell{h[3], h[0]}) || Valid([]Cell{h[2], h[1]}) {
		t.Error("an unsorted histogram is valid")
	}
}
