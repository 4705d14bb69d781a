package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

// clockEvents are n events of three accounts resolved in the hour before at.
func clockEvents(at time.Time, n int) map[string]string {
	bodies := map[string][]string{}
	for i := range n {
		acc := fmt.Sprint("acc", i%3)
		bodies[acc] = append(bodies[acc], fmt.Sprintf(`{"conversationId":"c%d","skillId":%d,"agentId":%d,"resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":1000}`,
			i, i%4, i%9, at.Add(-time.Duration(i%3600)*time.Second).UnixMilli()))
	}
	out := map[string]string{}
	for acc, evs := range bodies {
		out[acc] = "[" + strings.Join(evs, ",") + "]"
	}
	return out
}

// TestWrongClockForgetsNothing: a server restarted once with its clock 26
// hours or 3 days ahead (here a mistyped --now) accepts one event; then its
// clock is right again. Nothing of the last 24 hours is forgotten, and the
// same events sent again are duplicates.
func TestWrongClockForgetsNothing(t *testing.T) {
	for _, ahead := range []time.Duration{26 * time.Hour, 72 * time.Hour} {
		t.Run(ahead.String(), func(t *testing.T) {
			dataDir := t.TempDir()
			now := time.Now().UTC().Truncate(time.Second)
			s := startServer(t, "--data-dir", dataDir, "--now", now.Format(time.RFC3339))
			bodies := clockEvents(now, 3000)
			for acc, body := range bodies {
				if status, out := s.do(t, "POST", "/ingest/account/"+acc+"/events", testToken, body); status != 200 {
					t.Fatalf("%d %s", status, out)
				}
			}
			s.stop()

			wrong := now.Add(ahead)
			s = startServer(t, "--data-dir", dataDir, "--now", wrong.Format(time.RFC3339))
			one := fmt.Sprintf(`[{"conversationId":"late","resolvedBy":"SYSTEM","resolvedAt":%d,"handlingTimeMs":1}]`, wrong.UnixMilli())
			if status, out := s.do(t, "POST", "/ingest/account/acc9/events", testToken, one); status != 200 {
				t.Fatalf("the one event: %d %s", status, out)
			}
			s.stop()

			s = startServer(t, "--data-dir", dataDir, "--now", now.Format(time.RFC3339))
			for acc, body := range bodies {
				_, q := s.do(t, "GET", "/operations/api/account/"+acc+"/msgconversation?timeframe=1440&v=1", testToken, "")
				if !strings.Contains(q, `"totalResolvedConversations":1000,`) {
					t.Errorf("%s forgot events: %s", acc, q)
				}
				if _, out := s.do(t, "POST", "/ingest/account/"+acc+"/events", testToken, body); out != `{"accepted":0,"duplicates":1000}` {
					t.Errorf("%s sent again: %s", acc, out)
				}
			}
		})
	}
}

// TestClockAheadOnExternalNATS: two nodes on one external NATS server. One
// runs with --now a day ahead but a right clock: its writes are accepted and
// expire nothing. Another runs on a machine whose clock is a day ahead: it
// refuses writes with a 503 naming the clock, and queries still work.
func TestClockAheadOnExternalNATS(t *testing.T) {
	natsURL := startNATS(t)
	now := time.Now().UTC().Truncate(time.Second)
	day := 26 * time.Hour
	args := func(at time.Time) []string {
		return []string{"--data-dir", t.TempDir(), "--nats-url", natsURL, "--now", at.Format(time.RFC3339)}
	}
	a := startServer(t, args(now)...)
	mistyped := startServer(t, args(now.Add(day))...)
	wrongMachine := startServerWith(t, func(c *ServeCommand) {
		c.Clock = func() time.Time { return time.Now().Add(day) }
	}, args(now.Add(day))...)

	bodies := clockEvents(now, 3000)
	for acc, body := range bodies {
		if status, out := a.do(t, "POST", "/ingest/account/"+acc+"/events", testToken, body); status != 200 {
			t.Fatalf("%d %s", status, out)
		}
	}
	one := fmt.Sprintf(`[{"conversationId":"late","resolvedBy":"SYSTEM","resolvedAt":%d,"handlingTimeMs":1}]`, now.Add(day).UnixMilli())
	if status, out := mistyped.do(t, "POST", "/ingest/account/acc9/events", testToken, one); status != 200 {
		t.Fatalf("the node with a mistyped --now: %d %s", status, out)
	}
	status, out := wrongMachine.do(t, "POST", "/ingest/account/acc8/events", testToken, one)
	if status != 503 || !strings.Contains(out, "clock") {
		t.Errorf("the node whose clock is a day ahead: %d %s, want a 503 naming the clock", status, out)
	}
	query := "/operations/api/account/acc0/msgconversation?timeframe=1440&v=1"
	if status, _ := wrongMachine.do(t, "GET", query, testToken, ""); status != 200 {
		t.Errorf("queries on the node with the wrong clock: %d", status)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, q := a.do(t, "GET", query, testToken, "")
		return strings.Contains(q, `"totalResolvedConversations":1000,`)
	})
	// A node started afresh on the log folds it all: nothing forgotten.
	c := startServer(t, args(now)...)
	for acc, body := range bodies {
		_, q := c.do(t, "GET", "/operations/api/account/"+acc+"/msgconversation?timeframe=1440&v=1", testToken, "")
		if !strings.Contains(q, `"totalResolvedConversations":1000,`) {
			t.Errorf("%s forgot events: %s", acc, q)
		}
		if _, out := c.do(t, "POST", "/ingest/account/"+acc+"/events", testToken, body); out != `{"accepted":0,"duplicates":1000}` {
			t.Errorf("%s sent again: %s", acc, out)
		}
	}
}
