package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convops/convops/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// event builds one ingest event; agent < -1 means "no agent".
func event(id string, skill, agent int64, by, at string, handling int64) string {
	agentField := ""
	if agent >= -1 {
		agentField = fmt.Sprintf(`,"agentId":%d`, agent)
	}
	return fmt.Sprintf(`{"conversationId":%q,"skillId":%d%s,"resolvedBy":%q,"resolvedAt":%q,"handlingTimeMs":%d}`,
		id, skill, agentField, by, at, handling)
}

const noAgent = -2

// loadGoldenData ingests the data sets the golden answers are computed from.
func loadGoldenData(t *testing.T, ts *testServer) {
	t.Helper()

	// Account "golden", data clock 13:29:17.
	ts.setNow(testkit.NowText)
	events := []string{
		event("c1", 1, 10, "CCP", "2026-11-27T13:28:00Z", 60000),
		event("c2", 1, 10, "CONSUMER", "2026-11-27T13:10:00Z", 30000),
		event("c3", 1, 11, "SYSTEM", "2026-11-27T13:05:00Z", 1000),
		event("c4", 1, noAgent, "SYSTEM", "2026-11-27T12:50:00Z", 500),
		event("c5", 2, 11, "CCP", "2026-11-27T12:35:00Z", 120000),
		event("c6", -1, 10, "consumer", "2026-11-27T13:29:59Z", 45000), // clock skew inside the current bucket
		event("c7", 2, 12, "CCP", "2026-11-27T10:00:00Z", 240000),      // outside 60 minutes
		event("c9", 1, 10, "CCP", "2026-11-27T13:31:00Z", 1),           // skew into the next bucket: in no window yet
		event("c10", 1, 11, "AGENT", "2026-11-27T12:25:00Z", 7),        // first millisecond of the oldest bucket of 60 minutes
		event("c11", 1, 11, "CCP", "2026-11-27T12:24:59.999Z", 11),     // last millisecond before it
	}
	if acc, dup := ts.ingest(t, "golden", "["+strings.Join(events, ",")+"]"); acc != len(events) || dup != 0 {
		t.Fatalf("golden: accepted %d duplicates %d", acc, dup)
	}
	// The same conversation again, with other numbers: counted once.
	if acc, dup := ts.ingest(t, "golden", "["+event("c1", 2, 11, "SYSTEM", "2026-11-27T13:00:00Z", 1)+"]"); acc != 0 || dup != 1 {
		t.Fatalf("golden duplicate: accepted %d duplicates %d", acc, dup)
	}

	// Account "seed": the seed's response example. Data only in skill 3; agent
	// 2 has the seed's by-resolver counts and handling times; agent 6 resolved
	// 215 conversations by system in no time, which gives the seed's skill
	// average by system of 215/226 = 0.95132744.
	ts.setNow("2014-03-26T13:29:00Z")
	var seed []string
	add := func(n int, agent int64, by string, totalMs int64) {
		for i := range n {
			ms := totalMs / int64(n)
			if i == 0 {
				ms += totalMs % int64(n)
			}
			seed = append(seed, event(fmt.Sprintf("s%d", len(seed)), 3, agent, by, "2014-03-26T13:00:00Z", ms))
		}
	}
	add(21, 2, "CCP", 426)
	add(41, 2, "CONSUMER", 1411)
	add(11, 2, "SYSTEM", 215)
	add(215, 6, "SYSTEM", 0)
	ts.ingest(t, "seed", "["+strings.Join(seed, ",")+"]")

	// Account "seed1329": now 13:29, timeframe 7 covers 13:20–13:29.
	ts.ingest(t, "seed1329", "["+strings.Join([]string{
		event("before", 1, 1, "CCP", "2014-03-26T13:19:59Z", 1),
		event("first", 1, 1, "CCP", "2014-03-26T13:20:00Z", 10),
		event("within", 1, 1, "CONSUMER", "2014-03-26T13:24:00Z", 20),
		event("last", 1, 1, "SYSTEM", "2014-03-26T13:29:59Z", 40),
		event("next", 1, 1, "SYSTEM", "2014-03-26T13:30:00Z", 80),
	}, ",")+"]")

	// Account "seed0807": now 8:07, timeframe 20, interval 10 → 8:10, 8:00, 7:50.
	ts.setNow("2014-03-26T08:07:00Z")
	ts.ingest(t, "seed0807", "["+strings.Join([]string{
		event("a", 1, 1, "CCP", "2014-03-26T07:44:59Z", 1),
		event("b", 1, 1, "CCP", "2014-03-26T07:45:00Z", 2),
		event("c", 1, 1, "CCP", "2014-03-26T07:50:00Z", 4),
		event("d", 1, 1, "CCP", "2014-03-26T08:00:00Z", 8),
		event("e", 1, 1, "CCP", "2014-03-26T08:06:59Z", 16),
	}, ",")+"]")

	// Account "seed0730": the interval 07:30–08:00 has timestamp 1395820800000.
	ts.setNow("2014-03-26T07:59:00Z")
	ts.ingest(t, "seed0730", "["+event("x", 1, 1, "CCP", "2014-03-26T07:30:00Z", 100)+"]")
}

