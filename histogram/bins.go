// Package histogram keeps distributions of handling times in a form that
// merges exactly: log-bucketed histograms (as DDSketch keeps them) whose
// bins are fixed for all time, so that the histograms of any buckets,
// objects and nodes add up bin by bin, and a percentile read from the sum
// is within 1% of the exact one, whatever was merged.
//
// Bins are exact below 64 ms (one per millisecond); above, bin k holds the
// whole milliseconds in (upper[k−1], upper[k]], each bound the one before
// times 10099/9901 (rounded down), so that the bin's representative, the
// harmonic mean of its bounds, is within 0.99% of every value in it. The
// bounds are computed in integers: every machine bins alike, which keeps
// the fold deterministic.
//
// A histogram is kept sparse, as sorted cells (see cells.go); Merger adds
// cells of many histograms and reads percentiles and counts within
// thresholds from the sum.
package histogram

import (
	"math/bits"
	"sort"

	"github.com/convops/convops"
)

// exactBelow is the first value whose bin holds more than itself.
const exactBelow = 64

// growth is the ratio of consecutive bounds, as a fraction.
const growthNum, growthDen = 10099, 9901

// upper[k] is the largest value of bin k, rep[k] the value read for it.
var upper, rep = bounds()

// Bins is the number of bins, enough for convops.MaxHandlingTimeMs.
var Bins = len(upper)

func bounds() (upper, rep []int64) {
	for v := int64(0); v < exactBelow; v++ {
		upper = append(upper, v)
		rep = append(rep, v)
	}
	for lo := int64(exactBelow - 1); lo < convops.MaxHandlingTimeMs; {
		hi := max(lo+1, lo*growthNum/growthDen)
		upper = append(upper, hi)
		// The harmonic mean of the bin's extremes lo+1 and hi, rounded: its
		// distance to either, relative to it, is at most (hi−lo−1)/(hi+lo+1).
		rep = append(rep, harmonicMean(lo+1, hi))
		lo = hi
	}
	return upper, rep
}

// harmonicMean returns 2ab/(a+b) rounded, in 128-bit integers: 2ab passes
// 64 bits for the largest bins.
func harmonicMean(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(2*a), uint64(b))
	sum := uint64(a + b)
	lo, carry := bits.Add64(lo, sum/2, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, sum)
	return int64(q)
}

// Bin returns the bin of a handling time in 0…convops.MaxHandlingTimeMs.
func Bin(ms int64) int {
	if ms < exactBelow {
		return int(max(ms, 0))
	}
	return min(sort.Search(len(upper), func(k int) bool { return upper[k] >= ms }), len(upper)-1)
}

// Rep returns the value a percentile that falls in bin reads.
func Rep(bin int) int64 { return rep[bin] }

// WithinBins returns how many bins count as within ms: those whose
// representative is at most ms. A value within 1% of ms may fall on either
// side; no other does.
func WithinBins(ms int64) int {
	return sort.Search(len(rep), func(k int) bool { return rep[k] > ms })
}
