package store_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
)

// now is the data clock of the tests: 13:29:17 on a day in 2026.
const now int64 = 1795786157000

// randomEvents makes events that exercise the edges of the fold: bucket
// boundaries, clock skew into the current bucket, the oldest bucket in
// retention, missing agents, the unassigned skill and repeated eventIds.
func randomEvents(r *rand.Rand, n int) []convops.Event {
	horizon := convops.RetentionHorizon(now) * convops.BucketMs
	events := make([]convops.Event, 0, n)
	for i := range n {
		var at int64
		switch r.IntN(5) {
		case 0: // exactly on a bucket edge
			at = horizon + r.Int64N(289)*convops.BucketMs
		case 1: // just before an edge
			at = horizon + (1+r.Int64N(288))*convops.BucketMs - 1
		case 2: // skew: after now, in the current bucket or the next
			at = now + r.Int64N(convops.MaxClockSkewMs)
		default:
			at = horizon + r.Int64N(now-horizon)
		}
		e := convops.Event{
			EventID:        fmt.Sprintf("e%d", i),
			SkillID:        r.Int64N(6) - 1, // -1 … 4
			ResolvedBy:     convops.ResolvedBy(r.IntN(3)),
			ResolvedAt:     at,
			HandlingTimeMs: r.Int64N(600000),
		}
		if r.IntN(4) != 0 {
			e.AgentID, e.HasAgent = r.Int64N(8), true
		}
		if i > 0 && r.IntN(8) == 0 { // a duplicate of an earlier event, maybe with other fields
			e.EventID = events[r.IntN(len(events))].EventID
		}
		events = append(events, e)
	}
	return events
}

func randomFilter(r *rand.Rand, max int64) convops.IDFilter {
	switch r.IntN(4) {
	case 0:
		return convops.IDFilter{}
	case 1:
		return convops.IDFilter{Given: true, All: true}
	}
	f := convops.IDFilter{Given: true}
	for range 1 + r.IntN(4) {
		f.IDs = append(f.IDs, r.Int64N(max+2)-1)
	}
	slices.Sort(f.IDs)
	f.IDs = slices.Compact(f.IDs)
	return f
}

// scan answers a query the plain way: every distinct event, one by one.
func scan(events []convops.Event, q convops.Query, w convops.Window) convops.Result {
	seen := map[string]bool{}
	var unique []convops.Event
	for _, e := range events {
		if !seen[e.EventID] {
			seen[e.EventID] = true
			unique = append(unique, e)
		}
	}
	report := func(span convops.Span) convops.Report {
		var r convops.Report
		skills := map[int64]*convops.SkillMetrics{}
		skillAgents := map[int64]map[int64]*convops.Counters{}
		agents := map[int64]*convops.Counters{}
		for _, e := range unique {
			if b := convops.BucketIndex(e.ResolvedAt); b < span.First || b >= span.End {
				continue
			}
			r.Totals.AddEvent(e.ResolvedBy, e.HandlingTimeMs)
			if q.Skills.Given && q.Skills.Contains(e.SkillID) {
				if skills[e.SkillID] == nil {
					skills[e.SkillID] = &convops.SkillMetrics{SkillID: e.SkillID}
					skillAgents[e.SkillID] = map[int64]*convops.Counters{}
				}
				skills[e.SkillID].Totals.AddEvent(e.ResolvedBy, e.HandlingTimeMs)
				r.SkillTotals.AddEvent(e.ResolvedBy, e.HandlingTimeMs)
				if e.HasAgent {
					if skillAgents[e.SkillID][e.AgentID] == nil {
						skillAgents[e.SkillID][e.AgentID] = new(convops.Counters)
					}
					skillAgents[e.SkillID][e.AgentID].AddEvent(e.ResolvedBy, e.HandlingTimeMs)
				}
			}
			if q.Agents.Given && e.HasAgent && q.Agents.Contains(e.AgentID) {
				if agents[e.AgentID] == nil {
					agents[e.AgentID] = new(convops.Counters)
				}
				agents[e.AgentID].AddEvent(e.ResolvedBy, e.HandlingTimeMs)
				r.AgentTotals.AddEvent(e.ResolvedBy, e.HandlingTimeMs)
			}
		}
		for id, sk := range skills {
			sk.Agents = sorted(skillAgents[id])
			r.Skills = append(r.Skills, *sk)
		}
		slices.SortFunc(r.Skills, func(a, b convops.SkillMetrics) int { return cmp.Compare(a.SkillID, b.SkillID) })
		r.Agents = sorted(agents)
		return r
	}
	res := convops.Result{Whole: report(w.Whole)}
	for _, span := range w.Intervals {
		res.Intervals = append(res.Intervals, convops.IntervalReport{TimestampMs: span.EndMs(), Report: report(span)})
	}
	return res
}

