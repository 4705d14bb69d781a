package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
)

func agentEvent(id string, skill, agent int64, at int64) convops.Event {
	return convops.Event{EventID: id, ConversationID: id, SkillID: skill, AgentID: agent, HasAgent: true,
		ResolvedBy: convops.ByCCP, ResolvedAt: at, HandlingTimeMs: 1000}
}

// TestBoundsRefuseWhole: a batch that would pass a bound is refused whole,
// with the first event that passes it, and nothing of it is stored.
func TestBoundsRefuseWhole(t *testing.T) {
	s := store.New(store.Options{MaxSkillsPerAccount: 3, MaxAgentsPerAccount: 5})
	mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{
		agentEvent("e1", 1, 101, now), agentEvent("e2", 2, 102, now),
	}})
	before := s.Stats()
	cases := []struct {
		name   string
		events []convops.Event
		index  int
		field  string
		flag   string
	}{
		{"fourth skill", []convops.Event{agentEvent("n1", 1, 101, now), agentEvent("n2", 3, 101, now), agentEvent("n3", 4, 101, now)},
			2, convops.FieldSkillID, store.FlagMaxSkills},
		{"sixth agent", []convops.Event{agentEvent("n1", 1, 103, now), agentEvent("n2", 1, 104, now), agentEvent("n3", 1, 105, now), agentEvent("n4", 2, 106, now)},
			3, convops.FieldAgentID, store.FlagMaxAgents},
		// Skills without an agent count too: the unassigned skill is a skill.
		{"unassigned skill", []convops.Event{agentEvent("n1", 3, 101, now), {EventID: "n2", SkillID: convops.NoSkill, ResolvedAt: now}},
			1, convops.FieldSkillID, store.FlagMaxSkills},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Apply(convops.Batch{Account: "a", Now: now, Events: c.events})
			var e *convops.Error
			if !errors.As(err, &e) || e.Code != convops.EInvalid || len(e.Items) != 1 {
				t.Fatalf("err %v, want one item", err)
			}
			item := e.Items[0]
			if item.Index != c.index || item.Field != c.field || !strings.Contains(item.Message, c.flag) || !strings.Contains(e.Message, c.flag) {
				t.Errorf("item %+v, message %q: want index %d, field %s, flag %s", item, e.Message, c.index, c.field, c.flag)
			}
			if after := s.Stats(); after != before {
				t.Errorf("stored something: %+v, was %+v", after, before)
			}
		})
	}

	// Room is counted on what would be stored: duplicates, events too old
	// for the batch, and ids already held take none.
	out := mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{
		agentEvent("e1", 9, 109, now),                                // a duplicate: its new ids do not count
		agentEvent("old", 8, 108, now-2*24*60*convops.MinuteMs),      // too old to store
		agentEvent("n1", 3, 103, now), agentEvent("n1", 7, 107, now), // the second is a duplicate within the batch
		agentEvent("n2", 1, 104, now), agentEvent("n3", 2, 105, now),
	}})
	if out.Accepted != 4 || out.Duplicates != 2 {
		t.Errorf("outcome %+v, want 4 accepted (one not stored) and 2 duplicates", out)
	}
	// Another account has room of its own.
	mustApply(t, s, convops.Batch{Account: "b", Now: now, Events: []convops.Event{agentEvent("x", 50, 150, now), agentEvent("y", 51, 151, now), agentEvent("z", 52, 152, now)}})
}

// TestBoundsFreedByRetention: ids whose data leaves the retention window
// free their place.
func TestBoundsFreedByRetention(t *testing.T) {
	s := store.New(store.Options{MaxSkillsPerAccount: 2})
	day := int64(convops.MaxTimeframeMinutes) * convops.MinuteMs
	early := now - day + convops.BucketMs // in retention now, out of it an hour later
	mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{agentEvent("e1", 1, 1, early), agentEvent("e2", 2, 1, now)}})
	if _, err := s.Apply(convops.Batch{Account: "a", Now: now, Events: []convops.Event{agentEvent("e3", 3, 1, now)}}); err == nil {
		t.Fatal("a third skill was accepted")
	}
	later := now + 12*convops.BucketMs
	if _, err := s.Apply(convops.Batch{Account: "a", Now: later, Events: []convops.Event{agentEvent("e3", 3, 1, later)}}); err != nil {
		t.Fatalf("skill 1 left retention, yet skill 3 is refused: %v", err)
	}
	q := convops.Query{Account: "a", Timeframe: convops.MaxTimeframeMinutes, Skills: convops.IDFilter{Given: true, All: true}}
	res := s.Query(q, convops.Layout(later, q.Timeframe, 0))
	var ids []int64
	for _, sk := range res.Whole.Skills {
		ids = append(ids, sk.SkillID)
	}
	if fmt.Sprint(ids) != "[2 3]" {
		t.Errorf("skills %v, want [2 3]", ids)
	}
}

