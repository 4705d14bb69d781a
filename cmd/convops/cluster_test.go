package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/convops/convops"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/internal/natsprocs"
	"github.com/convops/convops/internal/testkit"
)

// natsCluster is a real three-server NATS JetStream cluster on loopback,
// whose servers can be stopped and started again on their ports and
// stores.
type natsCluster struct {
	t       *testing.T
	mu      sync.Mutex
	servers []*server.Server
	opts    []func() *server.Options
}

func startNATSCluster(t *testing.T, size int) *natsCluster {
	t.Helper()
	ports := natsprocs.FreePorts(2 * size)
	var routes []string
	for i := range size {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[size+i]))
	}
	c := &natsCluster{t: t, servers: make([]*server.Server, size)}
	for i := range size {
		dir := t.TempDir()
		c.opts = append(c.opts, func() *server.Options {
			return &server.Options{
				ServerName: fmt.Sprintf("nats-%d", i),
				Host:       "127.0.0.1",
				Port:       ports[i],
				JetStream:  true,
				StoreDir:   dir,
				NoLog:      true,
				NoSigs:     true,
				Cluster:    server.ClusterOpts{Name: "convops-test", Host: "127.0.0.1", Port: ports[size+i]},
				Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			}
		})
	}
	for i := range size {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range size {
			c.stop(i)
		}
	})
	return c
}

func (c *natsCluster) start(i int) {
	c.t.Helper()
	ns, err := server.NewServer(c.opts[i]())
	if err != nil {
		c.t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("nats server %d did not start", i)
	}
	c.mu.Lock()
	c.servers[i] = ns
	c.mu.Unlock()
}

func (c *natsCluster) stop(i int) {
	c.mu.Lock()
	ns := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// urls lists every server's client URL, as operators give --nats-url.
func (c *natsCluster) urls() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o().Port))
	}
	return strings.Join(urls, ",")
}

