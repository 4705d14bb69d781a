package liveperson

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
)

// now is the clock of the records in testdata/page.json.
var now = time.Date(2026, 11, 27, 13, 29, 17, 0, time.UTC).UnixMilli()

// end is when the first record of page.json closed.
var end = now - 20*60*1000

// TestConvertPage: the records of testdata/page.json, written after the
// documented example of conversations/search, become the events the package
// comment (and docs/api.md, section 3) gives: a transfer and two agents (the last one's assignment
// starts the handling time), no agent, a bot agent; the open record is
// skipped.
func TestConvertPage(t *testing.T) {
	body, err := os.ReadFile("testdata/page.json")
	if err != nil {
		t.Fatal(err)
	}
	page, err := Convert(body, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []convops.Event{
		{EventID: "e5c58e49-e4a5-40a8-8a18-d6580d1d5630", ConversationID: "e5c58e49-e4a5-40a8-8a18-d6580d1d5630", SkillID: 2,
			AgentID: 3677470410, HasAgent: true, ResolvedBy: convops.ByCCP, ResolvedAt: end, HandlingTimeMs: 10 * 60 * 1000},
		{EventID: "0b1c9a3e-1111-4f6e-9d2c-aaaaaaaaaaaa", ConversationID: "0b1c9a3e-1111-4f6e-9d2c-aaaaaaaaaaaa", SkillID: convops.NoSkill,
			ResolvedBy: convops.ByConsumer, ResolvedAt: end - 60*1000},
		{EventID: "7d2f4c10-2222-4b9b-8c1d-bbbbbbbbbbbb", ConversationID: "7d2f4c10-2222-4b9b-8c1d-bbbbbbbbbbbb", SkillID: 12,
			AgentID: 5000000001, HasAgent: true, ResolvedBy: convops.BySystem, ResolvedAt: end - 2*60*1000, HandlingTimeMs: 3 * 60 * 1000},
	}
	if page.Records != 4 || page.Skipped != 1 || len(page.Events) != len(want) {
		t.Fatalf("records %d, skipped %d, events %+v", page.Records, page.Skipped, page.Events)
	}
	for i := range want {
		if page.Events[i] != want[i] {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, page.Events[i], want[i])
		}
	}

	// The same records as an array, without the page around them.
	var wrapper struct {
		Records json.RawMessage `json:"conversationHistoryRecords"`
	}
	json.Unmarshal(body, &wrapper)
	if again, err := Convert(wrapper.Records, now); err != nil || len(again.Events) != 3 || again.Skipped != 1 {
		t.Errorf("as an array: %+v %v", again, err)
	}
}

