package store

import (
	"slices"

	"github.com/convops/convops"
	"github.com/convops/convops/histogram"
)

// Sizes of an answer's parts, in memory and in JSON, for AnswerSize.
const (
	answerItemBytes = 64   // an AgentMetrics or SkillMetrics
	answerSpanBytes = 1024 // a report and its interval
	jsonItemBytes   = 640  // a metrics object and its id, counts of up to 9 digits
	jsonSpanBytes   = 1400 // an interval and up to three totals (the account's, the skills', the agents')
)

// AnswerSize bounds what the answer of q over w takes while it is built,
// in memory, and as JSON when it is held whole: the skills and agents it
// may list, in each span. It reads only the lengths of the account's lists.
func (s *Store) AnswerSize(q convops.Query, w convops.Window) (memory, json int64) {
	spans := int64(len(w.Intervals) + 1)
	items := int64(s.answerItems(q))
	memory = spans * (answerSpanBytes + items*answerItemBytes)
	json = spans * (jsonSpanBytes + items*jsonItemBytes)
	if q.WantsTail() {
		// Each object's tail, the account's and the lists' totals' too,
		// and the mergers of the lists' totals, per span.
		tm, tj := tailBytes(&q)
		memory += spans * ((items+3)*tm + 2*int64(histogram.MergerBytes()))
		json += spans * (items + 3) * tj
	}
	return memory, json
}

// answerItems counts the skills and agents an answer to q may list in a
// span.
func (s *Store) answerItems(q convops.Query) int {
	a := s.account(q.Account, false)
	if a == nil {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	items := 0
	if q.Skills.Given {
		count := func(sk *skill) { items += 1 + sk.agents.len() }
		if q.Skills.All {
			for i := range a.skills.items {
				count(&a.skills.items[i])
			}
		} else {
			for _, id := range q.Skills.IDs {
				if sk := a.skills.get(id); sk != nil {
					count(sk)
				}
			}
		}
	}
	if q.Agents.Given {
		if q.Agents.All {
			items += a.agents.len()
		} else {
			items += min(len(q.Agents.IDs), a.agents.len())
		}
	}
	return items
}

// Query answers q over the window w. Its cost is that of the answer: one
// subtraction per number reported, whatever the timeframe.
func (s *Store) Query(q convops.Query, w convops.Window) convops.Result {
	a := s.account(q.Account, false)
	if a != nil {
		a.mu.RLock()
		defer a.mu.RUnlock()
	}
	// The intervals, newest first, then the whole range.
	spans := append(slices.Clone(w.Intervals), w.Whole)
	t := newTailer(&q, spans)
	defer t.release()
	reports := a.reportsLocked(&q, spans, t)
	res := convops.Result{Whole: reports[len(spans)-1]}
	if len(w.Intervals) > 0 {
		res.Intervals = make([]convops.IntervalReport, 0, len(w.Intervals))
	}
	for i, span := range w.Intervals {
		res.Intervals = append(res.Intervals, convops.IntervalReport{TimestampMs: span.EndMs(), Report: reports[i]})
	}
	return res
}

// answerListSize is about the length of the whole span's list of the skills or
// agents f asks for, of n held: the whole span lists about every one with
// data, so its list is made once at that size rather than grown by
// doubling (its elements hold a pointer, and each growth is a scanned
// copy). The intervals' lists, shorter, grow.
func answerListSize(f convops.IDFilter, n int) int {
	if f.All {
		return n
	}
	return min(len(f.IDs), n)
}

// reportsLocked computes the elements q asks for over each span, with
// their tails when t is not nil. A nil account has no data. Lock of a
// should be held for reading.
func (a *account) reportsLocked(q *convops.Query, spans []convops.Span, t *tailer) []convops.Report {
	r := make([]convops.Report, len(spans))
	if a == nil || a.total.empty() {
		return r
	}
	sums := make([]convops.Counters, len(spans))
	// tails sets the tails of sums, those of series sr, adding its
	// histograms into lists' sums when given.
	tails := func(sr *series, into []*histogram.Merger) {
		if t != nil {
			t.of(sr, sums, into)
		}
	}
	a.total.sums(spans, sums)
	tails(&a.total, nil)
	for i := range r {
		r[i].Totals = sums[i]
	}
	if q.Skills.Given {
		// With every skill listed, the skills' totals are the account's.
		var skillSums []*histogram.Merger
		if t != nil && !q.Skills.All {
			t.skillSums = t.sumsFor()
			skillSums = t.skillSums
		}
		with := make([]*convops.SkillMetrics, len(spans)) // where the skill has data
		report := func(id int64, sk *skill) {
			sk.total.sums(spans, sums)
			tails(&sk.total, skillSums)
			any := false
			for i := range r {
				with[i] = nil
				if !sums[i].IsZero() {
					r[i].SkillTotals.Add(&sums[i])
					r[i].Skills = append(r[i].Skills, convops.SkillMetrics{SkillID: id, Totals: sums[i]})
					with[i] = &r[i].Skills[len(r[i].Skills)-1]
					any = true
				}
			}
			if !any {
				return
			}
			if w := with[len(spans)-1]; w != nil {
				w.Agents = make([]convops.AgentMetrics, 0, sk.agents.len())
			}
			for j := range sk.agents.items {
				sk.agents.items[j].sums(spans, sums)
				tails(&sk.agents.items[j], nil)
				for i := range r {
					if with[i] != nil && !sums[i].IsZero() {
						with[i].Agents = append(with[i].Agents, convops.AgentMetrics{AgentID: sk.agents.ids[j], Counters: sums[i]})
					}
				}
			}
		}
		r[len(spans)-1].Skills = make([]convops.SkillMetrics, 0, answerListSize(q.Skills, a.skills.len()))
		if q.Skills.All {
			for j := range a.skills.items {
				report(a.skills.ids[j], &a.skills.items[j])
			}
		} else {
			for _, id := range q.Skills.IDs {
				if sk := a.skills.get(id); sk != nil {
					report(id, sk)
				}
			}
		}
	}
	if q.Skills.Given && t != nil {
		for i := range r {
			if q.Skills.All {
				r[i].SkillTotals.Tail = r[i].Totals.Tail
			} else {
				r[i].SkillTotals.Tail = t.read(t.skillSums[i])
			}
		}
	}
	if q.Agents.Given {
		var agentSums []*histogram.Merger
		if t != nil {
			t.agentSums = t.sumsFor()
			agentSums = t.agentSums
		}
		add := func(id int64, sr *series) {
			sr.sums(spans, sums)
			tails(sr, agentSums)
			for i := range r {
				if !sums[i].IsZero() {
					r[i].AgentTotals.Add(&sums[i])
					r[i].Agents = append(r[i].Agents, convops.AgentMetrics{AgentID: id, Counters: sums[i]})
				}
			}
		}
		r[len(spans)-1].Agents = make([]convops.AgentMetrics, 0, answerListSize(q.Agents, a.agents.len()))
		if q.Agents.All {
			for j := range a.agents.items {
				add(a.agents.ids[j], &a.agents.items[j])
			}
		} else {
			for _, id := range q.Agents.IDs {
				if sr := a.agents.get(id); sr != nil {
					add(id, sr)
				}
			}
		}
		if t != nil {
			for i := range r {
				r[i].AgentTotals.Tail = t.read(t.agentSums[i])
			}
		}
	}
	return r
}
