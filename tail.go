package convops

import (
	"strconv"
	"strings"
)

// Parameters of distributions: percentiles and service levels of handling
// time (docs/api.md, section 2.4).
const (
	ParamPercentiles = "percentiles"
	ParamThresholds  = "thresholds"
)

// Bounds of the distribution parameters.
const (
	MaxPercentiles      = 5
	MaxThresholds       = 10
	MaxThresholdSeconds = 86400
)

// Percentile is one item of the percentiles parameter: Tenths of a percent
// (1…999), and the text it was given as, which names its keys.
type Percentile struct {
	Tenths int64
	Text   string
}

// Tail is what a metrics object reports beyond sums when the query asks
// for percentiles or thresholds: for each percentile, in the query's
// order, the nearest-rank handling time (ms) of the conversations resolved
// by CCP, by the consumer, by the system and by all, −1 where there are
// none; for each threshold, how many of each resolver's conversations were
// handled within it.
type Tail struct {
	Percentiles [][4]int64
	Within      [][3]int64
}

// WantsTail reports whether q asks for percentiles or thresholds.
func (q *Query) WantsTail() bool { return len(q.Percentiles) > 0 || len(q.Thresholds) > 0 }

// parsePercentiles reads 1 to MaxPercentiles comma-separated numbers in
// (0, 100) with at most one decimal, distinct.
func parsePercentiles(s string) ([]Percentile, error) {
	var out []Percentile
	i := 0
	for item := range strings.SplitSeq(s, ",") {
		i++
		if i > MaxPercentiles {
			return nil, ParamErrorf(ParamPercentiles, "percentiles lists more than %d numbers", MaxPercentiles)
		}
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, ParamErrorf(ParamPercentiles, "percentiles has an empty item at position %d: give numbers separated by single commas, such as 50,90,99.9", i)
		}
		tenths, ok := parseTenths(item)
		if !ok || tenths <= 0 || tenths >= 1000 {
			return nil, ParamErrorf(ParamPercentiles, "percentiles must be numbers above 0 and below 100 with at most one decimal, such as 50,90,99.9; item %d is %q", i, Clip(item))
		}
		for _, p := range out {
			if p.Tenths == tenths {
				return nil, ParamErrorf(ParamPercentiles, "percentiles lists %s twice (item %d is %q)", p.Text, i, Clip(item))
			}
		}
		out = append(out, Percentile{Tenths: tenths, Text: item})
	}
	return out, nil
}

// parseTenths reads digits with at most one decimal ("99.9") as tenths.
func parseTenths(s string) (int64, bool) {
	whole, frac, dotted := strings.Cut(s, ".")
	if whole == "" || len(whole) > 3 || strings.TrimLeft(whole, "0123456789") != "" {
		return 0, false
	}
	if dotted && (len(frac) != 1 || frac[0] < '0' || frac[0] > '9') {
		return 0, false
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	n *= 10
	if dotted {
		n += int64(frac[0] - '0')
	}
	return n, true
}

// parseThresholds reads 1 to MaxThresholds comma-separated whole seconds,
// 1 to MaxThresholdSeconds, distinct.
func parseThresholds(s string) ([]int64, error) {
	var out []int64
	i := 0
	for item := range strings.SplitSeq(s, ",") {
		i++
		if i > MaxThresholds {
			return nil, ParamErrorf(ParamThresholds, "thresholds lists more than %d numbers", MaxThresholds)
		}
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, ParamErrorf(ParamThresholds, "thresholds has an empty item at position %d: give whole seconds separated by single commas, such as 300,600", i)
		}
		var t int64
		if len(item) <= 6 && strings.TrimLeft(item, "0123456789") == "" {
			t, _ = strconv.ParseInt(item, 10, 64)
		}
		if t < 1 || t > MaxThresholdSeconds {
			return nil, ParamErrorf(ParamThresholds, "thresholds must be whole seconds from 1 to %d, such as 300,600; item %d is %q", MaxThresholdSeconds, i, Clip(item))
		}
		for _, u := range out {
			if u == t {
				return nil, ParamErrorf(ParamThresholds, "thresholds lists %d twice", t)
			}
		}
		out = append(out, t)
	}
	return out, nil
}
