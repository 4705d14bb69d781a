package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/internal/natsprocs"
	"github.com/convops/convops/internal/testkit"
)

// buildNATSServer compiles nats-server once per test binary, beside the
// convops binary.
var buildNATSServer = sync.OnceValues(func() (string, error) {
	if _, err := buildBinary(); err != nil { // makes binDir, which TestMain removes
		return "", err
	}
	return natsprocs.Build(context.Background(), binDir)
})

// retryingClient ingests one event a request into a node, each request
// sent again until it gets a 200, and notes when each 200 came.
type retryingClient struct {
	mu    sync.Mutex
	acked []time.Time
	stop  chan struct{}
	done  chan struct{}
}

func startRetryingClient(t *testing.T, url func() string) *retryingClient {
	c := &retryingClient{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 30 * time.Second}
	go func() {
		defer close(c.done)
		for i := 0; ; i++ {
			body := fmt.Sprintf(`[{"conversationId":"killed-%d","resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":1000}]`, i, time.Now().UnixMilli())
			for {
				select {
				case <-c.stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", url()+"/ingest/account/acct/events", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						c.mu.Lock()
						c.acked = append(c.acked, time.Now())
						c.mu.Unlock()
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(c.end)
	return c
}

// end stops the client once its request in flight is answered.
func (c *retryingClient) end() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *retryingClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

// firstAfter is how long after at the first 200 came, once one has.
func (c *retryingClient) firstAfter(at time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.acked {
		if a.After(at) {
			return a.Sub(at), true
		}
	}
	return 0, false
}

// TestNATSServerKilled: three nats-server processes; the one that leads
// the cluster's JetStream (the meta leader) is killed with SIGKILL while a
// client ingests through a node, retrying; while it is down a second node
// is killed too, and starts again, from its snapshot and the log, on the
// two servers left. Then the server leading the event stream is killed.
// Every acknowledged event is counted once by both nodes at the end. How
// long the client went without a 200 after each loss is logged (the target
// is 5 s; the benchmark's cluster profile measures it too).
func TestNATSServerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs three")
	}
	bin, err := buildNATSServer()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cl, err := natsprocs.Start(ctx, bin, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Stop)
	keys := writeTestKeys(t)
	args := func(dir string) []string {
		return []string{"--data-dir", dir, "--keys", keys, "--nats-url", cl.URLs(), "--snapshot-events", "50"}
	}
	a := startBinary(t, args(t.TempDir())...)
	bDir := t.TempDir()
	b := startBinary(t, args(bDir)...)

	client := startRetryingClient(t, func() string { return a.url })
	waitAcks := func(n int) {
		t.Helper()
		testkit.Eventually(t, time.Minute, func() bool { return client.count() >= n })
	}
	waitAcks(50)

	// The meta leader alone: the loss of the stream's leader comes next.
	if err := cl.SeparateLeaders(ctx, eventlog.StreamName); err != nil {
		t.Fatal(err)
	}
	leader, err := cl.MetaLeader()
	if err != nil {
		t.Fatal(err)
	}
	streamLeader, _ := cl.StreamLeader(ctx, eventlog.StreamName)
	killed := time.Now()
	cl.Kill(cl.Index(leader))
	t.Logf("killed the meta leader %s (the stream's leader was %s)", leader, streamLeader)
	// A node killed and started again while that server is down.
	b.cmd.Process.Kill()
	b.cmd.Wait()
	restarted := time.Now()
	b = startBinary(t, args(bDir)...)
	t.Logf("a node killed and started again with the meta leader down: ready in %s", time.Since(restarted).Round(time.Millisecond))
	testkit.Eventually(t, time.Minute, func() bool { _, ok := client.firstAfter(killed); return ok })
	gap, _ := client.firstAfter(killed)
	t.Logf("the meta leader lost: the first 200 came %s after", gap.Round(time.Millisecond))
	if err := cl.StartServer(ctx, cl.Index(leader)); err != nil {
		t.Fatal(err)
	}
	waitAcks(client.count() + 50)

	streamLeader, err = cl.StreamLeader(ctx, eventlog.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	killed = time.Now()
	cl.Kill(cl.Index(streamLeader))
	testkit.Eventually(t, time.Minute, func() bool { _, ok := client.firstAfter(killed); return ok })
	gap, _ = client.firstAfter(killed)
	t.Logf("the stream's leader %s lost: the first 200 came %s after", streamLeader, gap.Round(time.Millisecond))
	if err := cl.StartServer(ctx, cl.Index(streamLeader)); err != nil {
		t.Fatal(err)
	}
	waitAcks(client.count() + 20)
	client.end()

	want := fmt.Sprintf(`"totalResolvedConversations":%d,`, client.count())
	for name, node := range map[string]*binaryServer{"a": a, "b": b} {
		var body string
		testkit.Eventually(t, time.Minute, func() bool {
			body = binaryGet(t, node.url+"/operations/api/account/acct/msgconversation?timeframe=60&v=1")
			return strings.Contains(body, want)
		})
		if !strings.Contains(body, want) {
			t.Errorf("node %s: %s, want %s", name, body, want)
		}
	}
}

// binaryGet asks the binary with the test's token and returns the body.
func binaryGet(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	return readAll(resp)
}
