package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/internal/testkit"
	"github.com/convops/convops/node"
	"github.com/convops/convops/store"
)

// allAnswers queries every account of the workload in the largest shapes.
func allAnswers(t *testing.T, n *node.Node, accounts int) string {
	t.Helper()
	var sb strings.Builder
	all := convops.IDFilter{Given: true, All: true}
	for a := range accounts {
		for _, q := range []convops.Query{
			{Account: fmt.Sprint("acc", a), Timeframe: 1440, Interval: 60, Skills: all, Agents: all},
			{Account: fmt.Sprint("acc", a), Timeframe: 15, Agents: all},
		} {
			res, err := n.Query(q, now)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&sb, res)
		}
	}
	return sb.String()
}

// randomIngest sends random requests of several accounts to n: events hours
// late, ids sent again, and now and then a request too large for one log
// message.
func randomIngest(t *testing.T, n *node.Node, r *rand.Rand, requests int, prefix string) {
	t.Helper()
	for i := range requests {
		size := 1 + r.IntN(300)
		if r.IntN(15) == 0 {
			size = 30000 // several log messages
		}
		evs := make([]convops.Event, size)
		for j := range evs {
			id := fmt.Sprintf("%s-%d-%d-a-long-identifier-of-the-kind-some-clients-send", prefix, i, j)
			if r.IntN(10) == 0 {
				id = fmt.Sprintf("%s-%d-%d-a-long-identifier-of-the-kind-some-clients-send", prefix, r.IntN(i+1), 0)
			}
			evs[j] = convops.Event{EventID: id, ConversationID: id, SkillID: r.Int64N(7) - 1, ResolvedBy: convops.ResolvedBy(r.IntN(3)),
				ResolvedAt: now - r.Int64N(20*3_600_000), HandlingTimeMs: r.Int64N(900_000)}
			if r.IntN(6) != 0 {
				evs[j].AgentID, evs[j].HasAgent = r.Int64N(40), true
			}
		}
		if _, err := n.Ingest(context.Background(), fmt.Sprint("acc", r.IntN(5)), now, evs); err != nil {
			t.Fatal(err)
		}
	}
}

func waitSnapshot(t *testing.T, n *node.Node, after uint64) node.SnapshotStats {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() bool { return n.SnapshotStats().Seq > after })
	return n.SnapshotStats()
}

// TestSnapshotAndTailEqualAFullReplay: on random workloads, a node started
// from a snapshot and the log after it answers byte for byte as a node that
// replays the whole log, whether the snapshot was taken while ingest went on
// (a crash after it) or at a graceful stop.
func TestSnapshotAndTailEqualAFullReplay(t *testing.T) {
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 5))
		dir := t.TempDir()
		snapshot := filepath.Join(dir, "snapshot.bin")
		log, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: filepath.Join(dir, "log")})
		if err != nil {
			t.Fatal(err)
		}
		opts := node.Options{SnapshotPath: snapshot, SnapshotInterval: time.Hour}
		first := startNode(t, log, store.Options{}, opts)
		randomIngest(t, first, r, 40, "a")
		first.SnapshotNow()
		mid := waitSnapshot(t, first, 0)
		// The snapshot taken in the middle, kept as a crash would leave it.
		midCopy := filepath.Join(dir, "mid.bin")
		data, err := os.ReadFile(snapshot)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(midCopy, data, 0o600)
		randomIngest(t, first, r, 40, "b")
		want := allAnswers(t, first, 5)
		first.Close() // writes the final snapshot

		for _, tc := range []struct {
			name, path string
		}{{"final snapshot, nothing to replay", snapshot}, {"snapshot of the middle, and the tail", midCopy}, {"no snapshot", ""}} {
			n := startNode(t, log, store.Options{}, node.Options{SnapshotPath: tc.path, SnapshotInterval: time.Hour})
			if got := allAnswers(t, n, 5); got != want {
				t.Errorf("seed %d, %s: the answers differ from the node's before", seed, tc.name)
			}
			n.Close()
		}
		if mid.Seq == 0 {
			t.Error("the middle snapshot covers nothing")
		}
		log.Close()
	}
}

// TestSnapshotNotTrustedBlindly: a snapshot that is damaged, or of another
// log, or that covers more than the log holds, is ignored with a log line,
// and the whole log is replayed.
func TestSnapshotNotTrustedBlindly(t *testing.T) {
	dir := t.TempDir()
	snapshot := filepath.Join(dir, "snapshot.bin")
	log, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	n := startNode(t, log, store.Options{}, node.Options{SnapshotPath: snapshot, SnapshotInterval: time.Hour})
	randomIngest(t, n, rand.New(rand.NewPCG(1, 1)), 20, "x")
	want := allAnswers(t, n, 5)
	n.Close()
	good, err := os.ReadFile(snapshot)
	if err != nil {
		t.Fatal(err)
	}

	// A snapshot of another log: a new log with less in it.
	other, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: filepath.Join(dir, "other")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	small := startNode(t, other, store.Options{}, node.Options{})
	randomIngest(t, small, rand.New(rand.NewPCG(2, 2)), 3, "y")
	wantOther := allAnswers(t, small, 5)
	small.Close()

	damaged := append([]byte{}, good...)
	damaged[len(damaged)/2] ^= 0x10
	cases := []struct {
		name   string
		file   []byte
		log    *eventlog.Log
		want   string
		reason string
	}{
		{"damaged", damaged, log, want, "damaged"},
		{"cut short", good[:len(good)/3], log, want, "damaged"},
		{"of another log", good, other, wantOther, "another event log"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(snapshot, tc.file, 0o600)
			var logs testkit.Buffer
			n := startNode(t, tc.log, store.Options{}, node.Options{SnapshotPath: snapshot, SnapshotInterval: time.Hour,
				Logger: newTextLogger(&logs)})
			if got := allAnswers(t, n, 5); got != tc.want {
				t.Error("answers differ from a replay of the log")
			}
			if !strings.Contains(logs.String(), "ignoring the snapshot") || !strings.Contains(logs.String(), tc.reason) {
				t.Errorf("no log line says why the snapshot was ignored:\n%s", logs.String())
			}
			n.Close()
		})
	}
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
