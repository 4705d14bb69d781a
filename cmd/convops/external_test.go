package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

// TestExternalNATS runs two convops nodes on one external NATS JetStream
// server (--nats-url): an event ingested on one is counted on the other, and
// a node restarted against the same server rebuilds the same answer.
// startNATS runs a real nats-server with JetStream on loopback for the
// test and returns its URL.
func startNATS(t *testing.T) string {
	t.Helper()
	return testkit.NATS(t, nil).ClientURL()
}

func TestExternalNATS(t *testing.T) {
	url := startNATS(t)

	args := func() []string {
		return []string{"--data-dir", t.TempDir(), "--nats-url", url, "--now", testkit.NowText}
	}
	a, b := startServer(t, args()...), startServer(t, args()...)
	var events []string
	for i := range 500 {
		events = append(events, fmt.Sprintf(`{"conversationId":"x%d","skillId":%d,"agentId":%d,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":%d}`, i, i%5, i%7, i))
	}
	if status, body := a.do(t, "POST", "/ingest/account/acme/events", testToken, "["+strings.Join(events, ",")+"]"); status != 200 {
		t.Fatalf("ingest on a: %d %s", status, body)
	}
	query := "/operations/api/account/acme/msgconversation?timeframe=60&v=1&skillIds=all&agentIds=all"
	_, onA := a.do(t, "GET", query, testToken, "")
	// b folds the same log; it sees the events shortly after a acknowledged them.
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, onB := b.do(t, "GET", query, testToken, "")
		return onB == onA
	})
	if !strings.Contains(onA, `"totalResolvedConversations":500,`) {
		t.Fatalf("answer on a: %s", onA)
	}
	// The same events sent to b are duplicates there too: one log, one decision.
	if _, body := b.do(t, "POST", "/ingest/account/acme/events", testToken, "["+strings.Join(events[:10], ",")+"]"); body != `{"accepted":0,"duplicates":10}` {
		t.Errorf("re-sent to b: %s", body)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	c := startServer(t, args()...)
	if _, onC := c.do(t, "GET", query, testToken, ""); onC != onA {
		t.Errorf("a new node on the same log answers differently:\n%s\n%s", onC, onA)
	}
}
