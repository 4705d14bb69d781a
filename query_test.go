package convops_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/convops/convops"
)

func TestParseQuery(t *testing.T) {
	p := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	manyIDs := make([]string, convops.MaxIDs+1)
	for i := range manyIDs {
		manyIDs[i] = strconv.Itoa(i)
	}
	repeated := strings.Repeat("7,", convops.MaxIDs-1) + "7"     // MaxIDs items, one id
	tooManyRepeats := strings.Repeat("1,", convops.MaxIDs) + "1" // one item more

	cases := []struct {
		name    string
		account string
		params  map[string]string
		param   string // parameter named by the error; "" when valid
		check   func(t *testing.T, q convops.Query)
	}{
		{name: "minimal", params: p("timeframe", "60", "v", "1"), check: func(t *testing.T, q convops.Query) {
			if q.Timeframe != 60 || q.Interval != 0 || q.Skills.Given || q.Agents.Given {
				t.Errorf("got %+v", q)
			}
		}},
		{name: "max timeframe", params: p("timeframe", "1440", "v", "1")},
		{name: "spaces around numbers", params: p("timeframe", " 60 ", "v", " 1")},
		{name: "leading zeros", params: p("timeframe", "060", "v", "1")},
		{name: "seed interval good", params: p("timeframe", "60", "v", "1", "interval", "30"), check: func(t *testing.T, q convops.Query) {
			if q.Interval != 30 {
				t.Errorf("interval %d", q.Interval)
			}
		}},
		{name: "interval equals timeframe", params: p("timeframe", "1440", "v", "1", "interval", "1440")},
		{name: "interval 1", params: p("timeframe", "7", "v", "1", "interval", "1")},
		{name: "skills all", params: p("timeframe", "60", "v", "1", "skillIds", "all"), check: func(t *testing.T, q convops.Query) {
			if !q.Skills.Given || !q.Skills.All {
				t.Errorf("got %+v", q.Skills)
			}
		}},
		{name: "skills ALL any case", params: p("timeframe", "60", "v", "1", "skillIds", "ALL")},
		{name: "ids sorted, deduplicated, spaces ignored", params: p("timeframe", "60", "v", "1", "skillIds", " 15, 4 ,3,4,-1", "agentIds", "2152260212,2152260212"),
			check: func(t *testing.T, q convops.Query) {
				if !slices.Equal(q.Skills.IDs, []int64{-1, 3, 4, 15}) || !slices.Equal(q.Agents.IDs, []int64{2152260212}) {
					t.Errorf("skills %v agents %v", q.Skills.IDs, q.Agents.IDs)
				}
			}},
		{name: "repeated ids count once", params: p("timeframe", "60", "v", "1", "agentIds", repeated)},
		{name: "items past the limit, repeats included", params: p("timeframe", "60", "v", "1", "skillIds", tooManyRepeats), param: "skillIds"},
		{name: "int64 extremes", params: p("timeframe", "60", "v", "1", "agentIds", "9223372036854775807,-9223372036854775808")},

		{name: "bad account", account: "a b", params: p("timeframe", "60", "v", "1"), param: "accountID"},
		{name: "long account", account: strings.Repeat("a", 65), params: p("timeframe", "60", "v", "1"), param: "accountID"},
		{name: "timeframe missing", params: p("v", "1"), param: "timeframe"},
		{name: "timeframe zero", params: p("timeframe", "0", "v", "1"), param: "timeframe"},
		{name: "timeframe too large", params: p("timeframe", "1441", "v", "1"), param: "timeframe"},
		{name: "timeframe negative", params: p("timeframe", "-5", "v", "1"), param: "timeframe"},
		{name: "timeframe fraction", params: p("timeframe", "60.5", "v", "1"), param: "timeframe"},
		{name: "timeframe word", params: p("timeframe", "hour", "v", "1"), param: "timeframe"},
		{name: "timeframe overflow", params: p("timeframe", "99999999999999999999999", "v", "1"), param: "timeframe"},
		{name: "v missing", params: p("timeframe", "60"), param: "v"},
		{name: "v 2", params: p("timeframe", "60", "v", "2"), param: "v"},
		{name: "v 1.0", params: p("timeframe", "60", "v", "1.0"), param: "v"},
		{name: "empty skill item", params: p("timeframe", "60", "v", "1", "skillIds", "1,,2"), param: "skillIds"},
		{name: "trailing comma", params: p("timeframe", "60", "v", "1", "skillIds", "1,2,"), param: "skillIds"},
		{name: "non-integer skill", params: p("timeframe", "60", "v", "1", "skillIds", "1,x"), param: "skillIds"},
		{name: "all mixed with ids", params: p("timeframe", "60", "v", "1", "skillIds", "all,3"), param: "skillIds"},
		{name: "float agent", params: p("timeframe", "60", "v", "1", "agentIds", "1.5"), param: "agentIds"},
		{name: "agent overflow", params: p("timeframe", "60", "v", "1", "agentIds", "9223372036854775808"), param: "agentIds"},
		{name: "too many ids", params: p("timeframe", "60", "v", "1", "agentIds", strings.Join(manyIDs, ",")), param: "agentIds"},
		{name: "seed interval 61", params: p("timeframe", "60", "v", "1", "interval", "61"), param: "interval"},
		{name: "seed interval 31", params: p("timeframe", "60", "v", "1", "interval", "31"), param: "interval"},
		{name: "interval zero", params: p("timeframe", "60", "v", "1", "interval", "0"), param: "interval"},
		{name: "interval word", params: p("timeframe", "60", "v", "1", "interval", "x"), param: "interval"},

		{name: "percentiles and thresholds", params: p("timeframe", "60", "v", "1", "percentiles", " 99.9, 50,0.1,90 ", "thresholds", "600, 300,86400,1"),
			check: func(t *testing.T, q convops.Query) {
				want := []convops.Percentile{{Tenths: 999, Text: "99.9"}, {Tenths: 500, Text: "50"}, {Tenths: 1, Text: "0.1"}, {Tenths: 900, Text: "90"}}
				if !slices.Equal(q.Percentiles, want) || !slices.Equal(q.Thresholds, []int64{600, 300, 86400, 1}) || !q.WantsTail() {
					t.Errorf("percentiles %v thresholds %v", q.Percentiles, q.Thresholds)
				}
			}},
		{name: "five percentiles, ten thresholds", params: p("timeframe", "60", "v", "1", "percentiles", "1,2,3,4,5", "thresholds", "1,2,3,4,5,6,7,8,9,10")},
		{name: "no tail without them", params: p("timeframe", "60", "v", "1"), check: func(t *testing.T, q convops.Query) {
			if q.WantsTail() {
				t.Errorf("got %+v", q)
			}
		}},
		{name: "percentile 0", params: p("timeframe", "60", "v", "1", "percentiles", "0"), param: "percentiles"},
		{name: "percentile 100", params: p("timeframe", "60", "v", "1", "percentiles", "100"), param: "percentiles"},
		{name: "percentile 101", params: p("timeframe", "60", "v", "1", "percentiles", "101"), param: "percentiles"},
		{name: "percentile -5", params: p("timeframe", "60", "v", "1", "percentiles", "-5"), param: "percentiles"},
		{name: "percentile 12.34", params: p("timeframe", "60", "v", "1", "percentiles", "12.34"), param: "percentiles"},
		{name: "percentile 0.0", params: p("timeframe", "60", "v", "1", "percentiles", "0.0"), param: "percentiles"},
		{name: "percentile 99.99", params: p("timeframe", "60", "v", "1", "percentiles", "99.99"), param: "percentiles"},
		{name: "percentile .5", params: p("timeframe", "60", "v", "1", "percentiles", ".5"), param: "percentiles"},
		{name: "percentile 5.", params: p("timeframe", "60", "v", "1", "percentiles", "5."), param: "percentiles"},
		{name: "percentile 1e1", params: p("timeframe", "60", "v", "1", "percentiles", "1e1"), param: "percentiles"},
		{name: "six percentiles", params: p("timeframe", "60", "v", "1", "percentiles", "1,2,3,4,5,6"), param: "percentiles"},
		{name: "duplicate percentiles", params: p("timeframe", "60", "v", "1", "percentiles", "50,90,50.0"), param: "percentiles"},
		{name: "empty percentile item", params: p("timeframe", "60", "v", "1", "percentiles", "50,,90"), param: "percentiles"},
		{name: "trailing comma in percentiles", params: p("timeframe", "60", "v", "1", "percentiles", "50,"), param: "percentiles"},
		{name: "threshold 0", params: p("timeframe", "60", "v", "1", "thresholds", "0"), param: "thresholds"},
		{name: "threshold 86401", params: p("timeframe", "60", "v", "1", "thresholds", "86401"), param: "thresholds"},
		{name: "threshold 1.5", params: p("timeframe", "60", "v", "1", "thresholds", "1.5"), param: "thresholds"},
		{name: "threshold -5", params: p("timeframe", "60", "v", "1", "thresholds", "-5"), param: "thresholds"},
		{name: "threshold huge", params: p("timeframe", "60", "v", "1", "thresholds", "99999999999999999999"), param: "thresholds"},
		{name: "eleven thresholds", params: p("timeframe", "60", "v", "1", "thresholds", "1,2,3,4,5,6,7,8,9,10,11"), param: "thresholds"},
		{name: "duplicate thresholds", params: p("timeframe", "60", "v", "1", "thresholds", "300,600,300"), param: "thresholds"},
		{name: "empty threshold item", params: p("timeframe", "60", "v", "1", "thresholds", ",300"), param: "thresholds"},
		{name: "a good percentile and a bad threshold", params: p("timeframe", "60", "v", "1", "percentiles", "50", "thresholds", "0"), param: "thresholds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := tc.account
			if account == "" {
				account = "123"
			}
			q, err := convops.ParseQuery(account, tc.params)
			if tc.param == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, q)
				}
				return
			}
			var e *convops.Error
			if !errors.As(err, &e) {
				t.Fatalf("want an *Error naming %s, got %v", tc.param, err)
			}
			if e.Code != convops.EInvalid || e.Parameter != tc.param || e.Message == "" {
				t.Errorf("got code %q parameter %q message %q, want invalid %q", e.Code, e.Parameter, e.Message, tc.param)
			}
		})
	}
}

func TestValidateAccountID(t *testing.T) {
	for _, good := range []string{"1", "123", "le-Account_9", strings.Repeat("Z", 64)} {
		if err := convops.ValidateAccountID(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("Z", 65), "a.b", "a/b", "ü", "a b", "*", ">"} {
		if err := convops.ValidateAccountID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