func sorted(m map[int64]*convops.Counters) []convops.AgentMetrics {
	var out []convops.AgentMetrics
	for id, c := range m {
		out = append(out, convops.AgentMetrics{AgentID: id, Counters: *c})
	}
	slices.SortFunc(out, func(a, b convops.AgentMetrics) int { return cmp.Compare(a.AgentID, b.AgentID) })
	return out
}

// TestQueryMatchesScan folds random events and compares random queries with a
// plain scan over the raw events.
func TestQueryMatchesScan(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		events := randomEvents(r, 3000)
		s := store.New(store.Options{})
		var outcome convops.Outcome
		for start := 0; start < len(events); {
			end := min(len(events), start+1+r.IntN(200))
			outcome.Add(mustApply(t, s, convops.Batch{Account: "acc", Now: now, Events: events[start:end]}))
			start = end
		}
		distinct := map[string]bool{}
		for _, e := range events {
			distinct[e.EventID] = true
		}
		if outcome.Accepted != len(distinct) || outcome.Duplicates != len(events)-len(distinct) {
			t.Fatalf("seed %d: outcome %+v, want %d accepted %d duplicates", seed, outcome, len(distinct), len(events)-len(distinct))
		}

		for range 50 {
			tf := 1 + r.IntN(convops.MaxTimeframeMinutes)
			var divisors []int
			for d := 1; d <= tf; d++ {
				if tf%d == 0 {
					divisors = append(divisors, d)
				}
			}
			q := convops.Query{Account: "acc", Timeframe: tf, Skills: randomFilter(r, 4), Agents: randomFilter(r, 7)}
			if r.IntN(2) == 0 {
				q.Interval = divisors[r.IntN(len(divisors))]
			}
			queryNow := now - r.Int64N(2*convops.BucketMs)
			w := convops.Layout(queryNow, q.Timeframe, q.Interval)
			got, want := s.Query(q, w), scan(events, q, w)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("seed %d query %+v:\n got  %v\n want %v", seed, q, got, want)
			}
			if got.Whole.Totals.IsZero() && len(events) > 0 && q.Timeframe == convops.MaxTimeframeMinutes {
				t.Fatalf("seed %d: a 24-hour query saw nothing", seed)
			}
		}
	}
}

func TestUnknownAccountHasZeroReport(t *testing.T) {
	s := store.New(store.Options{})
	q := convops.Query{Account: "nobody", Timeframe: 60, Interval: 30, Skills: convops.IDFilter{Given: true, All: true}}
	res := s.Query(q, convops.Layout(now, 60, 30))
	if !res.Whole.Totals.IsZero() || res.Whole.Skills != nil || len(res.Intervals) != 3 {
		t.Errorf("got %+v", res)
	}
}

// TestRetention moves the log's clock forward and checks that buckets and
// dedupe keys past the horizon are dropped, and that an event past it is
// acknowledged but not stored.
func TestRetention(t *testing.T) {
	s := store.New(store.Options{})
	day := int64(convops.MaxTimeframeMinutes) * convops.MinuteMs
	ev := func(id string, at int64) convops.Event {
		return convops.Event{EventID: id, ResolvedAt: at, HandlingTimeMs: 1, SkillID: -1}
	}
	mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{ev("old", now-day+convops.BucketMs), ev("new", now)}})
	if st := s.Stats(); st.DedupeKeys != 2 {
		t.Fatalf("before: %+v", st)
	}

	later := now + 2*convops.BucketMs
	out := mustApply(t, s, convops.Batch{Account: "a", Now: later, Events: []convops.Event{ev("old", now), ev("new", now), ev("past", now-day-convops.BucketMs)}})
	if out.Accepted != 2 || out.Duplicates != 1 {
		t.Errorf("outcome %+v: want old accepted again (its key expired), new duplicate, past accepted", out)
	}
	if st := s.Stats(); st.DedupeKeys != 2 {
		t.Errorf("after: %+v, want the keys old and new", st)
	}
	res := s.Query(convops.Query{Account: "a", Timeframe: convops.MaxTimeframeMinutes}, convops.Layout(later, convops.MaxTimeframeMinutes, 0))
	if got := res.Whole.Totals.Total(); got != 2 {
		t.Errorf("24-hour total %d, want 2", got)
	}
}

