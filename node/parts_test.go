package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/internal/testkit"
	"github.com/convops/convops/internal/testnode"
	"github.com/convops/convops/node"
	"github.com/convops/convops/store"
)

// startNode starts a node with its own store on an open log: several nodes
// on one log stand for the nodes of a cluster, or a restart.
func startNode(t *testing.T, log *eventlog.Log, so store.Options, no node.Options) *node.Node {
	t.Helper()
	return testnode.StartNode(t, log, so, no)
}

func openLog(t *testing.T) *eventlog.Log {
	t.Helper()
	return testnode.OpenLog(t, "")
}

// largeRequest is a batch of n events with long ids: several log messages.
func largeRequest(prefix string, n int, skills int64) []convops.Event {
	out := events(prefix, n)
	for i := range out {
		out[i].EventID = fmt.Sprintf("%s-%06d-a-long-event-identifier-as-some-clients-send", prefix, i)
		out[i].SkillID = int64(i) % skills
	}
	return out
}

// TestLargeRequestAppliedWhole: a request split into several log messages
// is applied all or nothing. Its last part passing a bound refuses the whole
// request, before it is logged and, if it is logged all the same, in the
// fold; with room, every part counts. A second node on the same log decides
// alike.
func TestLargeRequestAppliedWhole(t *testing.T) {
	log := openLog(t)
	bounds := store.Options{MaxSkillsPerAccount: 150}
	n := startNode(t, log, bounds, node.Options{})
	if msgs := log.Encode(convops.Batch{Account: "a", Now: now, Events: largeRequest("x", 40000, 1)}); len(msgs) < 2 {
		t.Fatalf("the request fits in %d message; the test needs several", len(msgs))
	}

	// Skill 150, the 151st, appears only in the last events: the last part.
	_, err := n.Ingest(context.Background(), "a", now, largeRequest("x", 40000, 151))
	var e *convops.Error
	if !errors.As(err, &e) || e.Code != convops.EInvalid || e.Items[0].Index != 150 || !strings.Contains(e.Items[0].Message, store.FlagMaxSkills) {
		t.Fatalf("err %v: want the bound refused at event 150", err)
	}
	if got := total(n, "a"); got != 0 {
		t.Fatalf("%d events of a refused request are counted", got)
	}
	if st, _ := log.State(context.Background()); st.Msgs != 0 {
		t.Fatalf("the refused request reached the log: %+v", st)
	}
	// Logged anyway, as by a node that checked it before another request
	// took the room: the fold refuses it whole.
	if err := log.Publish(context.Background(), log.Encode(convops.Batch{Account: "a", Now: now, Events: largeRequest("x", 40000, 151)})); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Ingest(context.Background(), "a", now, events("sync", 1)); err != nil {
		t.Fatal(err)
	}
	if got := total(n, "a"); got != 1 {
		t.Fatalf("%d events counted, want only the one after the refused request", got)
	}

	out, err := n.Ingest(context.Background(), "a", now, largeRequest("x", 40000, 150))
	if err != nil || out.Accepted != 40000 {
		t.Fatalf("%+v %v", out, err)
	}
	if got := total(n, "a"); got != 40001 {
		t.Fatalf("%d events counted, want 40001", got)
	}

	second := startNode(t, log, bounds, node.Options{})
	if got := total(second, "a"); got != 40001 {
		t.Errorf("the second node counts %d events, want 40001", got)
	}
	q := convops.Query{Account: "a", Timeframe: 1440, Skills: convops.IDFilter{Given: true, All: true}}
	r1, _ := n.Query(q, now)
	r2, _ := second.Query(q, now)
	if fmt.Sprint(r1) != fmt.Sprint(r2) {
		t.Error("the two nodes answer differently")
	}
}

// TestIncompleteRequestDropped: a request whose last part never reaches the
// log (its node failed between two messages) is dropped whole once the log
// has moved on by the part timeout, on every node alike.
func TestIncompleteRequestDropped(t *testing.T) {
	log := openLog(t)
	// Long enough for a slow machine to log every part of the request sent
	// again below within it.
	const timeout = time.Second
	var logs testkit.Buffer
	n := startNode(t, log, store.Options{}, node.Options{PartTimeout: timeout, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	msgs := log.Encode(convops.Batch{Account: "a", Now: now, Events: largeRequest("cut", 40000, 5)})
	if err := log.Publish(context.Background(), msgs[:1]); err != nil {
		t.Fatal(err)
	}
	// Batches of another account move the log's clock on, until it is past
	// the timeout and the request is dropped.
	tick := 0
	testkit.Eventually(t, time.Minute, func() bool {
		tick++
		if _, err := n.Ingest(context.Background(), "clock", now, events(fmt.Sprint("tick", tick), 1)); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(logs.String(), "dropping a request whose last parts never reached")
	})
	_, err := n.Ingest(context.Background(), "a", now, events("later", 10))
	if err != nil {
		t.Fatal(err)
	}
	// The missing part arrives too late: it is dropped as well.
	if err := log.Publish(context.Background(), msgs[1:]); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Ingest(context.Background(), "a", now, events("last", 10)); err != nil {
		t.Fatal(err)
	}
	if got := total(n, "a"); got != 20 {
		t.Errorf("%d events counted, want the 20 of the complete requests", got)
	}
	second := startNode(t, log, store.Options{}, node.Options{PartTimeout: timeout})
	if got := total(second, "a"); got != 20 {
		t.Errorf("replay counts %d events, want 20", got)
	}
	// Sent again, the request counts whole. A machine slow enough to take
	// longer than the timeout between two parts gets the 503 a client
	// retries on, as a client would.
	var out convops.Outcome
	for range 10 {
		if out, err = n.Ingest(context.Background(), "a", now, largeRequest("cut", 40000, 5)); convops.ErrorCode(err) != convops.EUnavailable {
			break
		}
	}
	if err != nil || out.Accepted != 40000 || total(n, "a") != 40020 {
		t.Errorf("sent again: %+v %v, total %d", out, err, total(n, "a"))
	}
}
