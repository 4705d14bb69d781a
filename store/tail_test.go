package store_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
)

// heavyTailMs draws a handling time as contact centres see them: mostly
// minutes, log-normal with a heavy tail, and the edges (0, 1 ms, 24 h, the
// largest accepted) often enough to be met.
func heavyTailMs(r *rand.Rand) int64 {
	switch r.IntN(20) {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return 86_400_000
	case 3:
		return convops.MaxHandlingTimeMs - r.Int64N(2)
	case 4:
		return r.Int64N(100) // small values, where the 1 ms of the bound is all there is
	case 5:
		return 1000 * (1 + r.Int64N(900)) // on whole seconds, where thresholds are
	}
	v := math.Exp(11.5 + 1.6*r.NormFloat64()) // median ~100 s, a tail of hours
	return min(int64(v), convops.MaxHandlingTimeMs)
}

// tailObject names a metrics object of an answer.
type tailObject struct {
	kind       string // "totals", "skill", "skillAgent", "skills", "agent", "agents"
	skill, id  int64
	spanEndsMs int64
}

// exactTails lists, per object of the answer to q over span, the handling
// times of the conversations it counts, per resolver: the plain way.
func exactTails(events []convops.Event, q convops.Query, span convops.Span) map[tailObject]*[3][]int64 {
	out := map[tailObject]*[3][]int64{}
	add := func(o tailObject, e convops.Event) {
		o.spanEndsMs = span.EndMs()
		if out[o] == nil {
			out[o] = new([3][]int64)
		}
		out[o][e.ResolvedBy] = append(out[o][e.ResolvedBy], e.HandlingTimeMs)
	}
	for _, e := range events {
		if b := convops.BucketIndex(e.ResolvedAt); b < span.First || b >= span.End {
			continue
		}
		add(tailObject{kind: "totals"}, e)
		if q.Skills.Given && q.Skills.Contains(e.SkillID) {
			add(tailObject{kind: "skill", skill: e.SkillID}, e)
			add(tailObject{kind: "skills"}, e)
			if e.HasAgent {
				add(tailObject{kind: "skillAgent", skill: e.SkillID, id: e.AgentID}, e)
			}
		}
		if q.Agents.Given && e.HasAgent && q.Agents.Contains(e.AgentID) {
			add(tailObject{kind: "agent", id: e.AgentID}, e)
			add(tailObject{kind: "agents"}, e)
		}
	}
	return out
}

// nearestRank is the smallest v such that at least tenths/10 % of values
// are <= v.
func nearestRank(values []int64, tenths int64) int64 {
	s := slices.Sorted(slices.Values(values))
	rank := (tenths*int64(len(s)) + 999) / 1000
	return s[rank-1]
}

// checkTail asserts the contract of one object's tail against its exact
// handling times: each percentile within 1% + 1 ms of the exact
// nearest-rank value, −1 where there is none; each count within a
// threshold exact but for values within 1% of it.
func checkTail(t *testing.T, where string, q *convops.Query, c *convops.Counters, exact *[3][]int64) {
	t.Helper()
	if exact == nil {
		if !c.IsZero() || c.Tail != nil {
			t.Fatalf("%s: counts %v with a tail %v, the scan has none", where, c.Count, c.Tail)
		}
		return
	}
	if c.Tail == nil {
		t.Fatalf("%s: no tail, the scan has %d conversations", where, len(exact[0])+len(exact[1])+len(exact[2]))
	}
	all := slices.Concat(exact[0], exact[1], exact[2])
	for i, p := range q.Percentiles {
		for by := range 4 {
			values := all
			if by < 3 {
				values = exact[by]
			}
			got := c.Tail.Percentiles[i][by]
			if len(values) == 0 {
				if got != -1 {
					t.Fatalf("%s: p%s of resolver %d is %d, there are none", where, p.Text, by, got)
				}
				continue
			}
			v := nearestRank(values, p.Tenths)
			if math.Abs(float64(got-v)) > 0.01*float64(v)+1 {
				t.Fatalf("%s: p%s of resolver %d is %d, exactly %d (of %d values)", where, p.Text, by, got, v, len(values))
			}
		}
	}
	for i, secs := range q.Thresholds {
		limit := secs * 1000
		for by := range 3 {
			var must, may int64 // surely within; within or in the 1% band
			for _, v := range exact[by] {
				if v <= limit && 100*v < 99*limit {
					must++
				}
				if 100*v <= 101*limit {
					may++
				}
			}
			if got := c.Tail.Within[i][by]; got < must || got > may {
				t.Fatalf("%s: %d of resolver %d within %d s, the scan has %d to %d", where, got, by, secs, must, may)
			}
		}
	}
}

