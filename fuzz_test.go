package convops_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/convops/convops"
)

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