// TestCloseReasons: AGENT → CCP, CONSUMER → CONSUMER, anything else
// (SYSTEM, TIMEOUT, a value LivePerson may add) → SYSTEM; ids as numbers or
// strings; "null"-like agent ids are no agent.
func TestCloseReasons(t *testing.T) {
	for _, c := range []struct {
		reason, agent, skill string
		by                   convops.ResolvedBy
		hasAgent             bool
		skillID              int64
	}{
		{`"AGENT"`, `"42"`, `7`, convops.ByCCP, true, 7},
		{`"CONSUMER"`, `42`, `"7"`, convops.ByConsumer, true, 7},
		{`"SYSTEM"`, `"-1"`, `-1`, convops.BySystem, false, convops.NoSkill},
		{`"TIMEOUT"`, `"null"`, `null`, convops.BySystem, false, convops.NoSkill},
		{`""`, `"undefined"`, `"-1"`, convops.BySystem, false, convops.NoSkill},
	} {
		body := `[{"info":{"conversationId":"c","status":"CLOSE","endTimeL":` + jsonInt(end) + `,"closeReason":` + c.reason +
			`,"latestAgentId":` + c.agent + `,"latestSkillId":` + c.skill + `},"interactions":[{"interactionTimeL":` + jsonInt(end-1000) + `}]}]`
		page, err := Convert([]byte(body), now)
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		e := page.Events[0]
		if e.ResolvedBy != c.by || e.HasAgent != c.hasAgent || e.SkillID != c.skillID || (c.hasAgent && (e.AgentID != 42 || e.HandlingTimeMs != 1000)) || (!c.hasAgent && e.HandlingTimeMs != 0) {
			t.Errorf("%s: %+v", body, e)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestBadRecords: a page with a bad record stores nothing, and every
// problem names its record and the LivePerson field.
func TestBadRecords(t *testing.T) {
	good := `{"info":{"conversationId":"ok","status":"CLOSE","endTimeL":` + jsonInt(end) + `,"closeReason":"AGENT","latestSkillId":1}}`
	for body, want := range map[string][]convops.ItemError{
		"[" + good + `,{"info":{"conversationId":"old","status":"CLOSE","endTimeL":1000,"closeReason":"AGENT"}}]`:                {{Index: 1, Field: "info.endTimeL"}},
		"[" + good + `,{"info":{"conversationId":"x","status":"CLOSE","endTimeL":-1}}]`:                                          {{Index: 1, Field: "info.endTimeL"}},
		`[{"info":{"status":"CLOSE","endTimeL":` + jsonInt(end) + `}},` + good + `]`:                                             {{Index: 0, Field: "info.conversationId"}},
		"[" + good + `,{"info":{"conversationId":"y","status":"CLOSE","endTimeL":` + jsonInt(end) + `,"latestAgentId":"bob"}}]`:  {{Index: 1, Field: "info.latestAgentId"}},
		"[" + good + `,{"info":{"conversationId":"z","status":"CLOSE","endTimeL":` + jsonInt(end) + `,"latestSkillId":"cats"}}]`: {{Index: 1, Field: "info.latestSkillId"}},
	} {
		_, err := Convert([]byte(body), now)
		var e *convops.Error
		if !errors.As(err, &e) || e.Code != convops.EInvalid || len(e.Items) != len(want) {
			t.Errorf("%s: %v", body, err)
			continue
		}
		for i, w := range want {
			if e.Items[i].Index != w.Index || e.Items[i].Field != w.Field || !strings.HasPrefix(e.Items[i].Message, w.Field+":") {
				t.Errorf("%s: problem %+v, want record %d, %s", body, e.Items[i], w.Index, w.Field)
			}
		}
	}
	for _, body := range []string{``, `{}`, `{"conversationHistoryRecords":{}}`, `[1]`, `nope`, `{"conversationHistoryRecords":[{"info":"x"}]}`} {
		_, err := Convert([]byte(body), now)
		var e *convops.Error
		if !errors.As(err, &e) || e.Code != convops.EInvalid || e.Message == "" {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// FuzzConvert: no body makes Convert panic, and what it accepts holds only
// valid events, one per closed record.
func FuzzConvert(f *testing.F) {
	page, _ := os.ReadFile("testdata/page.json")
	f.Add(page)
	f.Add([]byte(`[{"info":{"conversationId":"c","status":"CLOSE","endTimeL":"1795784957000","latestAgentId":"-1"}}]`))
	f.Add([]byte(`{"conversationHistoryRecords":[{"info":{"status":"OPEN"}},{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Convert(body, now)
		if err != nil {
			var e *convops.Error
			if !errors.As(err, &e) || e.Code != convops.EInvalid {
				t.Fatalf("not a clear refusal: %v", err)
			}
			return
		}
		if len(p.Events)+p.Skipped != p.Records {
			t.Fatalf("%d events and %d skipped of %d records", len(p.Events), p.Skipped, p.Records)
		}
	})
}

// TestMalformedPages: what is wrong with a record's shape is named by
// record, in JSON's words; a page past MaxRecords is refused before it is
// read whole; a record that is null, empty or without a status is not
// taken for an open one.
func TestMalformedPages(t *testing.T) {
	for body, want := range map[string]convops.ItemError{
		`[[1,2]]`:                 {Index: 0, Message: "a record must be a JSON object with an info object"},
		`[{"info":[]}]`:           {Index: 0, Field: "info", Message: "info must be an object, not array"},
		`[null]`:                  {Index: 0, Field: "info", Message: "info: is required: the conversation's info object"},
		`[{}]`:                    {Index: 0, Field: "info", Message: "info: is required: the conversation's info object"},
		`[{"info":null}]`:         {Index: 0, Field: "info", Message: "info: is required: the conversation's info object"},
		`[{"info":{}}]`:           {Index: 0, Field: "info.status", Message: "info.status: is required: a string, CLOSE for a closed conversation"},
		`[{"info":{"status":7}}]`: {Index: 0, Field: "info.status", Message: "info.status: is required: a string, CLOSE for a closed conversation"},
		`[{"info":{"status":"OPEN"}},{"info":{"status":"CLOSE","conversationId":"c","endTimeL":` + jsonInt(end) + `,"closeReason":7}}]`: {Index: 1, Field: "info.closeReason", Message: "info.closeReason: must be a string such as AGENT or CONSUMER, got 7"},
	} {
		_, err := Convert([]byte(body), now)
		var e *convops.Error
		if !errors.As(err, &e) || len(e.Items) != 1 || e.Items[0] != want {
			t.Errorf("%s: %v %+v", body, err, e)
		}
	}
	// " CLOSE" and "close" are closed.
	if p, err := Convert([]byte(`[{"info":{"status":" close ","conversationId":"c","endTimeL":`+jsonInt(end)+`}}]`), now); err != nil || len(p.Events) != 1 {
		t.Errorf("a status with spaces: %+v %v", p, err)
	}
	// One record past the bound: refused as a whole page.
	many := "[" + strings.Repeat(`{"info":{"status":"OPEN"}},`, MaxRecords) + `{"info":{"status":"OPEN"}}]`
	_, err := Convert([]byte(many), now)
	var e *convops.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "at most 100000 records") {
		t.Errorf("%d records: %v", MaxRecords+1, err)
	}
}

// TestHandlingTimeFromTheLastAssignment: the last interaction that is not
// after the end starts the handling time; without one, the agent's last
// time as a participant.
func TestHandlingTimeFromTheLastAssignment(t *testing.T) {
	for _, c := range []struct {
		interactions, participants string
		want                       int64
	}{
		{`[{"interactionTimeL":` + jsonInt(end-9000) + `},{"interactionTimeL":` + jsonInt(end-1000) + `}]`, `[]`, 1000},
		{`[{"interactionTimeL":` + jsonInt(end-1000) + `},{"interactionTimeL":` + jsonInt(end-9000) + `}]`, `[]`, 9000}, // the last in order
		{`[{"interactionTimeL":` + jsonInt(end-4000) + `},{"interactionTimeL":` + jsonInt(end+5000) + `}]`, `[]`, 4000}, // after the end: passed over
		{`[]`, `[{"agentId":"42","timeL":` + jsonInt(end-7000) + `},{"agentId":"43","timeL":` + jsonInt(end-1000) + `}]`, 7000},
		{`[]`, `[]`, 0},
	} {
		body := `[{"info":{"conversationId":"c","status":"CLOSE","endTimeL":` + jsonInt(end) + `,"closeReason":"AGENT","latestAgentId":"42"},"interactions":` +
			c.interactions + `,"agentParticipants":` + c.participants + `}]`
		p, err := Convert([]byte(body), now)
		if err != nil || p.Events[0].HandlingTimeMs != c.want {
			t.Errorf("%s: %+v %v, want %d ms", body, p.Events, err, c.want)
		}
	}
}

// TestRemap: a refusal of the events (as the store's bounds give it) names
// the records they came from.
func TestRemap(t *testing.T) {
	p, err := Convert([]byte(`[{"info":{"status":"OPEN"}},{"info":{"status":"OPEN"}},{"info":{"conversationId":"c","status":"CLOSE","endTimeL":`+jsonInt(end)+`,"latestSkillId":2}}]`), now)
	if err != nil {
		t.Fatal(err)
	}
	e := p.Remap(&convops.Error{Code: convops.EInvalid, Parameter: "events", Message: "too many skills",
		Items: []convops.ItemError{{Index: 0, Field: convops.FieldSkillID, Message: "skillId: would pass the bound"}}})
	if e.Parameter != "conversationHistoryRecords" || e.Items[0] != (convops.ItemError{Index: 2, Field: "info.latestSkillId", Message: "info.latestSkillId: would pass the bound"}) {
		t.Errorf("%+v", e)
	}
}

// BenchmarkConvertManySmallElements converts a page of one closed record
// whose lists hold a million and more empty objects each ({}, two bytes):
// its bytes per operation are what such a page makes the server allocate,
// which the ingest's weight in the request budget must cover.
//
//	go test -run XXX -bench ConvertManySmallElements -benchtime 5x ./liveperson
func BenchmarkConvertManySmallElements(b *testing.B) {
	elements := strings.Repeat("{},", 1<<20)
	body := []byte(`[{"info":{"conversationId":"c","status":"CLOSE","endTimeL":` + jsonInt(end) + `,"closeReason":"AGENT","latestAgentId":"42"},` +
		`"interactions":[` + elements + `{}],"agentParticipants":[` + elements + `{"agentId":"42","timeL":` + jsonInt(end-1000) + `}]}]`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Convert(body, now)
		if err != nil || p.Events[0].HandlingTimeMs != 1000 {
			b.Fatalf("%+v %v", p.Events, err)
		}
	}
}
