package histogram

import (
	"testing"

	"github.com/convops/convops"
)

// TestBinsHoldTheBound: every whole millisecond up to the largest handling
// time reads as a value within 1% of itself (plus the rounding of half a
// millisecond), bins are ordered and tile the range, and there are fewer
// than the cells can name.
func TestBinsHoldTheBound(t *testing.T) {
	if Bins > 1<<binBits {
		t.Fatalf("%d bins, cells name %d", Bins, 1<<binBits)
	}
	if upper[Bins-1] < convops.MaxHandlingTimeMs {
		t.Fatalf("the last bin ends at %d", upper[Bins-1])
	}
	for k := 1; k < Bins; k++ {
		lo, hi := upper[k-1]+1, upper[k]
		if hi < lo || rep[k] < lo || rep[k] > hi {
			t.Fatalf("bin %d: (%d, %d] read as %d", k, lo-1, hi, rep[k])
		}
		// The farthest values of the bin from its representative.
		for _, v := range []int64{lo, hi} {
			d := rep[k] - v
			if d < 0 {
				d = -d
			}
			if float64(d) > 0.01*float64(v)+0.5 {
				t.Fatalf("bin %d: %d read as %d", k, v, rep[k])
			}
		}
		if Bin(lo) != k || Bin(hi) != k || Bin(lo-1) != k-1 {
			t.Fatalf("bin %d: Bin(%d)=%d Bin(%d)=%d", k, lo, Bin(lo), hi, Bin(hi))
		}
	}
	t.Logf("%d bins", Bins)
}
