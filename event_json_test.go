package convops

import (
	"reflect"
	"testing"
)

// TestAppendEventJSON: what AppendEventJSON writes, DecodeEvents reads back
// as the same events, ids with quotes, escapes and non-ASCII included.
func TestAppendEventJSON(t *testing.T) {
	now := int64(1795786157000)
	events := []Event{
		{EventID: "plain-1", ConversationID: "plain-1", SkillID: 3, AgentID: 2, HasAgent: true, ResolvedBy: ByCCP, ResolvedAt: now - 1000, HandlingTimeMs: 426},
		{EventID: `e"\` + "\t", ConversationID: "conv é ✓ \u2028", SkillID: NoSkill, ResolvedBy: BySystem, ResolvedAt: now, HandlingTimeMs: 0},
	}
	body := []byte{'['}
	for i := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = AppendEventJSON(body, &events[i])
	}
	body = append(body, ']')
	got, err := DecodeEvents(body, false, now)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Errorf("read back\n%+v\nwant\n%+v\nfrom %s", got, events, body)
	}
}