var goldenCases = []struct {
	name, now, account, query string
}{
	{"account", testkit.NowText, "golden", "timeframe=60&v=1"},
	{"account-interval", testkit.NowText, "golden", "timeframe=60&v=1&interval=30"},
	{"account-1440", testkit.NowText, "golden", "timeframe=1440&v=1"},
	{"skills-all", testkit.NowText, "golden", "timeframe=60&v=1&skillIds=all"},
	{"skills-all-interval", testkit.NowText, "golden", "timeframe=60&v=1&skillIds=all&interval=15"},
	{"skills-list", testkit.NowText, "golden", "timeframe=60&v=1&skillIds=99,1,-1"},
	{"agents-all", testkit.NowText, "golden", "timeframe=60&v=1&agentIds=all"},
	{"agents-list-interval", testkit.NowText, "golden", "timeframe=60&v=1&agentIds=10,99&interval=20"},
	{"both-all", testkit.NowText, "golden", "timeframe=60&v=1&skillIds=all&agentIds=all"},
	{"both-interval", testkit.NowText, "golden", "timeframe=1440&v=1&skillIds=2&agentIds=11&interval=720"},
	{"no-data-account", testkit.NowText, "nobody", "timeframe=60&v=1"},
	{"no-data-both-interval", testkit.NowText, "nobody", "timeframe=10&v=1&skillIds=all&agentIds=1,2&interval=5"},
	{"no-data-skills-in-window", testkit.NowText, "golden", "timeframe=5&v=1&skillIds=2"},
	{"seed-response", "2014-03-26T13:29:00Z", "seed", "timeframe=60&v=1&skillIds=all&agentIds=2"},
	{"seed-1329-timeframe-7", "2014-03-26T13:29:00Z", "seed1329", "timeframe=7&v=1"},
	{"seed-0807-timeframe-20-interval-10", "2014-03-26T08:07:00Z", "seed0807", "timeframe=20&v=1&interval=10"},
	{"seed-0730-0800-interval", "2014-03-26T07:59:00Z", "seed0730", "timeframe=30&v=1&interval=30"},
	// Percentiles and thresholds: their keys after the twelve, in every
	// metrics object.
	{"tail-account", testkit.NowText, "golden", "timeframe=60&v=1&percentiles=50,90,99.9&thresholds=60,600"},
	{"tail-both-interval", testkit.NowText, "golden", "timeframe=60&v=1&skillIds=1,-1&agentIds=10,11&interval=30&percentiles=50&thresholds=30"},
	{"tail-no-data", testkit.NowText, "nobody", "timeframe=10&v=1&skillIds=all&agentIds=1&percentiles=95&thresholds=300"},
	{"tail-seed", "2014-03-26T13:29:00Z", "seed", "timeframe=60&v=1&skillIds=all&agentIds=2&percentiles=50,90&thresholds=1"},
}

// TestGolden checks the byte-exact answer of every response shape against
// testdata/golden (stored indented for reading). GET and POST must agree.
func TestGolden(t *testing.T) {
	ts := newTestServer(t)
	loadGoldenData(t, ts)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			ts.setNow(tc.now)
			path := "/operations/api/account/" + tc.account + "/msgconversation"
			status, header, got := ts.do(t, "GET", path+"?"+tc.query, "", "")
			if status != 200 || header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET: %d %s %s", status, header.Get("Content-Type"), got)
			}

			values, _ := url.ParseQuery(tc.query)
			body := map[string]string{}
			for k := range values {
				body[k] = values.Get(k)
			}
			jsonBody, _ := json.Marshal(body)
			_, _, posted := ts.do(t, "POST", path, "application/json", string(jsonBody))
			if !bytes.Equal(got, posted) {
				t.Errorf("POST answer differs from GET:\n%s\n%s", posted, got)
			}

			var indented bytes.Buffer
			if err := json.Indent(&indented, got, "", "  "); err != nil {
				t.Fatalf("answer is not JSON: %v\n%s", err, got)
			}
			indented.WriteByte('\n')
			file := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, indented.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./httpapi -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(indented.Bytes(), want) {
				t.Errorf("answer differs from %s:\n%s", file, indented.Bytes())
			}
		})
	}
}

