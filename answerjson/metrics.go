package answerjson

import (
	"strconv"

	"github.com/convops/convops"
)

// MetricKeys are the twelve keys of a metrics object, in the order the API writes them.
var MetricKeys = [12]string{
	"resolvedConversations_byCCP",
	"resolvedConversations_byConsumer",
	"resolvedConversations_bySystem",
	"totalResolvedConversations",
	"totalHandlingTime_resolvedConversations_byCCP",
	"totalHandlingTime_resolvedConversations_byConsumer",
	"totalHandlingTime_resolvedConversations_bySystem",
	"totalHandlingTime_resolvedConversations",
	"avgTime_resolvedConversations_byCCP",
	"avgTime_resolvedConversations_byConsumer",
	"avgTime_resolvedConversations_bySystem",
	"avgTime_resolvedConversations",
}

// metricPrefixes holds `"key":` for each key, with the separating comma, so that
// writing a metrics object copies constant bytes and formats only the numbers.
var metricPrefixes = func() [12]string {
	var p [12]string
	for i, k := range MetricKeys {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		p[i] = sep + strconv.Quote(k) + ":"
	}
	return p
}()

// Average is the API's average: float32(total / count), or 0 when count is 0.
func Average(total, count int64) float32 {
	if count == 0 {
		return 0
	}
	return float32(float64(total) / float64(count))
}

// AppendAverage writes an average in the shortest form that reads back as the
// same float32 (426/21 → 20.285715), never in exponent notation.
func AppendAverage(b []byte, avg float32) []byte {
	return strconv.AppendFloat(b, float64(avg), 'f', -1, 32)
}

// AppendMetrics appends the JSON metrics object of c to b.
func AppendMetrics(b []byte, c *convops.Counters) []byte {
	values := [8]int64{
		c.Count[convops.ByCCP], c.Count[convops.ByConsumer], c.Count[convops.BySystem], c.Total(),
		c.Handling[convops.ByCCP], c.Handling[convops.ByConsumer], c.Handling[convops.BySystem], c.TotalHandling(),
	}
	for i, v := range values {
		b = append(b, metricPrefixes[i]...)
		b = strconv.AppendInt(b, v, 10)
	}
	averages := [4]float32{
		Average(c.Handling[convops.ByCCP], c.Count[convops.ByCCP]),
		Average(c.Handling[convops.ByConsumer], c.Count[convops.ByConsumer]),
		Average(c.Handling[convops.BySystem], c.Count[convops.BySystem]),
		Average(c.TotalHandling(), c.Total()),
	}
	for i, a := range averages {
		b = append(b, metricPrefixes[8+i]...)
		b = AppendAverage(b, a)
	}
	return append(b, '}')
}

// tailKeys holds `,"key":` for each key of the tails q asks for, in the
// order they are written: per percentile its four, then per threshold its
// five (docs/api.md, section 2.4).
func tailKeys(q *convops.Query) []string {
	var keys []string
	for _, p := range q.Percentiles {
		for _, by := range []string{"_byCCP", "_byConsumer", "_bySystem", ""} {
			keys = append(keys, `,"handlingTime_resolvedConversations`+by+"_"+p.Text+`thPercentile":`)
		}
	}
	for _, secs := range q.Thresholds {
		t := strconv.FormatInt(secs, 10)
		for _, by := range []string{"_byCCP", "_byConsumer", "_bySystem"} {
			keys = append(keys, `,"resolvedConversationsWithin_`+t+"s"+by+`":`)
		}
		keys = append(keys, `,"totalResolvedConversationsWithin_`+t+`s":`, `,"serviceLevel_`+t+`s":`)
	}
	return keys
}

// appendTail appends the tail keys of c (keys from tailKeys), before the
// metrics object's closing brace: for an object without conversations
// (no tail), −1 for percentiles and service levels, 0 for counts.
func appendTail(b []byte, c *convops.Counters, q *convops.Query, keys []string) []byte {
	k := 0
	for i := range q.Percentiles {
		for by := range 4 {
			b = append(b, keys[k]...)
			k++
			v := int64(-1)
			if c.Tail != nil {
				v = c.Tail.Percentiles[i][by]
			}
			b = strconv.AppendInt(b, v, 10)
		}
	}
	for i := range q.Thresholds {
		var within int64
		for by := range 3 {
			var v int64
			if c.Tail != nil {
				v = c.Tail.Within[i][by]
			}
			within += v
			b = append(b, keys[k]...)
			k++
			b = strconv.AppendInt(b, v, 10)
		}
		b = append(b, keys[k]...)
		b = strconv.AppendInt(b, within, 10)
		b = append(b, keys[k+1]...)
		k += 2
		if total := c.Total(); total > 0 {
			b = AppendAverage(b, Average(within, total))
		} else {
			b = append(b, "-1"...)
		}
	}
	return b
}