// checkTails checks every object of an answer, and that it lists no more
// objects than the scan finds.
func checkTails(t *testing.T, label string, q *convops.Query, res convops.Result, events []convops.Event, w convops.Window) {
	t.Helper()
	check := func(rep *convops.Report, span convops.Span) {
		exact := exactTails(events, *q, span)
		at := func(kind string, skill, id int64) *[3][]int64 {
			return exact[tailObject{kind: kind, skill: skill, id: id, spanEndsMs: span.EndMs()}]
		}
		where := func(kind string, skill, id int64) string {
			return fmt.Sprintf("%s %+v span %v %s skill %d id %d", label, *q, span, kind, skill, id)
		}
		checkTail(t, where("totals", 0, 0), q, &rep.Totals, at("totals", 0, 0))
		if q.Skills.Given {
			checkTail(t, where("skills", 0, 0), q, &rep.SkillTotals, at("skills", 0, 0))
			for _, sk := range rep.Skills {
				checkTail(t, where("skill", sk.SkillID, 0), q, &sk.Totals, at("skill", sk.SkillID, 0))
				for _, ag := range sk.Agents {
					checkTail(t, where("skillAgent", sk.SkillID, ag.AgentID), q, &ag.Counters, at("skillAgent", sk.SkillID, ag.AgentID))
				}
			}
		}
		if q.Agents.Given {
			checkTail(t, where("agents", 0, 0), q, &rep.AgentTotals, at("agents", 0, 0))
			for _, ag := range rep.Agents {
				checkTail(t, where("agent", 0, ag.AgentID), q, &ag.Counters, at("agent", 0, ag.AgentID))
			}
		}
	}
	check(&res.Whole, w.Whole)
	for i, iv := range res.Intervals {
		check(&iv.Report, w.Intervals[i])
	}
}

// randomTailQuery adds random percentiles and thresholds to q.
func randomTailQuery(r *rand.Rand, q *convops.Query) {
	seen := map[int64]bool{}
	for range 1 + r.IntN(convops.MaxPercentiles) {
		tenths := []int64{500, 900, 950, 990, 999, 1, 10, 250, 750}[r.IntN(9)]
		if r.IntN(3) == 0 {
			tenths = 1 + r.Int64N(999)
		}
		if !seen[tenths] {
			seen[tenths] = true
			q.Percentiles = append(q.Percentiles, convops.Percentile{Tenths: tenths, Text: fmt.Sprintf("%d.%d", tenths/10, tenths%10)})
		}
	}
	seenT := map[int64]bool{}
	for range r.IntN(convops.MaxThresholds + 1) {
		secs := []int64{1, 30, 60, 300, 600, 3600, 86400}[r.IntN(7)]
		if r.IntN(2) == 0 {
			secs = 1 + r.Int64N(convops.MaxThresholdSeconds)
		}
		if !seenT[secs] {
			seenT[secs] = true
			q.Thresholds = append(q.Thresholds, secs)
		}
	}
}

