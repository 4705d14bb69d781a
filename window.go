package convops

// Span is a half-open range of bucket indices [First, End).
type Span struct {
	First, End int64
}

// EndMs is the end of the span in epoch milliseconds: the "timestamp" the API
// reports for an interval.
func (s Span) EndMs() int64 { return s.End * BucketMs }

// Window is the layout of a query: the whole range it covers and, when an
// interval was asked for, the intervals that range is cut into, newest first.
type Window struct {
	Whole     Span
	Intervals []Span // nil without an interval
}

// Layout computes the window of a query answered at now (epoch ms).
//
// A timeframe of T minutes covers the buckets idx(now − T min) … idx(now)
// inclusive, so data of up to 5 minutes before the timeframe is included and the
// newest bucket may end after now. Intervals are rounded up to whole buckets and
// cut from the end backwards; the oldest may be shorter (the remainder).
func Layout(now int64, timeframe, interval int) Window {
	w := Window{Whole: Span{
		First: BucketIndex(now - int64(timeframe)*MinuteMs),
		End:   BucketIndex(now) + 1,
	}}
	if interval <= 0 {
		return w
	}
	const bucketMinutes = BucketMs / MinuteMs
	width := int64((interval + bucketMinutes - 1) / bucketMinutes) // buckets per interval
	for end := w.Whole.End; end > w.Whole.First; end -= width {
		w.Intervals = append(w.Intervals, Span{First: max(w.Whole.First, end-width), End: end})
	}
	return w
}
