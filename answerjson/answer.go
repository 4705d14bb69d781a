// Package answerjson writes the answer of a Messaging Conversation query
// as the API gives it (docs/api.md, section 2): the twelve metrics of each
// object, averages as float32, keys in their order.
package answerjson

import (
	"io"
	"strconv"

	"github.com/convops/convops"
)

// The JSON answer of a Messaging Conversation query is written by hand
// instead of building maps for encoding/json: the key order is fixed by the
// API, map keys must be ascending numerically, and an answer can hold
// hundreds of thousands of numbers, none of which should allocate.

// flushAt is the size at which Write hands its buffer to the writer, after
// an agent, a skill or an interval: an element of any size past it is the
// most it holds beyond.
const flushAt = 64 << 10

// BufferBytes is what Write holds while it writes: its buffer, which an
// element can pass flushAt by before it is handed on (an agent's metrics
// object and its id, a skill's or an interval's closing totals). The
// server counts it in its request-memory budget.
const BufferBytes = flushAt + 4096

// jsonWriter appends to buf and, when w is set, passes buf on to w whenever
// it holds flushAt bytes, so that an answer of any size needs 64 KiB.
type jsonWriter struct {
	buf []byte
	w   io.Writer
	err error
	q   *convops.Query
	// tailKeys are the keys of the tails the query asks for (nil when it
	// asks for none).
	tailKeys []string
}

// maybeFlush passes a full buffer on. After a failed write (the client has
// gone), what is formatted is dropped: an answer of any size then costs no
// more memory, and the loops stop at their next check of j.err.
func (j *jsonWriter) maybeFlush() {
	if j.w != nil && len(j.buf) >= flushAt {
		if j.err == nil {
			_, j.err = j.w.Write(j.buf)
		}
		j.buf = j.buf[:0]
	}
}

// Append appends the JSON answer of a query to b.
func Append(b []byte, q *convops.Query, res *convops.Result) []byte {
	j := &jsonWriter{buf: b}
	j.result(q, res)
	return j.buf
}

// Write writes the JSON answer of a query to w, in pieces of about 64 KiB,
// handed on after an agent, a skill or an interval: a 100 MB answer is
// never held whole, whatever its shape (BufferBytes at most).
func Write(w io.Writer, q *convops.Query, res *convops.Result) error {
	j := &jsonWriter{buf: make([]byte, 0, BufferBytes), w: w}
	j.result(q, res)
	if j.err == nil && len(j.buf) > 0 {
		_, j.err = w.Write(j.buf)
	}
	return j.err
}

func (j *jsonWriter) result(q *convops.Query, res *convops.Result) {
	j.q = q
	if q.WantsTail() {
		j.tailKeys = tailKeys(q)
	}
	j.buf = append(j.buf, '{')
	if q.Interval > 0 {
		j.buf = append(j.buf, `"metricsByIntervals":[`...)
		for i := range res.Intervals {
			if j.err != nil {
				return
			}
			if i > 0 {
				j.buf = append(j.buf, ',')
			}
			iv := &res.Intervals[i]
			j.buf = append(j.buf, `{"timestamp":`...)
			j.buf = strconv.AppendInt(j.buf, iv.TimestampMs, 10)
			j.buf = append(j.buf, `,"metricsData":{`...)
			j.elements(q, &iv.Report)
			j.buf = append(j.buf, "}}"...)
			j.maybeFlush()
		}
		j.buf = append(j.buf, "],"...)
	}
	j.elements(q, &res.Whole)
	j.buf = append(j.buf, '}')
}

// elements writes the members of one report (totals, skills, agents), without braces.
func (j *jsonWriter) elements(q *convops.Query, r *convops.Report) {
	if !q.Skills.Given && !q.Agents.Given {
		j.buf = append(j.buf, `"metricsTotals":`...)
		j.metrics(&r.Totals)
		return
	}
	if q.Skills.Given {
		j.buf = append(j.buf, `"skillsMetricsPerAgent":{"metricsPerSkill":{`...)
		for i := range r.Skills {
			if j.err != nil {
				return
			}
			sk := &r.Skills[i]
			if i > 0 {
				j.buf = append(j.buf, ',')
			}
			j.key(sk.SkillID)
			j.buf = append(j.buf, `{"metricsPerAgent":`...)
			j.agents(sk.Agents)
			j.buf = append(j.buf, `,"metricsTotals":`...)
			j.metrics(&sk.Totals)
			j.buf = append(j.buf, '}')
			j.maybeFlush()
		}
		j.buf = append(j.buf, `},"metricsTotals":`...)
		j.metrics(&r.SkillTotals)
		j.buf = append(j.buf, '}')
	}
	if q.Agents.Given {
		if q.Skills.Given {
			j.buf = append(j.buf, ',')
		}
		j.buf = append(j.buf, `"agentsMetrics":{"metricsPerAgent":`...)
		j.agents(r.Agents)
		j.buf = append(j.buf, `,"metricsTotals":`...)
		j.metrics(&r.AgentTotals)
		j.buf = append(j.buf, '}')
	}
}

func (j *jsonWriter) agents(agents []convops.AgentMetrics) {
	j.buf = append(j.buf, '{')
	for i := range agents {
		if j.err != nil {
			return
		}
		if i > 0 {
			j.buf = append(j.buf, ',')
		}
		j.key(agents[i].AgentID)
		j.metrics(&agents[i].Counters)
		j.maybeFlush()
	}
	j.buf = append(j.buf, '}')
}

// key writes `"<id>":`.
func (j *jsonWriter) key(id int64) {
	j.buf = append(j.buf, '"')
	j.buf = strconv.AppendInt(j.buf, id, 10)
	j.buf = append(j.buf, `":`...)
}

// metrics writes a metrics object: the twelve, then the tail keys.
func (j *jsonWriter) metrics(c *convops.Counters) {
	j.buf = AppendMetrics(j.buf, c)
	if j.tailKeys != nil {
		j.buf = appendTail(j.buf[:len(j.buf)-1], c, j.q, j.tailKeys)
		j.buf = append(j.buf, '}')
	}
}
