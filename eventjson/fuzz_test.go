package eventjson_test

import (
	"errors"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/eventjson"
)

// FuzzDecodeEvents: whatever the body, DecodeEvents never panics; it returns
// either events that obey every rule or an invalid *Error naming a parameter
// or listing events by index.
func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte(`[{"conversationId":"c","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1}]`), false)
	f.Add([]byte(`{"events":[{"conversationId":"c","eventId":"e","skillId":"3","agentId":null,"resolvedBy":"agent","resolvedAt":1795786140000,"handlingTimeMs":0}]}`), false)
	f.Add([]byte("{\"conversationId\":\"c\",\"resolvedBy\":\"SYSTEM\",\"resolvedAt\":1795786140000,\"handlingTimeMs\":1}\n\nnot json\n"), true)
	f.Add([]byte(`[1,"x",null,{}]`), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		events, err := eventjson.Decode(body, ndjson, eventNow)
		if err != nil {
			var e *convops.Error
			if !errors.As(err, &e) || e.Code != convops.EInvalid || e.Message == "" {
				t.Fatalf("error %v is not an invalid *Error", err)
			}
			if e.Parameter == "" {
				t.Fatalf("error %q names no parameter", e.Message)
			}
			if e.Parameter == "events" && len(e.Items) > convops.MaxReportedErrors {
				t.Fatalf("%d items listed", len(e.Items))
			}
			if events != nil {
				t.Fatal("events returned with an error")
			}
			return
		}
		for _, ev := range events {
			if ev.EventID == "" || len(ev.EventID) > convops.MaxIDBytes || ev.ConversationID == "" ||
				ev.HandlingTimeMs < 0 || ev.HandlingTimeMs > convops.MaxHandlingTimeMs ||
				ev.ResolvedAt < convops.RetentionHorizon(eventNow)*convops.BucketMs || ev.ResolvedAt >= eventNow+convops.MaxClockSkewMs ||
				ev.ResolvedBy > convops.BySystem {
				t.Fatalf("invalid event accepted: %+v", ev)
			}
		}
	})
}
