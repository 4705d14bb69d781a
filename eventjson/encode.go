package eventjson

import (
	"encoding/json"
	"strconv"

	"github.com/convops/convops"
)

// AppendEvent appends e as the JSON object the ingest API reads: the
// writers of ingest bodies (the benchmark, the demo) share it.
func AppendEvent(b []byte, e *convops.Event) []byte {
	b = append(b, `{"conversationId":`...)
	b = appendJSONString(b, e.ConversationID)
	if e.EventID != "" && e.EventID != e.ConversationID {
		b = append(b, `,"eventId":`...)
		b = appendJSONString(b, e.EventID)
	}
	b = append(b, `,"skillId":`...)
	b = strconv.AppendInt(b, e.SkillID, 10)
	if e.HasAgent {
		b = append(b, `,"agentId":`...)
		b = strconv.AppendInt(b, e.AgentID, 10)
	}
	b = append(b, `,"resolvedBy":"`...)
	b = append(b, e.ResolvedBy.String()...)
	b = append(b, `","resolvedAt":`...)
	b = strconv.AppendInt(b, e.ResolvedAt, 10)
	b = append(b, `,"handlingTimeMs":`...)
	b = strconv.AppendInt(b, e.HandlingTimeMs, 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: plain ASCII as it is, the
// rest through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
