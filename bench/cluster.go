package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convops/convops"
)

// ClusterNodes are the servers of the cluster benchmark, on one NATS
// JetStream cluster and one event log: Whole holds every account, and
// Shards[i] holds shard i of 2.
type ClusterNodes struct {
	Whole  Server
	Shards [2]Server
	// KillMetaLeader and KillStreamLeader kill (SIGKILL) the NATS server
	// that leads the cluster's JetStream, and the one that leads the event
	// stream; restart starts it again on its port and store.
	KillMetaLeader, KillStreamLeader func(ctx context.Context) (restart func() error, name string, err error)
}

// RunCluster measures what sharding gives and costs: the memory of a node
// of each shard next to a node of every account, after w is ingested; the
// latency a forwarded answer adds, by answer size; and the longest time a
// retrying client goes without a 200 when the NATS server leading the
// cluster's JetStream (the meta leader), then the one leading the stream,
// is killed.
func RunCluster(ctx context.Context, o Options, w *Workload, nodes ClusterNodes) error {
	log := o.Logger
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var results table
	add := results.add

	log.Info("ingesting through the node of every account", "events", w.Events, "accounts", w.Accounts)
	took, err := ingestHTTP(ctx, client, nodes.Whole.URL(), o, w.Batches)
	if err != nil {
		return err
	}
	add("ingest over HTTP, 3 nodes folding (R3 stream)", "%.0f events/s", float64(w.Events)/took.Seconds())
	all := []Server{nodes.Whole, nodes.Shards[0], nodes.Shards[1]}
	for _, s := range all {
		if err := waitCaughtUp(ctx, client, s); err != nil {
			return err
		}
	}
	names := []string{"every account (--shard 0/1)", "shard 0/2", "shard 1/2"}
	for i, s := range all {
		m, err := s.Memory(ctx)
		if err != nil {
			return err
		}
		add("memory of a node of "+names[i], "%s resident, %s live heap", mb(m.RSS), mb(m.LiveHeap))
	}

	// The same query of an account of shard 1, asked of a node of shard 1
	// and of a node of shard 0, which forwards it; the two alternate.
	// The largest account of shard 1: the largest answers.
	sizes := make(map[string]int)
	for _, b := range w.Batches {
		sizes[b.Account] += len(b.Events)
	}
	account := ""
	for a, n := range sizes {
		if convops.ShardOf(a, 2) == 1 && (account == "" || n > sizes[account] || n == sizes[account] && a < account) {
			account = a
		}
	}
	if account == "" {
		return fmt.Errorf("no account of shard 1 in the workload")
	}
	log.Info("timing forwarded answers", "account", account, "events", sizes[account])
	var buf bytes.Buffer
	for _, sh := range shapes() {
		path := sh.path(account)
		var local, forwarded []time.Duration
		size := 0
		for range o.Queries {
			for i, s := range []Server{nodes.Shards[1], nodes.Shards[0]} {
				start := time.Now()
				if err := get(ctx, client, s.URL()+path, o.Token, &buf); err != nil {
					return err
				}
				d := time.Since(start)
				if i == 0 {
					local, size = append(local, d), buf.Len()
				} else {
					forwarded = append(forwarded, d)
				}
			}
		}
		lp, fp := percentile(local, 50), percentile(forwarded, 50)
		add(fmt.Sprintf("forwarded answer, %s, timeframe=%d (%s)", sh.name, sh.tf, kb(size)),
			"p50 %s local, %s forwarded: %+.3f ms", ms(lp), ms(fp), float64(fp-lp)/1e6)
	}

	p50, p99, err := replicaLag(ctx, client, o, w, nodes)
	if err != nil {
		return err
	}
	add("replica lag: from a 200 on one node to the same answer on another node of the shard", "p50 %s, p99 %s", ms(p50), ms(p99))

	for _, loss := range []struct {
		what string
		kill func(context.Context) (func() error, string, error)
	}{{"the cluster's JetStream", nodes.KillMetaLeader}, {"the event stream", nodes.KillStreamLeader}} {
		gap, acks, name, err := leaderLoss(ctx, client, o, w, nodes, loss.kill)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("NATS server leading %s killed (%s): longest time without a 200, retrying client", loss.what, name),
			"%s (%d batches acknowledged around it)", gap.Round(10*time.Millisecond), acks)
	}

	fmt.Fprintf(o.Out, "\n## %s, on three NATS servers (cluster)\n\n%s\n", w.Name, w.Describe)
	results.write(o.Out, "value")
	return nil
}