// mustApply applies b and fails the test when it is refused.
func mustApply(t testing.TB, s *store.Store, b convops.Batch) convops.Outcome {
	t.Helper()
	out, err := s.Apply(b)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return out
}

// TestQueryMatchesScanOverTime folds batches of several accounts while the
// log's clock moves over 30 hours, with events up to six hours late and ids
// sent again (sometimes after their first copy has left retention), and
// compares queries of every account, made with a clock up to four hours
// behind the log's, with a plain scan of what the store must hold.
func TestQueryMatchesScanOverTime(t *testing.T) {
	const hour = 3_600_000
	accounts := []string{"a", "b", "c", "d", "e"}
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 2))
		s := store.New(store.Options{})

		// The oracle: the store's rules, applied event by event.
		type stored struct {
			account string
			e       convops.Event
		}
		var held []stored
		keep := map[string]int64{} // account/eventId → bucket kept until
		var sent []stored          // to send again
		clock := now - 30*hour
		var horizon int64
		for clock < now {
			clock += r.Int64N(15 * 60_000) // the log's clock moves on
			horizon = convops.RetentionHorizon(clock)
			account := accounts[r.IntN(len(accounts))]
			var events []convops.Event
			for range 1 + r.IntN(40) {
				var e convops.Event
				if len(sent) > 0 && r.IntN(10) == 0 {
					e = sent[r.IntN(len(sent))].e // again, maybe changed, maybe expired
					e.HandlingTimeMs++
				} else {
					e = convops.Event{EventID: fmt.Sprintf("%s-%d", account, r.Int()), SkillID: r.Int64N(5) - 1, ResolvedBy: convops.ResolvedBy(r.IntN(3)),
						HandlingTimeMs: r.Int64N(600000), ResolvedAt: clock - r.Int64N(10*60_000)}
					if r.IntN(4) == 0 { // hours late
						e.ResolvedAt = clock - r.Int64N(6*hour)
					}
					if r.IntN(5) != 0 {
						e.AgentID, e.HasAgent = r.Int64N(8), true
					}
				}
				events = append(events, e)
			}
			out := mustApply(t, s, convops.Batch{Account: account, Now: clock, Events: events})
			var want convops.Outcome
			for _, e := range events {
				k := account + "/" + e.EventID
				if until, ok := keep[k]; ok && until >= horizon {
					want.Duplicates++
					continue
				}
				want.Accepted++
				keep[k] = max(convops.BucketIndex(e.ResolvedAt), horizon)
				held = append(held, stored{account, e})
				sent = append(sent, stored{account, e})
			}
			if out != want {
				t.Fatalf("seed %d at %d: outcome %+v, want %+v", seed, clock, out, want)
			}
		}
		for _, account := range accounts {
			var events []convops.Event
			for _, h := range held {
				if h.account == account && convops.BucketIndex(h.e.ResolvedAt) >= horizon {
					events = append(events, h.e)
				}
			}
			for range 30 {
				tf := 1 + r.IntN(convops.MaxTimeframeMinutes)
				q := convops.Query{Account: account, Timeframe: tf, Skills: randomFilter(r, 4), Agents: randomFilter(r, 7)}
				if r.IntN(2) == 0 {
					for {
						if d := 1 + r.IntN(tf); tf%d == 0 {
							q.Interval = d
							break
						}
					}
				}
				w := convops.Layout(clock-r.Int64N(4*hour), q.Timeframe, q.Interval)
				if got, want := s.Query(q, w), scan(events, q, w); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("seed %d account %s query %+v:\n got  %v\n want %v", seed, account, q, got, want)
				}
			}
		}
		if st := s.Stats(); st.DedupeKeys > len(keep) {
			t.Fatalf("seed %d: %d dedupe keys for %d ids ever sent", seed, st.DedupeKeys, len(keep))
		}
	}
}

