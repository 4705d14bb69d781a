package eventjson

import (
	"reflect"
	"testing"

	"github.com/convops/convops"
)

// TestAppendEvent: what AppendEvent writes, Decode reads back
// as the same events, ids with quotes, escapes and non-ASCII included.
func TestAppendEvent(t *testing.T) {
	now := int64(1795786157000)
	events := []convops.Event{
		{EventID: "plain-1", ConversationID: "plain-1", SkillID: 3, AgentID: 2, HasAgent: true, ResolvedBy: convops.ByCCP, ResolvedAt: now - 1000, HandlingTimeMs: 426},
		{EventID: `e"\` + "\t", ConversationID: "conv é ✓ \u2028", SkillID: convops.NoSkill, ResolvedBy: convops.BySystem, ResolvedAt: now, HandlingTimeMs: 0},
	}
	body := []byte{'['}
	for i := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = AppendEvent(body, &events[i])
	}
	body = append(body, ']')
	got, err := Decode(body, false, now)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Errorf("read back\n%+v\nwant\n%+v\nfrom %s", got, events, body)
	}
}