// streamInfo reads the event stream's configuration and cluster state.
func (c *natsCluster) streamInfo(t *testing.T) *jetstream.StreamInfo {
	t.Helper()
	nc, err := nats.Connect(c.urls())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var info *jetstream.StreamInfo
	for {
		stream, err := js.Stream(ctx, eventlog.StreamName)
		if err == nil {
			info, err = stream.Info(ctx)
		}
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			return info
		}
		if ctx.Err() != nil {
			t.Fatalf("stream info: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// index returns the position of the server named name.
func (c *natsCluster) index(name string) int {
	for i, o := range c.opts {
		if o().ServerName == name {
			return i
		}
	}
	c.t.Fatalf("no server %s", name)
	return -1
}

// TestStreamReplicasFollowTheCluster: on three servers, convops creates the
// stream with three replicas without being told; an existing stream with
// fewer is used as it is, with a warning.
func TestStreamReplicasFollowTheCluster(t *testing.T) {
	cl := startNATSCluster(t, 3)
	s := startServer(t, "--data-dir", t.TempDir(), "--nats-url", strings.Split(cl.urls(), ",")[0])
	if info := cl.streamInfo(t); info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream created with %d replicas (%d peers besides the leader), want 3\n%s", info.Config.Replicas, len(info.Cluster.Replicas), s.logs)
	}
	s.stop()

	// One replica, as an operator may have made it: kept, and warned of.
	nc, err := nats.Connect(cl.urls())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	stream, err := js.Stream(ctx, eventlog.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	cfg.Replicas = 1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, "--data-dir", t.TempDir(), "--nats-url", cl.urls())
	if info := cl.streamInfo(t); info.Config.Replicas != 1 {
		t.Errorf("an existing stream was changed to %d replicas", info.Config.Replicas)
	}
	if logs := s.logs.String(); !strings.Contains(logs, "fewer replicas") || !strings.Contains(logs, "wanted=3") {
		t.Errorf("no warning of the stream's one replica:\n%s", logs)
	}
}

// clusterEvent is event i of account, a conversation id of its own.
func clusterEvent(account string, i int) string {
	return fmt.Sprintf(`{"conversationId":"%s-%d","skillId":%d,"agentId":%d,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":%d}`,
		account, i, i%4, i%9, 1000+i)
}

// TestShardedCluster: four convops nodes, two per shard, on a three-server
// NATS cluster. Clients ingest through every node, with retries, while the
// server leading the stream is stopped and a node of each shard is killed
// (SIGKILL), and both are started again. At the end every event is counted once, and every node
// gives the same bytes for the same query of every account, its
// percentiles and service levels too, through forwarding or not.
func TestShardedCluster(t *testing.T) {
	cl := startNATSCluster(t, 3)
	keys := writeTestKeys(t)
	const now = testkit.NowText
	type member struct {
		args []string
		srv  atomic.Pointer[runningServer]
	}
	// Each node is the convops binary, a process of its own, so that it
	// can be killed (SIGKILL): its stop kills it.
	start := func(m *member) {
		b := startBinary(t, m.args...)
		m.srv.Store(&runningServer{url: b.url, logs: &testkit.Buffer{}, stop: func() error {
			b.cmd.Process.Kill()
			b.cmd.Wait()
			return nil
		}})
	}
	var members []*member
	for _, shard := range []string{"0/2", "0/2", "1/2", "1/2"} {
		m := &member{args: []string{"--data-dir", t.TempDir(), "--keys", keys, "--nats-url", cl.urls(), "--shard", shard, "--now", now,
			"--snapshot-events", "500"}}
		start(m)
		members = append(members, m)
	}
	// Accounts of both shards.
	var accounts []string
	for i := 0; len(accounts) < 6; i++ {
		a := strconv.Itoa(1000 + i)
		if convops.ShardOf(a, 2) == len(accounts)%2 {
			accounts = append(accounts, a)
		}
	}

	// A batch larger than a NATS message (logged in parts) for an account
	// of shard 1, through a node of shard 0.
	const big = 12000
	var events []string
	for i := range big {
		events = append(events, clusterEvent(accounts[1], 1_000_000+i))
	}
	if body := "[" + strings.Join(events, ",") + "]"; len(body) < 1<<20 {
		t.Fatalf("the large batch is only %d bytes", len(body))
	} else if status, answer := members[0].srv.Load().do(t, "POST", "/ingest/account/"+accounts[1]+"/events", testToken, body); status != 200 || answer != fmt.Sprintf(`{"accepted":%d,"duplicates":0}`, big) {
		t.Fatalf("large batch through the other shard: %d %s", status, answer)
	}

	// One client per node and account sends its batches there, moving to
	// the next node when its node does not answer; a batch is sent again
	// until it is acknowledged.
	const batches, perBatch = 60, 10
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var retries, acknowledged atomic.Int64
	client := &http.Client{Timeout: 40 * time.Second}
	for mi := range members {
		for ai, account := range accounts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				target := mi
				for b := range batches {
					var events []string
					for e := range perBatch {
						events = append(events, clusterEvent(account, ((mi*batches+b)*perBatch)+e))
					}
					body := "[" + strings.Join(events, ",") + "]"
					time.Sleep(100 * time.Millisecond) // ingest goes on through the failures below
					for {
						if ctx.Err() != nil {
							t.Errorf("account %s: batch %d never acknowledged", account, b)
							return
						}
						s := members[target].srv.Load()
						status := 0
						req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/ingest/account/"+account+"/events", strings.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+testToken)
						req.Header.Set("Content-Type", "application/json")
						if resp, err := client.Do(req); err == nil {
							status = resp.StatusCode
							resp.Body.Close()
						}
						if status == 200 {
							acknowledged.Add(1)
							break
						}
						if status != 0 && status != 503 && status != 429 {
							t.Errorf("account %s through node %d: %d", account, target, status)
							return
						}
						retries.Add(1)
						target = (target + 1) % len(members)
						time.Sleep(time.Duration(50+ai*10) * time.Millisecond)
					}
				}
			}()
		}
	}

	// Mid-ingest: the server that leads the stream goes, and one node of
	// each shard; they come back.
	testkit.Eventually(t, 60*time.Second, func() bool { return acknowledged.Load() > 0 })
	leader := cl.index(cl.streamInfo(t).Cluster.Leader)
	before, retriedBefore := acknowledged.Load(), retries.Load()
	cl.stop(leader)
	members[0].srv.Load().stop() // SIGKILL
	members[2].srv.Load().stop()
	// The loss is felt: clients of the killed nodes move on to others.
	testkit.Eventually(t, time.Minute, func() bool { return retries.Load() > retriedBefore })
	cl.start(leader)
	start(members[0])
	start(members[2])
	during := acknowledged.Load() - before
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d batches acknowledged before the failures, %d while servers were down, %d after; %d retries",
		before, during, acknowledged.Load()-before-during, retries.Load())
	if acknowledged.Load()-before-during == 0 || before == 0 {
		t.Fatal("the failures did not come mid-ingest")
	}

	// Every node answers every account with the same bytes, and each
	// account counts each of its events once.
	want := len(members) * batches * perBatch
	for _, account := range accounts {
		base := "/operations/api/account/" + account + "/msgconversation?timeframe=60&v=1"
		var answers []string
		for _, query := range []string{base, base + "&skillIds=all&agentIds=all&interval=5", base + "&skillIds=all&agentIds=1,2&interval=30&percentiles=50,90,99.9&thresholds=1,2"} {
			testkit.Eventually(t, 30*time.Second, func() bool {
				answers = answers[:0]
				for _, m := range members {
					status, body := m.srv.Load().do(t, "GET", query, testToken, "")
					if status != 200 {
						return false
					}
					answers = append(answers, body)
				}
				for _, a := range answers[1:] {
					if a != answers[0] {
						return false
					}
				}
				return true
			})
			if query == base && convops.ShardOf(account, 2) == 1 {
				// A metric stream of it, opened on a node of the other
				// shard, carries the same answer.
				if got := firstStreamAnswer(t, members[0].srv.Load(), strings.Replace(query, "msgconversation?", "msgconversation/stream?", 1)); got != answers[0] {
					t.Errorf("stream of account %s through shard 0: %s, want %s", account, got, answers[0])
				}
			}
			if query == base {
				var res struct {
					MetricsTotals struct {
						Total int `json:"totalResolvedConversations"`
					} `json:"metricsTotals"`
				}
				if err := json.Unmarshal([]byte(answers[0]), &res); err != nil {
					t.Fatal(err)
				}
				expected := want
				if account == accounts[1] {
					expected += big
				}
				if res.MetricsTotals.Total != expected {
					t.Errorf("account %s counts %d conversations, want %d: %s", account, res.MetricsTotals.Total, expected, answers[0])
				}
			}
		}
	}
}