// replicaLag ingests batches through the node of every account, one at a
// time, and after each 200 asks the node of the account's shard until its
// answer is the same: how long a client reading from another node than the
// one it wrote to may see the answer before its write.
func replicaLag(ctx context.Context, client *http.Client, o Options, w *Workload, nodes ClusterNodes) (p50, p99 time.Duration, err error) {
	batches := w.Live(200, 11)
	var lags []time.Duration
	var want, got bytes.Buffer
	for _, b := range batches[:min(len(batches), max(o.Queries, 20))] {
		path := "/operations/api/account/" + b.Account + "/msgconversation?timeframe=60&v=1"
		if _, err := post(ctx, client, nodes.Whole.URL()+"/ingest/account/"+b.Account+"/events", o.Token, encodeBatch(nil, b.Events)); err != nil {
			return 0, 0, err
		}
		acked := time.Now()
		if err := get(ctx, client, nodes.Whole.URL()+path, o.Token, &want); err != nil {
			return 0, 0, err
		}
		other := nodes.Shards[convops.ShardOf(b.Account, 2)]
		for {
			if err := get(ctx, client, other.URL()+path, o.Token, &got); err != nil {
				return 0, 0, err
			}
			if bytes.Equal(got.Bytes(), want.Bytes()) {
				break
			}
			if time.Since(acked) > time.Minute {
				return 0, 0, fmt.Errorf("account %s: the replica did not converge within a minute", b.Account)
			}
		}
		lags = append(lags, time.Since(acked))
	}
	return percentile(lags, 50), percentile(lags, 99), nil
}

// leaderLoss runs a retrying client against each shard's node while kill
// kills a NATS server for 15 s, and returns the longest time any of them
// went without a 200, and the server's name.
func leaderLoss(ctx context.Context, client *http.Client, o Options, w *Workload, nodes ClusterNodes,
	kill func(context.Context) (func() error, string, error)) (time.Duration, int, string, error) {
	batches := w.Live(4000, 7)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var gaps []time.Duration
	acks := 0
	var wg sync.WaitGroup
	for c, s := range nodes.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := time.Now()
			longest := time.Duration(0)
			var lastErr error
			for i := c; ctx.Err() == nil; i += 2 {
				body := encodeBatch(nil, batches[i%len(batches)].Events)
				for ctx.Err() == nil {
					rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
					sent := time.Now()
					_, err := post(rctx, client, s.URL()+"/ingest/account/"+batches[i%len(batches)].Account+"/events", o.Token, body)
					rcancel()
					if err != nil {
						lastErr = err
					}
					if err == nil {
						if gap := time.Since(last); gap > time.Second {
							o.Logger.Info("a client went without a 200", "node", c, "for", gap.Round(time.Millisecond),
								"lastRequestTook", time.Since(sent).Round(time.Millisecond), "account", batches[i%len(batches)].Account, "lastError", lastErr)
						}
						lastErr = nil
						longest = max(longest, time.Since(last))
						last = time.Now()
						mu.Lock()
						acks++
						mu.Unlock()
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			gaps = append(gaps, longest)
			mu.Unlock()
		}()
	}
	time.Sleep(3 * time.Second)
	restart, name, err := kill(ctx)
	if err != nil {
		cancel()
		wg.Wait()
		return 0, 0, "", err
	}
	o.Logger.Info("killed a NATS server", "server", name)
	time.Sleep(15 * time.Second)
	o.Logger.Info("starting it again")
	if err := restart(); err != nil {
		cancel()
		wg.Wait()
		return 0, 0, "", err
	}
	time.Sleep(5 * time.Second)
	cancel()
	wg.Wait()
	return slices.Max(gaps), acks, name, nil
}

// waitCaughtUp waits until the server's fold has nothing left to apply
// (its convops_fold_lag_messages is 0).
func waitCaughtUp(ctx context.Context, client *http.Client, s Server) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/metrics", nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		lag := -1.0
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "convops_fold_lag_messages "); ok {
				lag, _ = strconv.ParseFloat(v, 64)
			}
		}
		resp.Body.Close()
		if lag == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func kb(n int) string {
	if n < 10_000 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.0f KB", float64(n)/1e3)
}
