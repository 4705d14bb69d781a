package node_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/internal/testkit"
	"github.com/convops/convops/node"
	"github.com/convops/convops/sim"
	"github.com/convops/convops/store"
)

var now = testkit.NowMs

// openNode opens the log in dir and starts a node on it.
func openNode(tb testing.TB, dir string) (*node.Node, *eventlog.Log, func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log, err := eventlog.Open(ctx, eventlog.Options{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	n := node.New(log, store.New(store.Options{}), node.Options{})
	if err := n.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	closed := false
	closeFn := func() {
		if !closed {
			closed = true
			cancel()
			log.Close()
		}
	}
	tb.Cleanup(closeFn)
	return n, log, closeFn
}

func events(prefix string, n int) []convops.Event {
	out := make([]convops.Event, n)
	for i := range out {
		out[i] = convops.Event{
			EventID:        fmt.Sprintf("%s-%d", prefix, i),
			SkillID:        int64(i % 150),
			AgentID:        int64(i % 2000),
			HasAgent:       true,
			ResolvedBy:     convops.ResolvedBy(i % 3),
			ResolvedAt:     now - int64(i%86000)*1000,
			HandlingTimeMs: int64(i % 600000),
		}
	}
	return out
}

func total(n *node.Node, account string) int64 {
	res, _ := n.Query(convops.Query{Account: account, Timeframe: convops.MaxTimeframeMinutes}, now)
	return res.Whole.Totals.Total()
}

func TestIngestWaitsForTheFold(t *testing.T) {
	n, _, _ := openNode(t, t.TempDir())
	<-n.Ready()
	out, err := n.Ingest(context.Background(), "a", now, events("e", 5000))
	if err != nil || out.Accepted != 5000 || out.Duplicates != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	// The answer came after the fold: the events are visible at once.
	if got := total(n, "a"); got != 5000 {
		t.Errorf("visible after ingest: %d", got)
	}
	out, err = n.Ingest(context.Background(), "a", now, events("e", 6000))
	if err != nil || out.Accepted != 1000 || out.Duplicates != 5000 {
		t.Fatalf("second ingest: %+v %v", out, err)
	}
}

func TestReplayRebuildsTheSameState(t *testing.T) {
	dir := t.TempDir()
	n, _, closeFirst := openNode(t, dir)
	<-n.Ready()
	// The same batches applied to a store directly, without the log: what
	// the node must hold.
	direct := store.New(store.Options{})
	for b := range 6 {
		evs := events(fmt.Sprint("b", b), 3000)
		if b%3 == 1 { // messages with and without agents, one after the other
			for i := range evs {
				evs[i].AgentID, evs[i].HasAgent = 0, false
			}
		}
		if _, err := n.Ingest(context.Background(), fmt.Sprint("acc", b%2), now, evs); err != nil {
			t.Fatal(err)
		}
		direct.Apply(convops.Batch{Account: fmt.Sprint("acc", b%2), Now: now, Events: evs})
	}
	all := convops.IDFilter{Given: true, All: true}
	answers := func(query func(convops.Query) convops.Result) string {
		var out []string
		for _, account := range []string{"acc0", "acc1"} {
			q := convops.Query{Account: account, Timeframe: convops.MaxTimeframeMinutes, Interval: 60, Skills: all, Agents: all}
			out = append(out, fmt.Sprint(query(q)))
		}
		return strings.Join(out, "\n")
	}
	ofNode := func(n *node.Node) func(convops.Query) convops.Result {
		return func(q convops.Query) convops.Result {
			res, err := n.Query(q, now)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	want, wantStats := answers(func(q convops.Query) convops.Result {
		return direct.Query(q, convops.Layout(now, q.Timeframe, q.Interval))
	}), direct.Stats()
	if got := answers(ofNode(n)); got != want {
		t.Error("the node's answers differ from those of the batches applied directly")
	}
	closeFirst()

	n2, _, _ := openNode(t, dir)
	select {
	case <-n2.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("replay did not finish")
	}
	if got := answers(ofNode(n2)); got != want {
		t.Error("answers differ after the replay")
	}
	if got := n2.Stats(); got.Series != wantStats.Series || got.Buckets != wantStats.Buckets || got.DedupeKeys != wantStats.DedupeKeys {
		t.Errorf("after replay %+v, before %+v", got, wantStats)
	}
}

func TestNotReadyBeforeReplay(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, err := eventlog.Open(ctx, eventlog.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	n := node.New(log, store.New(store.Options{}), node.Options{}) // not started
	if _, err := n.Ingest(ctx, "a", now, events("x", 1)); convops.ErrorCode(err) != convops.EUnavailable {
		t.Errorf("ingest before ready: %v", err)
	}
	if _, err := n.Query(convops.Query{Account: "a", Timeframe: 60}, now); convops.ErrorCode(err) != convops.EUnavailable {
		t.Errorf("query before ready: %v", err)
	}
}

// BenchmarkIngest measures durable ingest in-process (the log and the fold,
// no HTTP) from 4 concurrent writers, in batches of 1,000 and of 10 events,
// with an fsync per message (the default) and with an fsync every second
// (what durability against power loss costs).
func BenchmarkIngest(b *testing.B) {
	for _, size := range []int{1000, 10} {
		for _, tc := range []struct {
			name string
			sync time.Duration
		}{{"fsync-per-message", 0}, {"fsync-every-second", time.Second}} {
			b.Run(fmt.Sprintf("batch-%d/%s", size, tc.name), func(b *testing.B) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				log, err := eventlog.Open(ctx, eventlog.Options{DataDir: b.TempDir(), SyncInterval: tc.sync})
				if err != nil {
					b.Fatal(err)
				}
				defer log.Close()
				n := node.New(log, store.New(store.Options{}), node.Options{})
				if err := n.Start(ctx); err != nil {
					b.Fatal(err)
				}
				defer n.Close()
				<-n.Ready()
				var next atomic.Int64
				b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 writers
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := n.Ingest(ctx, "acc", now, events(fmt.Sprint("b", next.Add(1)), size)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

var (
	replayEvents   = flag.Int("replay-events", 1_000_000, "events in the log of BenchmarkReplay")
	replayAccounts = flag.Int("replay-accounts", 1, "accounts in the log of BenchmarkReplay: 1 is the simulator's large account; more are accounts of log-normal sizes")
)

// replayLog fills the log of a node with the events of BenchmarkReplay, in
// ingests of at most 1,000 events, and returns how many it holds.
func replayLog(b *testing.B, n *node.Node) int {
	var batches []convops.Batch
	if *replayAccounts <= 1 {
		o := sim.DefaultOptions(now)
		o.Events = *replayEvents
		for _, bb := range splitBatches("acc", sim.Generate(o)) {
			batches = append(batches, bb)
		}
	} else {
		o := sim.DefaultTenantOptions(now)
		o.Events, o.Accounts = *replayEvents, *replayAccounts
		var perAccount [][]convops.Batch
		for _, tn := range sim.Tenants(o) {
			perAccount = append(perAccount, splitBatches(tn.Account, sim.Generate(tn.Options)))
		}
		for round := 0; ; round++ {
			k := len(batches)
			for _, bs := range perAccount {
				if round < len(bs) {
					batches = append(batches, bs[round])
				}
			}
			if k == len(batches) {
				break
			}
		}
	}
	total := 0
	for _, bb := range batches {
		if _, err := n.Ingest(context.Background(), bb.Account, now, bb.Events); err != nil {
			b.Fatal(err)
		}
		total += len(bb.Events)
	}
	return total
}

func splitBatches(account string, events []convops.Event) []convops.Batch {
	var out []convops.Batch
	for i := 0; i < len(events); i += 1000 {
		out = append(out, convops.Batch{Account: account, Now: now, Events: events[i:min(len(events), i+1000)]})
	}
	return out
}

// BenchmarkReplay measures how fast a node replays a log of -replay-events
// events in -replay-accounts accounts: the start-to-ready time of a restart.
//
//	go test -run XXX -bench Replay ./node -args -replay-events=10000000
//	go test -run XXX -bench Replay ./node -args -replay-accounts=2500
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	n, _, closeFirst := openNode(b, dir)
	<-n.Ready()
	events := replayLog(b, n)
	closeFirst()
	b.ResetTimer()
	for range b.N {
		n, _, closeIt := openNode(b, dir)
		<-n.Ready()
		b.StopTimer()
		if st := n.Stats(); st.DedupeKeys != events {
			b.Fatalf("replayed %d events, want %d", st.DedupeKeys, events)
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.ReportMetric(float64(m.HeapAlloc)/1e6, "heap-MB")
		closeIt()
		b.StartTimer()
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds()*float64(b.N), "events/s")
}
