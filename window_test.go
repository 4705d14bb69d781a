package convops_test

import (
	"slices"
	"testing"
	"time"

	"github.com/convops/convops"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func idx(s string) int64 { return convops.BucketIndex(ms(s)) }

func TestBucketIndex(t *testing.T) {
	cases := []struct {
		t    int64
		want int64
	}{
		{0, 0}, {1, 0}, {convops.BucketMs - 1, 0}, {convops.BucketMs, 1},
		{-1, -1}, {-convops.BucketMs, -1}, {-convops.BucketMs - 1, -2},
	}
	for _, tc := range cases {
		if got := convops.BucketIndex(tc.t); got != tc.want {
			t.Errorf("BucketIndex(%d) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestLayout(t *testing.T) {
	cases := []struct {
		name                string
		now                 string
		timeframe, interval int
		first, end          string   // the whole range
		timestamps          []string // interval ends, newest first
		starts              []string // interval starts, newest first
	}{
		// Seed: "If the time is now 13:29 and time frame is 7 minutes the API will
		// use 2 buckets: 13:25 and 13:30 ... the time of the data is 13:20-13:29."
		{name: "seed 13:29 timeframe 7", now: "2014-03-26T13:29:00Z", timeframe: 7,
			first: "2014-03-26T13:20:00Z", end: "2014-03-26T13:30:00Z"},
		// Seed: now 8:07, timeframe=20&interval=10 → 8:00-8:10, 7:50-8:00, 7:45-7:50.
		{name: "seed 8:07 timeframe 20 interval 10", now: "2014-03-26T08:07:00Z", timeframe: 20, interval: 10,
			first: "2014-03-26T07:45:00Z", end: "2014-03-26T08:10:00Z",
			timestamps: []string{"2014-03-26T08:10:00Z", "2014-03-26T08:00:00Z", "2014-03-26T07:50:00Z"},
			starts:     []string{"2014-03-26T08:00:00Z", "2014-03-26T07:50:00Z", "2014-03-26T07:45:00Z"}},
		// Seed: the interval 07:30-08:00 has timestamp 1395820800000.
		{name: "seed 30-minute interval ending 08:00", now: "2014-03-26T07:59:59Z", timeframe: 30, interval: 30,
			first: "2014-03-26T07:25:00Z", end: "2014-03-26T08:00:00Z",
			timestamps: []string{"2014-03-26T08:00:00Z", "2014-03-26T07:30:00Z"},
			starts:     []string{"2014-03-26T07:30:00Z", "2014-03-26T07:25:00Z"}},
		{name: "now on a bucket edge", now: "2014-03-26T08:00:00Z", timeframe: 5,
			first: "2014-03-26T07:55:00Z", end: "2014-03-26T08:05:00Z"},
		{name: "interval rounded up to 5 minutes", now: "2014-03-26T08:07:00Z", timeframe: 6, interval: 3,
			first: "2014-03-26T08:00:00Z", end: "2014-03-26T08:10:00Z",
			timestamps: []string{"2014-03-26T08:10:00Z", "2014-03-26T08:05:00Z"},
			starts:     []string{"2014-03-26T08:05:00Z", "2014-03-26T08:00:00Z"}},
		{name: "24 hours in one interval", now: "2014-03-26T08:07:00Z", timeframe: 1440, interval: 1440,
			first: "2014-03-25T08:05:00Z", end: "2014-03-26T08:10:00Z",
			timestamps: []string{"2014-03-26T08:10:00Z", "2014-03-25T08:10:00Z"},
			starts:     []string{"2014-03-25T08:10:00Z", "2014-03-25T08:05:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := convops.Layout(ms(tc.now), tc.timeframe, tc.interval)
			if w.Whole.First != idx(tc.first) || w.Whole.End*convops.BucketMs != ms(tc.end) {
				t.Errorf("whole = %v, want %s–%s", w.Whole, tc.first, tc.end)
			}
			var gotEnds, gotStarts, wantEnds, wantStarts []int64
			for _, s := range w.Intervals {
				gotEnds = append(gotEnds, s.EndMs())
				gotStarts = append(gotStarts, s.First*convops.BucketMs)
			}
			for i := range tc.timestamps {
				wantEnds = append(wantEnds, ms(tc.timestamps[i]))
				wantStarts = append(wantStarts, ms(tc.starts[i]))
			}
			if !slices.Equal(gotEnds, wantEnds) || !slices.Equal(gotStarts, wantStarts) {
				t.Errorf("intervals ends %v starts %v, want %v %v", gotEnds, gotStarts, wantEnds, wantStarts)
			}
		})
	}
	if got := ms("2014-03-26T08:00:00Z"); got != 1395820800000 {
		t.Errorf("seed timestamp: 2014-03-26T08:00Z is %d, want 1395820800000", got)
	}
}

// TestLayoutCoversWhole checks, for every timeframe and valid interval, that the
// intervals tile the whole range exactly, newest first.
func TestLayoutCoversWhole(t *testing.T) {
	now := ms("2026-11-27T13:29:17Z")
	for tf := 1; tf <= convops.MaxTimeframeMinutes; tf++ {
		for iv := 1; iv <= tf; iv++ {
			if tf%iv != 0 {
				continue
			}
			w := convops.Layout(now, tf, iv)
			end := w.Whole.End
			for _, s := range w.Intervals {
				if s.End != end || s.First >= s.End {
					t.Fatalf("tf %d iv %d: bad interval %v after %d", tf, iv, s, end)
				}
				end = s.First
			}
			if end != w.Whole.First {
				t.Fatalf("tf %d iv %d: intervals stop at %d, range starts at %d", tf, iv, end, w.Whole.First)
			}
		}
	}
}
