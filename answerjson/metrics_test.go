package answerjson_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/answerjson"
)

func TestAverage(t *testing.T) {
	cases := []struct {
		total, count int64
		want         string
	}{
		// The seed's averages.
		{426, 21, "20.285715"},
		{1411, 41, "34.414635"},
		{215, 11, "19.545454"},
		{3248, 103, "31.533981"},
		{215, 226, "0.95132744"},
		{0, 0, "0"},
		{5, 0, "0"},
		{426, 1, "426"},
		{convops.MaxHandlingTimeMs, 1, "31536000000"},
		{1, 3, "0.33333334"},
	}
	for _, tc := range cases {
		got := string(answerjson.AppendAverage(nil, answerjson.Average(tc.total, tc.count)))
		if got != tc.want {
			t.Errorf("%d/%d = %s, want %s", tc.total, tc.count, got, tc.want)
		}
	}
}

func TestAppendMetrics(t *testing.T) {
	var c convops.Counters
	for range 21 {
		c.AddEvent(convops.ByCCP, 0)
	}
	c.Handling[convops.ByCCP] = 426
	c.AddEvent(convops.BySystem, 215)
	got := string(answerjson.AppendMetrics(nil, &c))
	want := `{"resolvedConversations_byCCP":21,"resolvedConversations_byConsumer":0,"resolvedConversations_bySystem":1,` +
		`"totalResolvedConversations":22,"totalHandlingTime_resolvedConversations_byCCP":426,` +
		`"totalHandlingTime_resolvedConversations_byConsumer":0,"totalHandlingTime_resolvedConversations_bySystem":215,` +
		`"totalHandlingTime_resolvedConversations":641,"avgTime_resolvedConversations_byCCP":20.285715,` +
		`"avgTime_resolvedConversations_byConsumer":0,"avgTime_resolvedConversations_bySystem":215,` +
		`"avgTime_resolvedConversations":29.136364}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got), &m); err != nil || len(m) != 12 {
		t.Fatalf("not a 12-key JSON object: %v", err)
	}
	// Keys appear in the documented order.
	pos := -1
	for _, k := range answerjson.MetricKeys {
		i := strings.Index(got, `"`+k+`"`)
		if i <= pos {
			t.Errorf("key %s out of order", k)
		}
		pos = i
	}
}