// TestTailsMatchExactScan: on random workloads (heavy tails and the edges
// of handling time, objects with many and with few conversations, events
// hours late, the clock moving on for 30 hours so that buckets leave
// retention), every percentile and every count within a threshold of
// every object of random queries (shapes, timeframes, intervals) keeps
// its bound against an exact computation over the raw events; the counts
// stay exact.
func TestTailsMatchExactScan(t *testing.T) {
	const hour = 3_600_000
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 14))
		s := store.New(store.Options{})
		var held []convops.Event
		clock := now - 30*hour
		for i := 0; clock < now; i++ {
			clock += r.Int64N(10 * 60_000)
			var events []convops.Event
			for range 1 + r.IntN(60) {
				e := convops.Event{EventID: fmt.Sprintf("e%d-%d", i, len(events)), ResolvedBy: convops.ResolvedBy(r.IntN(3)),
					HandlingTimeMs: heavyTailMs(r), ResolvedAt: clock - r.Int64N(10*60_000)}
				if r.IntN(4) == 0 { // hours late
					e.ResolvedAt = clock - r.Int64N(20*hour)
				}
				// Skill 0 and agent 0 are busy, the others seldom seen.
				e.SkillID = []int64{0, 0, 0, 1, 2, -1, r.Int64N(40)}[r.IntN(7)]
				if r.IntN(5) != 0 {
					e.AgentID, e.HasAgent = []int64{0, 0, 1, 2, r.Int64N(60)}[r.IntN(5)], true
				}
				events = append(events, e)
			}
			if i > 0 && r.IntN(10) == 0 && len(held) > 0 { // a repeat counts once
				events = append(events, held[r.IntN(len(held))])
			}
			mustApply(t, s, convops.Batch{Account: "acc", Now: clock, LogTime: clock, Events: events})
			horizon := convops.RetentionHorizon(clock)
			for _, e := range events {
				if !slices.ContainsFunc(held, func(h convops.Event) bool { return h.EventID == e.EventID }) && convops.BucketIndex(e.ResolvedAt) >= horizon {
					held = append(held, e)
				}
			}
		}
		horizon := convops.RetentionHorizon(clock)
		var events []convops.Event
		for _, e := range held {
			if convops.BucketIndex(e.ResolvedAt) >= horizon {
				events = append(events, e)
			}
		}
		for range 40 {
			tf := []int{5, 60, 240, 1440, 1 + r.IntN(convops.MaxTimeframeMinutes)}[r.IntN(5)]
			q := convops.Query{Account: "acc", Timeframe: tf, Skills: randomFilter(r, 3), Agents: randomFilter(r, 3)}
			if r.IntN(2) == 0 {
				for {
					if d := 1 + r.IntN(tf); tf%d == 0 {
						q.Interval = d
						break
					}
				}
			}
			randomTailQuery(r, &q)
			w := convops.Layout(clock-r.Int64N(2*hour), q.Timeframe, q.Interval)
			res := s.Query(q, w)
			checkTails(t, fmt.Sprintf("seed %d", seed), &q, res, events, w)
			plain := q
			plain.Percentiles, plain.Thresholds = nil, nil
			if got, want := countsOf(res), fmt.Sprint(scan(events, plain, w)); got != want {
				t.Fatalf("seed %d: the counts changed with a tail:\n got  %s\n want %s", seed, got, want)
			}
		}
	}
}

// countsOf prints a result without its tails, which it drops.
func countsOf(res convops.Result) string {
	strip := func(c *convops.Counters) { c.Tail = nil }
	each := func(r *convops.Report) {
		strip(&r.Totals)
		strip(&r.SkillTotals)
		strip(&r.AgentTotals)
		for i := range r.Skills {
			strip(&r.Skills[i].Totals)
			for j := range r.Skills[i].Agents {
				strip(&r.Skills[i].Agents[j].Counters)
			}
		}
		for i := range r.Agents {
			strip(&r.Agents[i].Counters)
		}
	}
	each(&res.Whole)
	for i := range res.Intervals {
		each(&res.Intervals[i].Report)
	}
	return fmt.Sprint(res)
}
