package answerjson_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/answerjson"
)

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("client gone")
}

// TestWriteMatchesAppend: streaming an answer in pieces writes the same
// bytes as building it whole, and stops at the first failed write.
func TestWriteMatchesAppend(t *testing.T) {
	q := convops.Query{Timeframe: 60, Interval: 30, Skills: convops.IDFilter{Given: true, All: true}, Agents: convops.IDFilter{Given: true, All: true}}
	var r convops.Report
	for id := range int64(3000) {
		var c convops.Counters
		c.AddEvent(convops.ResolvedBy(id%3), id*7)
		r.Agents = append(r.Agents, convops.AgentMetrics{AgentID: id, Counters: c})
		r.AgentTotals.Add(&c)
	}
	r.Skills = []convops.SkillMetrics{{SkillID: 1, Agents: r.Agents, Totals: r.AgentTotals}}
	res := convops.Result{Whole: r, Intervals: []convops.IntervalReport{{TimestampMs: 1, Report: r}, {TimestampMs: 2, Report: r}}}

	want := answerjson.Append(nil, &q, &res)
	var got bytes.Buffer
	if err := answerjson.Write(&got, &q, &res); err != nil {
		t.Fatal(err)
	}
	if len(want) < 1<<20 || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("streamed %d bytes, built %d; equal: %v", got.Len(), len(want), bytes.Equal(got.Bytes(), want))
	}
	w := &failingWriter{}
	if err := answerjson.Write(w, &q, &res); err == nil || w.n != 1 {
		t.Errorf("after a failed write: err %v, %d writes", err, w.n)
	}
}

// goneWriter takes the first write and fails every one after it, as a
// connection whose client has gone.
type goneWriter struct{ writes int }

func (f *goneWriter) Write(p []byte) (int, error) {
	f.writes++
	if f.writes > 1 {
		return 0, errors.New("client gone")
	}
	return len(p), nil
}

// TestWriteStopsWhenTheClientIsGone: after a failed write, the rest
// of a large answer is neither written nor formatted.
func TestWriteStopsWhenTheClientIsGone(t *testing.T) {
	var res convops.Result
	for i := range 50 {
		iv := convops.IntervalReport{TimestampMs: int64(i)}
		for a := range 2000 {
			iv.Agents = append(iv.Agents, convops.AgentMetrics{AgentID: int64(a)})
		}
		res.Intervals = append(res.Intervals, iv)
	}
	q := convops.Query{Timeframe: 60, Interval: 1, Agents: convops.IDFilter{Given: true, All: true}}
	w := &goneWriter{}
	allocs := testing.AllocsPerRun(1, func() {
		w.writes = 0
		if err := answerjson.Write(w, &q, &res); err == nil {
			t.Error("no error from a writer that failed")
		}
	})
	if w.writes != 2 {
		t.Errorf("%d writes, want 2: none after the one that failed", w.writes)
	}
	if allocs > 5 {
		t.Errorf("%.0f allocations: the answer kept growing after the client had gone", allocs)
	}
}

// recordingWriter keeps the size of each write.
type recordingWriter struct{ sizes []int }

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return len(p), nil
}

// TestWriteHoldsNoMoreThanItsBuffer: whatever the shape — many skills
// without agents over many intervals, or many agents — the answer is handed
// on in pieces no larger than BufferBytes.
func TestWriteHoldsNoMoreThanItsBuffer(t *testing.T) {
	skills := convops.IDFilter{Given: true, All: true}
	var skillsOnly convops.Report
	for id := range int64(100) {
		var c convops.Counters
		c.AddEvent(convops.ByCCP, id)
		skillsOnly.Skills = append(skillsOnly.Skills, convops.SkillMetrics{SkillID: id, Totals: c})
	}
	res := convops.Result{Whole: skillsOnly}
	for i := range int64(289) {
		res.Intervals = append(res.Intervals, convops.IntervalReport{TimestampMs: i, Report: skillsOnly})
	}
	q := convops.Query{Timeframe: 1440, Interval: 5, Skills: skills}
	w := &recordingWriter{}
	if err := answerjson.Write(w, &q, &res); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range w.sizes {
		total += n
		if n > answerjson.BufferBytes {
			t.Errorf("a write of %d bytes, past BufferBytes (%d)", n, answerjson.BufferBytes)
		}
	}
	if total < 10<<20 || len(w.sizes) < 100 {
		t.Errorf("%d bytes in %d writes: want a large answer in many pieces", total, len(w.sizes))
	}
}
