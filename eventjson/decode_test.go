package eventjson_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventjson"
)

// eventNow is the data clock of the event tests.
var eventNow = ms("2026-11-27T13:29:00Z")

func TestDecodeEventsValid(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		ndjson bool
		want   []convops.Event
	}{
		{name: "array, defaults", body: `[{"conversationId":"c1","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":5}]`,
			want: []convops.Event{{EventID: "c1", ConversationID: "c1", SkillID: -1, ResolvedBy: convops.ByCCP, ResolvedAt: ms("2026-11-27T13:00:00Z"), HandlingTimeMs: 5}}},
		{name: "wrapped, every field, strings for ids",
			body: `{"events":[{"conversationId":"c1","eventId":"e1","skillId":"7","agentId":"-3","resolvedBy":"consumer","resolvedAt":1795786140000,"handlingTimeMs":0}]}`,
			want: []convops.Event{{EventID: "e1", ConversationID: "c1", SkillID: 7, AgentID: -3, HasAgent: true, ResolvedBy: convops.ByConsumer, ResolvedAt: 1795786140000}}},
		{name: "nulls mean absent; AGENT is CCP; offsets and fractions",
			body: `[{"conversationId":"c1","eventId":null,"skillId":null,"agentId":null,"resolvedBy":"Agent","resolvedAt":"2026-11-27T14:00:00.5+01:00","handlingTimeMs":31536000000,"extra":true}]`,
			want: []convops.Event{{EventID: "c1", ConversationID: "c1", SkillID: -1, ResolvedBy: convops.ByCCP, ResolvedAt: ms("2026-11-27T13:00:00Z") + 500, HandlingTimeMs: convops.MaxHandlingTimeMs}}},
		{name: "ndjson with blank lines and CRLF",
			body:   "{\"conversationId\":\"a\",\"resolvedBy\":\"SYSTEM\",\"resolvedAt\":1795786140000,\"handlingTimeMs\":1}\r\n\n{\"conversationId\":\"b\",\"agentId\":9,\"resolvedBy\":\"system\",\"resolvedAt\":1795786140000,\"handlingTimeMs\":2}\n",
			ndjson: true,
			want: []convops.Event{
				{EventID: "a", ConversationID: "a", SkillID: -1, ResolvedBy: convops.BySystem, ResolvedAt: 1795786140000, HandlingTimeMs: 1},
				{EventID: "b", ConversationID: "b", SkillID: -1, AgentID: 9, HasAgent: true, ResolvedBy: convops.BySystem, ResolvedAt: 1795786140000, HandlingTimeMs: 2}}},
		{name: "oldest accepted and newest accepted",
			body: fmt.Sprintf(`[{"conversationId":"a","resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":1},{"conversationId":"b","resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":1}]`,
				ms("2026-11-26T13:25:00Z"), eventNow+convops.MaxClockSkewMs-1),
			want: []convops.Event{
				{EventID: "a", ConversationID: "a", SkillID: -1, ResolvedAt: ms("2026-11-26T13:25:00Z"), HandlingTimeMs: 1},
				{EventID: "b", ConversationID: "b", SkillID: -1, ResolvedAt: eventNow + convops.MaxClockSkewMs - 1, HandlingTimeMs: 1}}},
		{name: "empty array", body: `[]`, want: []convops.Event{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eventjson.Decode([]byte(tc.body), tc.ndjson, eventNow)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeEventsInvalid(t *testing.T) {
	good := `{"conversationId":"ok","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1}`
	with := func(field, value string) string {
		fields := map[string]string{
			"conversationId": `"c"`, "resolvedBy": `"CCP"`, "resolvedAt": `"2026-11-27T13:00:00Z"`, "handlingTimeMs": `1`,
		}
		if value == "" {
			delete(fields, field)
		} else {
			fields[field] = value
		}
		var parts []string
		for k, v := range fields {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	cases := []struct {
		name  string
		event string
		field string
	}{
		{"conversationId missing", with("conversationId", ""), "conversationId"},
		{"conversationId empty", with("conversationId", `""`), "conversationId"},
		{"conversationId number", with("conversationId", `5`), "conversationId"},
		{"conversationId too long", with("conversationId", `"`+strings.Repeat("x", 257)+`"`), "conversationId"},
		{"eventId empty", with("eventId", `""`), "eventId"},
		{"eventId too long", with("eventId", `"`+strings.Repeat("x", 257)+`"`), "eventId"},
		{"eventId object", with("eventId", `{}`), "eventId"},
		{"skillId float", with("skillId", `1.5`), "skillId"},
		{"skillId word", with("skillId", `"abc"`), "skillId"},
		{"skillId overflow", with("skillId", `9223372036854775808`), "skillId"},
		{"skillId bool", with("skillId", `true`), "skillId"},
		{"agentId exponent", with("agentId", `1e3`), "agentId"},
		{"agentId padded string", with("agentId", `" 5"`), "agentId"},
		{"resolvedBy missing", with("resolvedBy", ""), "resolvedBy"},
		{"resolvedBy unknown", with("resolvedBy", `"BOT"`), "resolvedBy"},
		{"resolvedBy number", with("resolvedBy", `1`), "resolvedBy"},
		{"resolvedAt missing", with("resolvedAt", ""), "resolvedAt"},
		{"resolvedAt not RFC 3339", with("resolvedAt", `"27/11/2026 13:00"`), "resolvedAt"},
		{"resolvedAt without zone", with("resolvedAt", `"2026-11-27T13:00:00"`), "resolvedAt"},
		{"resolvedAt float", with("resolvedAt", `1795786140000.5`), "resolvedAt"},
		{"resolvedAt too old", with("resolvedAt", fmt.Sprint(ms("2026-11-26T13:25:00Z")-1)), "resolvedAt"},
		{"resolvedAt too new", with("resolvedAt", fmt.Sprint(eventNow+convops.MaxClockSkewMs)), "resolvedAt"},
		{"handlingTimeMs missing", with("handlingTimeMs", ""), "handlingTimeMs"},
		{"handlingTimeMs negative", with("handlingTimeMs", `-1`), "handlingTimeMs"},
		{"handlingTimeMs too large", with("handlingTimeMs", `31536000001`), "handlingTimeMs"},
		{"handlingTimeMs string", with("handlingTimeMs", `"5"`), "handlingTimeMs"},
		{"handlingTimeMs fraction", with("handlingTimeMs", `5.5`), "handlingTimeMs"},
		{"not an object", `"event"`, ""},
		{"array element", `[1]`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The bad event is second: the first, valid one must not be returned either.
			body := "[" + good + "," + tc.event + "]"
			events, err := eventjson.Decode([]byte(body), false, eventNow)
			if events != nil {
				t.Errorf("events returned with an error: %v", events)
			}
			var e *convops.Error
			if !errors.As(err, &e) || e.Code != convops.EInvalid {
				t.Fatalf("want an invalid *Error, got %v", err)
			}
			if len(e.Items) == 0 || e.Items[0].Index != 1 || e.Items[0].Field != tc.field || e.Items[0].Message == "" {
				t.Errorf("items %+v, want index 1 field %q", e.Items, tc.field)
			}
		})
	}
}

func TestDecodeEventsBody(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		ndjson bool
		param  string
	}{
		{"empty", ``, false, "body"},
		{"broken JSON", `[{"conversationId":`, false, "body"},
		{"scalar", `42`, false, "body"},
		{"object without events", `{"items":[]}`, false, "events"},
		{"events not an array", `{"events":{}}`, false, "body"},
		{"ndjson bad line", "{\"conversationId\":\"a\"}\nnot json\n", true, "events"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventjson.Decode([]byte(tc.body), tc.ndjson, eventNow)
			var e *convops.Error
			if !errors.As(err, &e) || e.Code != convops.EInvalid || e.Parameter != tc.param {
				t.Fatalf("got %v, want an invalid error naming %q", err, tc.param)
			}
		})
	}
}

func TestDecodeEventsLimits(t *testing.T) {
	one := `{"conversationId":"c","resolvedBy":"CCP","resolvedAt":1795786140000,"handlingTimeMs":1}`
	body := "[" + strings.TrimSuffix(strings.Repeat(one+",", convops.MaxBatchEvents+1), ",") + "]"
	_, err := eventjson.Decode([]byte(body), false, eventNow)
	if e, ok := err.(*convops.Error); !ok || e.Parameter != "events" {
		t.Errorf("too many events: got %v", err)
	}

	bad := `{"conversationId":""}`
	body = "[" + strings.TrimSuffix(strings.Repeat(bad+",", 250), ",") + "]"
	_, err = eventjson.Decode([]byte(body), false, eventNow)
	e, ok := err.(*convops.Error)
	if !ok || len(e.Items) != convops.MaxReportedErrors || !strings.HasPrefix(e.Message, "250 of 250") {
		t.Errorf("error list not capped at %d: %v", convops.MaxReportedErrors, err)
	}
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}
