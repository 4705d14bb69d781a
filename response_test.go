package convops_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/convops/convops"
)

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("client gone")
}

// TestWriteResultMatchesAppend: streaming an answer in pieces writes the same
// bytes as building it whole, and stops at the first failed write.
func TestWriteResultMatchesAppend(t *testing.T) {
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

	want := convops.AppendResult(nil, &q, &res)
	var got bytes.Buffer
	if err := convops.WriteResult(&got, &q, &res); err != nil {
		t.Fatal(err)
	}
	if len(want) < 1<<20 || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("streamed %d bytes, built %d; equal: %v", got.Len(), len(want), bytes.Equal(got.Bytes(), want))
	}
	w := &failingWriter{}
	if err := convops.WriteResult(w, &q, &res); err == nil || w.n != 1 {
		t.Errorf("after a failed write: err %v, %d writes", err, w.n)
	}
}