// TestSeedExamples checks the numbers the seed document states, independently
// of the golden files.
func TestSeedExamples(t *testing.T) {
	ts := newTestServer(t)
	loadGoldenData(t, ts)
	get := func(now, account, query string) map[string]any {
		t.Helper()
		ts.setNow(now)
		status, _, body := ts.do(t, "GET", "/operations/api/account/"+account+"/msgconversation?"+query, "", "")
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	dig := func(v any, keys ...string) any {
		for _, k := range keys {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}

	// 13:29, timeframe 7: the data of 13:20–13:29 (three events), not 13:19:59 or 13:30.
	m := get("2014-03-26T13:29:00Z", "seed1329", "timeframe=7&v=1")
	if got := dig(m, "metricsTotals", "totalResolvedConversations"); got != 3.0 {
		t.Errorf("13:29 timeframe 7: %v conversations, want 3", got)
	}
	if got := dig(m, "metricsTotals", "totalHandlingTime_resolvedConversations"); got != 70.0 {
		t.Errorf("13:29 timeframe 7: handling %v, want 70", got)
	}

	// 8:07, timeframe 20, interval 10: timestamps 8:10, 8:00, 7:50, newest first.
	m = get("2014-03-26T08:07:00Z", "seed0807", "timeframe=20&v=1&interval=10")
	intervals := m["metricsByIntervals"].([]any)
	wantTS := []float64{1395821400000, 1395820800000, 1395820200000}
	wantCount := []float64{2, 1, 1} // 8:00+8:06:59 | 7:50 | 7:45
	if len(intervals) != 3 {
		t.Fatalf("%d intervals, want 3", len(intervals))
	}
	for i, iv := range intervals {
		if ts := dig(iv, "timestamp"); ts != wantTS[i] {
			t.Errorf("interval %d timestamp %v, want %v", i, ts, wantTS[i])
		}
		if n := dig(iv, "metricsData", "metricsTotals", "totalResolvedConversations"); n != wantCount[i] {
			t.Errorf("interval %d: %v conversations, want %v", i, n, wantCount[i])
		}
	}

	// The 07:30–08:00 interval has timestamp 1395820800000.
	m = get("2014-03-26T07:59:00Z", "seed0730", "timeframe=30&v=1&interval=30")
	first := m["metricsByIntervals"].([]any)[0]
	if dig(first, "timestamp") != 1395820800000.0 || dig(first, "metricsData", "metricsTotals", "totalResolvedConversations") != 1.0 {
		t.Errorf("07:30–08:00 interval: %v", first)
	}

	// skillIds=all & agentIds=2: skill 3 lists agents 2 and 6; agentsMetrics lists only 2.
	m = get("2014-03-26T13:29:00Z", "seed", "timeframe=60&v=1&skillIds=all&agentIds=2")
	skill3 := dig(m, "skillsMetricsPerAgent", "metricsPerSkill", "3", "metricsPerAgent").(map[string]any)
	if len(skill3) != 2 || skill3["2"] == nil || skill3["6"] == nil {
		t.Errorf("skill 3 agents: %v", skill3)
	}
	if agents := dig(m, "agentsMetrics", "metricsPerAgent").(map[string]any); len(agents) != 1 || agents["2"] == nil {
		t.Errorf("agentsMetrics: %v", agents)
	}
	agent2 := dig(m, "agentsMetrics", "metricsPerAgent", "2")
	for key, want := range map[string]float64{
		"avgTime_resolvedConversations_byCCP":      20.285715,
		"avgTime_resolvedConversations_byConsumer": 34.414635,
		"avgTime_resolvedConversations_bySystem":   19.545454,
	} {
		if got := dig(agent2, key); got != want {
			t.Errorf("agent 2 %s = %v, want %v", key, got, want)
		}
	}
	if got := dig(m, "skillsMetricsPerAgent", "metricsTotals", "avgTime_resolvedConversations_bySystem"); got != 0.95132744 {
		t.Errorf("skills total average by system %v, want 0.95132744", got)
	}
}