// TestCorruptClocks: a batch whose clock is past the year 9999 (only a
// corrupt or foreign message has one) moves nothing, and events in the last
// buckets the store can hold are counted once.
func TestCorruptClocks(t *testing.T) {
	s := store.New(store.Options{})
	ev := convops.Event{EventID: "e", SkillID: 1, ResolvedAt: now, HandlingTimeMs: 1}
	mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{ev}})
	mustApply(t, s, convops.Batch{Account: "b", Now: 1 << 62, Events: []convops.Event{{EventID: "x", ResolvedAt: 1 << 62}}})
	res := s.Query(convops.Query{Account: "a", Timeframe: 60}, convops.Layout(now, 60, 0))
	if res.Whole.Totals.Total() != 1 {
		t.Errorf("a clock past the year 9999 expired the data: %+v", res.Whole.Totals)
	}
	last := int64(1<<32-2) * convops.BucketMs // the last bucket the store holds
	far := convops.Batch{Account: "c", Now: last + 60_000, Events: []convops.Event{{EventID: "f", ResolvedAt: last}}}
	if out := mustApply(t, s, far); out.Accepted != 1 {
		t.Fatalf("%+v", out)
	}
	if out := mustApply(t, s, far); out.Duplicates != 1 {
		t.Errorf("the same event again in the last bucket: %+v, want a duplicate", out)
	}
}

// TestTooOldRepeatsAreDuplicates: an event too old for its batch's clock is
// acknowledged, not stored, and its repeat in the same batch is a duplicate.
func TestTooOldRepeatsAreDuplicates(t *testing.T) {
	s := store.New(store.Options{})
	old := convops.Event{EventID: "old", ResolvedAt: now - 2*24*60*convops.MinuteMs}
	out := mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{old, old}})
	if out.Accepted != 1 || out.Duplicates != 1 {
		t.Errorf("%+v, want 1 accepted and 1 duplicate", out)
	}
}

// TestOneWrongClockExpiresNothing: a batch whose Now is a day or three ahead
// (a node with a wrong clock), stored by the log at the right time, moves the
// log's clock no further than the log's own time: nothing is forgotten, and
// events sent again are duplicates.
func TestOneWrongClockExpiresNothing(t *testing.T) {
	for _, ahead := range []int64{26 * 3_600_000, 3 * 24 * 3_600_000} {
		s := store.New(store.Options{})
		var events []convops.Event
		for i := range 3000 {
			events = append(events, convops.Event{EventID: fmt.Sprint("e", i), SkillID: int64(i % 5), ResolvedBy: convops.ByCCP,
				ResolvedAt: now - int64(i)*20_000, HandlingTimeMs: 1})
		}
		for i, acc := range []string{"a", "b", "c"} {
			mustApply(t, s, convops.Batch{Account: acc, Now: now, LogTime: now, Events: events[i*1000 : (i+1)*1000]})
		}
		wrong := now + ahead
		mustApply(t, s, convops.Batch{Account: "d", Now: wrong, LogTime: now + 1000,
			Events: []convops.Event{{EventID: "x", ResolvedAt: wrong, HandlingTimeMs: 1}}})
		for i, acc := range []string{"a", "b", "c"} {
			res := s.Query(convops.Query{Account: acc, Timeframe: convops.MaxTimeframeMinutes}, convops.Layout(now, convops.MaxTimeframeMinutes, 0))
			if got := res.Whole.Totals.Total(); got != 1000 {
				t.Errorf("%d ms ahead: account %s counts %d of 1000", ahead, acc, got)
			}
			out := mustApply(t, s, convops.Batch{Account: acc, Now: now + 2000, LogTime: now + 2000, Events: events[i*1000 : (i+1)*1000]})
			if out.Duplicates != 1000 {
				t.Errorf("%d ms ahead: sent again to %s: %+v, want 1000 duplicates", ahead, acc, out)
			}
		}
	}
}
