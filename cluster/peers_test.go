package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/convops/convops"
	"github.com/convops/convops/internal/testkit"
)

// startNATS runs a real nats-server on loopback and returns a client
// connection factory.
func startNATS(tb testing.TB) func() *nats.Conn {
	tb.Helper()
	ns := testkit.NATS(tb, &server.Options{})
	return func() *nats.Conn {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(nc.Close)
		return nc
	}
}

// fakeLocal answers every query with a body of size bytes that names the
// account, and every await with one accepted event per id.
type fakeLocal struct {
	size int
	err  error
}

func (f fakeLocal) Answer(_ context.Context, account string, params map[string]string, _ int64) (int, []byte, string, func()) {
	head := fmt.Sprintf(`{"account":%q,"timeframe":%q,"pad":"`, account, params["timeframe"])
	body := head + strings.Repeat("x", max(0, f.size-len(head)-2)) + `"}`
	return http.StatusOK, []byte(body), "", func() {}
}

// Version is the account's length, a number every node of the fake
// shard gives alike.
func (f fakeLocal) Version(account string) uint64 { return uint64(len(account)) }

func (f fakeLocal) Await(_ context.Context, ids []string) (convops.Outcome, error) {
	if f.err != nil {
		return convops.Outcome{}, f.err
	}
	return convops.Outcome{Accepted: len(ids)}, nil
}

// accountOf returns an account of shard among count.
func accountOf(shard, count int) string {
	for i := 0; ; i++ {
		if a := fmt.Sprint(100 + i); convops.ShardOf(a, count) == shard {
			return a
		}
	}
}

func newPeers(t testing.TB, nc *nats.Conn, shard convops.Shard, local Local) *Peers {
	t.Helper()
	p, err := New(nc, shard, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if local != nil {
		if err := p.Serve(local); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestQueryCrossesShards: a query of another shard's account is answered by
// a node of that shard with its bytes, an answer larger than a NATS message
// included; an await returns that node's outcome, or its refusal.
func TestQueryCrossesShards(t *testing.T) {
	conn := startNATS(t)
	zero := newPeers(t, conn(), convops.Shard{Index: 0, Count: 2}, fakeLocal{size: 100})
	big := 3 << 20 // three NATS messages and more
	newPeers(t, conn(), convops.Shard{Index: 1, Count: 2}, fakeLocal{size: big, err: &convops.Error{Code: convops.EInvalid, Message: "too many skills", Cause: ""}})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	account := accountOf(1, 2)
	status, body, _, err := zero.Query(ctx, account, map[string]string{"timeframe": "60"}, 0)
	if err != nil || status != 200 || len(body) != big {
		t.Fatalf("query: %d, %d bytes, %v", status, len(body), err)
	}
	want := fmt.Sprintf(`{"account":%q,"timeframe":"60","pad":"xxx`, account)
	if !bytes.HasPrefix(body, []byte(want)) || !bytes.HasSuffix(body, []byte(`xx"}`)) {
		t.Errorf("answer: %.60s…%s", body, body[len(body)-10:])
	}
	if v, err := zero.Version(ctx, account); err != nil || v != uint64(len(account)) {
		t.Errorf("version: %d %v, want %d", v, err, len(account))
	}
	_, err = zero.Await(ctx, account, []string{"a", "b"})
	var e *convops.Error
	if !errors.As(err, &e) || e.Code != convops.EInvalid || e.Message != "too many skills" {
		t.Errorf("await refused by the shard's node: %v", err)
	}
}

// TestNoNodeOfTheShard: with no node of the account's shard, a request is
// refused with a 503 naming the shard, once its time is up or once NATS has
// said for noListener that no one listens; a node that starts listening
// meanwhile answers it.
func TestNoNodeOfTheShard(t *testing.T) {
	conn := startNATS(t)
	zero := newPeers(t, conn(), convops.Shard{Index: 0, Count: 2}, fakeLocal{size: 10})
	account := accountOf(1, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, _, err := zero.Query(ctx, account, nil, 0)
	var e *convops.Error
	if !errors.As(err, &e) || e.Code != convops.EUnavailable || e.Cause != convops.CauseShard || !strings.Contains(e.Message, "shard 1/2") {
		t.Fatalf("no node of shard 1/2: %v", err)
	}

	// A node of the shard that comes while the request waits answers it:
	// it starts to listen once the request has been sent again for want of
	// a node.
	late := newPeers(t, conn(), convops.Shard{Index: 1, Count: 2}, nil)
	resent := zero.Stats().Resent["query"]
	go func() {
		// Not testkit.Eventually: no test may fail from this goroutine;
		// the query below times out if this never comes.
		for zero.Stats().Resent["query"] == resent {
			time.Sleep(5 * time.Millisecond)
		}
		late.Serve(fakeLocal{size: 10})
	}()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if status, _, _, err := zero.Query(ctx, account, nil, 0); err != nil || status != 200 {
		t.Fatalf("a node that came late: %d %v", status, err)
	}
	if zero.Stats().Resent["query"] == resent {
		t.Error("the request was answered without waiting for the late node")
	}

	// A node that stops answering (StopServing) leaves the shard without
	// one again. NATS then says at once that no one listens: the request
	// is refused after a brief retry, long before its time is up.
	late.StopServing()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, _, err := zero.Query(ctx, account, nil, 0); !errors.As(err, &e) || e.Cause != convops.CauseShard || ctx.Err() != nil {
		t.Fatalf("no node of the shard, a minute to wait: %v (time up: %v)", err, ctx.Err())
	}
	if _, err := zero.Version(ctx, account); !errors.As(err, &e) || e.Cause != convops.CauseShard || ctx.Err() != nil {
		t.Fatalf("no node of the shard, a minute to wait: %v (time up: %v)", err, ctx.Err())
	}
}

// BenchmarkForwardedQuery is what a forwarded answer costs over NATS on
// loopback, answer size by answer size (the node's own work excluded):
//
//	go test -run XXX -bench ForwardedQuery ./cluster
func BenchmarkForwardedQuery(b *testing.B) {
	for _, size := range []int{1 << 10, 10 << 10, 100 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			conn := startNATS(b)
			zero := newPeers(b, conn(), convops.Shard{Index: 0, Count: 2}, nil)
			newPeers(b, conn(), convops.Shard{Index: 1, Count: 2}, fakeLocal{size: size})
			account := accountOf(1, 2)
			ctx := context.Background()
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, body, _, err := zero.Query(ctx, account, map[string]string{"timeframe": "60"}, 0); err != nil || len(body) != size {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.SetBytes(int64(size))
		})
	}
}

// TestForgedTimeouts: a request whose time left is too large to be a
// duration is answered within maxWait, not dropped.
func TestForgedTimeouts(t *testing.T) {
	conn := startNATS(t)
	newPeers(t, conn(), convops.Shard{Index: 1, Count: 2}, fakeLocal{size: 10})
	nc := conn()
	for _, timeout := range []string{"9223372036854775807", "-5", "x"} {
		m := nats.NewMsg(Subject(convops.Shard{Index: 1, Count: 2}))
		m.Header.Set(opHeader, "query")
		m.Header.Set(timeoutHeader, timeout)
		m.Data = []byte(fmt.Sprintf(`{"account":%q}`, accountOf(1, 2)))
		reply, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil || reply.Header.Get(statusHeader) != "200" {
			t.Errorf("Convops-Timeout-Ms %s: %v", timeout, err)
		}
	}
}