// TestRunawayRequest: one batch of 100,000 events, each a new agent and
// skill, is refused by the default bounds without storing anything; with the
// bounds raised, it is stored, and its cost is measured by the benchmarks.
func TestRunawayRequest(t *testing.T) {
	events := make([]convops.Event, convops.MaxBatchEvents)
	for i := range events {
		events[i] = agentEvent(fmt.Sprint("r", i), int64(i*7919%1_000_003), int64(i), now)
	}
	s := store.New(store.Options{})
	_, err := s.Apply(convops.Batch{Account: "runaway", Now: now, Events: events})
	var e *convops.Error
	if !errors.As(err, &e) || e.Items[0].Index != store.DefaultMaxSkillsPerAccount || e.Items[0].Field != convops.FieldSkillID {
		t.Fatalf("err %v: want the event past the skill bound named", err)
	}
	if st := s.Stats(); st.Accounts != 0 || st.Series != 0 || st.DedupeKeys != 0 {
		t.Errorf("a refused batch left %+v", st)
	}

	s = store.New(store.Options{MaxSkillsPerAccount: convops.MaxBatchEvents, MaxAgentsPerAccount: convops.MaxBatchEvents})
	out := mustApply(t, s, convops.Batch{Account: "runaway", Now: now, Events: events})
	st := s.Stats()
	if out.Accepted != len(events) || st.Series != 1+3*len(events) {
		t.Fatalf("outcome %+v, stats %+v", out, st)
	}
	// A series of one event: its running totals, its bucket's histogram
	// and its whole histogram (three slice headers and a cell each), and
	// its place in its list.
	if perSeries := st.SeriesBytes / st.Series; perSeries > 248 {
		t.Errorf("%d bytes per series of one event", perSeries)
	}
	t.Logf("100,000 new agents and skills: %+v (%d bytes per event)", st, (st.SeriesBytes+st.DedupeBytes)/len(events))
}

// TestCheckSeesTheComingHorizon: Check judges a request as Apply will, at
// the horizon the request's clock moves the log to, even when no batch has
// moved it yet: a quiet account's old ids do not hold their places.
func TestCheckSeesTheComingHorizon(t *testing.T) {
	s := store.New(store.Options{MaxSkillsPerAccount: 2})
	mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{agentEvent("e1", 1, 1, now), agentEvent("e2", 2, 1, now)}})
	later := now + 24*60*convops.MinuteMs + 10*convops.MinuteMs
	b := convops.Batch{Account: "a", Now: later, Events: []convops.Event{agentEvent("e3", 3, 1, later)}}
	if err := s.Check(b); err != nil {
		t.Fatalf("Check refuses what Apply accepts: %v", err)
	}
	mustApply(t, s, b)
	// And a dedupe key dead at the coming horizon is not a duplicate.
	s = store.New(store.Options{MaxSkillsPerAccount: 1})
	mustApply(t, s, convops.Batch{Account: "a", Now: now, Events: []convops.Event{agentEvent("e1", 1, 1, now)}})
	b = convops.Batch{Account: "a", Now: later, Events: []convops.Event{agentEvent("e1", 2, 1, later), agentEvent("e2", 3, 1, later)}}
	checkErr := s.Check(b)
	_, applyErr := s.Apply(b)
	if (checkErr == nil) != (applyErr == nil) || checkErr == nil {
		t.Errorf("Check %v, Apply %v: want both to refuse event 1", checkErr, applyErr)
	}
}
