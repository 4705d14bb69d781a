package convops_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/convops/convops"
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
		events, err := convops.DecodeEvents(body, ndjson, eventNow)
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

// FuzzParseQuery: any parameter values give a query within the rules or an
// invalid *Error that names the parameter.
func FuzzParseQuery(f *testing.F) {
	f.Add("123", "60", "1", "all", "1,2", "30")
	f.Add("a b", "0", "2", "1,,2", "x", "61")
	f.Add("x", "1440", "1", " -1 , 9223372036854775807", "", "7")
	f.Fuzz(func(t *testing.T, account, timeframe, v, skills, agents, interval string) {
		params := map[string]string{}
		for k, val := range map[string]string{"timeframe": timeframe, "v": v, "skillIds": skills, "agentIds": agents, "interval": interval} {
			if val != "" {
				params[k] = val
			}
		}
		q, err := convops.ParseQuery(account, params)
		if err != nil {
			var e *convops.Error
			if !errors.As(err, &e) || e.Code != convops.EInvalid || e.Parameter == "" {
				t.Fatalf("error %v does not name a parameter", err)
			}
			if _, jerr := json.Marshal(e.Message); jerr != nil {
				t.Fatal(jerr)
			}
			return
		}
		if q.Timeframe < 1 || q.Timeframe > convops.MaxTimeframeMinutes || q.Interval < 0 || q.Interval > q.Timeframe ||
			(q.Interval > 0 && q.Timeframe%q.Interval != 0) || len(q.Skills.IDs) > convops.MaxIDs || len(q.Agents.IDs) > convops.MaxIDs {
			t.Fatalf("invalid query accepted: %+v", q)
		}
	})
}