// TestShardWithoutNodes: a query of an account whose shard has no node is
// answered 503, in JSON, naming the shard, once --forward-timeout is up;
// the node's own accounts are answered meanwhile.
func TestShardWithoutNodes(t *testing.T) {
	url := startNATS(t)
	// A minute to wait for a node of the shard; NATS says at once that no
	// one listens, and the answer comes after a brief retry.
	s := startServer(t, "--data-dir", t.TempDir(), "--nats-url", url, "--shard", "0/2", "--forward-timeout", "1m")
	var own, other string
	for i := 0; own == "" || other == ""; i++ {
		a := strconv.Itoa(2000 + i)
		if convops.ShardOf(a, 2) == 0 {
			own = a
		} else {
			other = a
		}
	}
	began := time.Now()
	status, body := s.do(t, "GET", "/operations/api/account/"+other+"/msgconversation?timeframe=60&v=1", testToken, "")
	if status != 503 || !strings.Contains(body, `"code":503`) || !strings.Contains(body, "shard 1/2") {
		t.Errorf("a query of shard 1/2 without nodes: %d %s", status, body)
	}
	if waited := time.Since(began); waited > 30*time.Second {
		t.Errorf("the 503 came after %s, not before the minute of --forward-timeout", waited)
	}
	if status, body := s.do(t, "GET", "/operations/api/account/"+own+"/msgconversation?timeframe=60&v=1", testToken, ""); status != 200 {
		t.Errorf("a query of the node's own shard: %d %s", status, body)
	}
	// Bad parameters are refused by the node that takes the request.
	if status, body := s.do(t, "GET", "/operations/api/account/"+other+"/msgconversation?timeframe=0&v=1", testToken, ""); status != 400 {
		t.Errorf("bad parameters for another shard: %d %s", status, body)
	}
	// The metrics say what happened.
	_, metrics := s.do(t, "GET", "/metrics", "", "")
	for _, want := range []string{`convops_shard_requests_sent_total{op="query"} 1`, `convops_shard_requests_unanswered_total{op="query"} 1`,
		`convops_http_refused_total{cause="shard",status="503"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("no %s in /metrics", want)
		}
	}
}

// TestShardFlags: --shard is i/n with i < n, and needs an external NATS.
func TestShardFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--shard", "2/2", "--nats-url", "nats://127.0.0.1:1"},
		{"--shard", "1", "--nats-url", "nats://127.0.0.1:1"},
		{"--shard", "0/0", "--nats-url", "nats://127.0.0.1:1"},
		{"--shard", "0/3", "--nats-url", "nats://127.0.0.1:1"},
		{"--shard", "1/2"},
		{"--nats-replicas", "3"},
		{"--nats-tls-cert", "c.pem", "--nats-url", "nats://127.0.0.1:1"},
	} {
		m := &Main{Stdout: &testkit.Buffer{}, Stderr: &testkit.Buffer{}, Getenv: func(string) string { return "" }}
		if err := NewServeCommand(m).ParseFlags(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// firstStreamAnswer opens a metric stream and returns its first answer.
func firstStreamAnswer(t *testing.T, s *runningServer, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream %s: %d", path, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			return data
		}
	}
	t.Fatalf("stream %s ended without an answer: %v", path, sc.Err())
	return ""
}
