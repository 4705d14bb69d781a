package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

// TestCrashRecovery kills the server with SIGKILL at random moments while
// clients ingest, restarting it on the same data dir each time. The server
// writes snapshots all the time, and every other kill comes just after one
// was asked for, so that many kills fall in the middle of writing one.
// Clients retry every batch that did not get a 200 with the same eventIds.
// At the end every event is counted exactly once, and a replay of the whole
// log gives the same answer as the last snapshot and its tail.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the binary 20 times")
	}
	const (
		kills     = 20
		clients   = 4
		batchSize = 200
	)
	dataDir, keys := t.TempDir(), writeTestKeys(t)
	args := []string{"--data-dir", dataDir, "--keys", keys, "--now", testkit.NowText,
		"--snapshot-interval", "50ms", "--snapshot-events", "1"}

	var mu sync.Mutex // guards srv and acked
	srv := startBinary(t, args...)
	acked := make([]int, clients) // batches acknowledged per client
	current := func() string {
		mu.Lock()
		defer mu.Unlock()
		return srv.url
	}

	send := func(c, b int) bool {
		var events []string
		for i := range batchSize {
			events = append(events, fmt.Sprintf(`{"conversationId":"c%d-b%d-%d","agentId":%d,"resolvedBy":"CCP","resolvedAt":"2026-11-27T13:%02d:00Z","handlingTimeMs":%d}`,
				c, b, i, c, i%29, c+1))
		}
		req, _ := http.NewRequest("POST", current()+"/ingest/account/acme/events", strings.NewReader("["+strings.Join(events, ",")+"]"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				// Retry batch b until it is acknowledged; stop only between batches,
				// so that at the end every batch sent was acknowledged.
				for !send(c, b) {
					time.Sleep(10 * time.Millisecond)
				}
				mu.Lock()
				acked[c] = b + 1
				mu.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}

	r := rand.New(rand.NewPCG(1, 2))
	loaded, cut := 0, 0
	for k := range kills {
		time.Sleep(time.Duration(20+r.IntN(300)) * time.Millisecond)
		mu.Lock()
		old := srv
		mu.Unlock()
		if k%2 == 0 {
			old.cmd.Process.Signal(syscall.SIGUSR1)
			time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		}
		if err := old.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		old.cmd.Wait()
		next := startBinary(t, args...)
		if strings.Contains(next.startLog, "snapshot loaded") {
			loaded++
		}
		if strings.Contains(next.startLog, "snapshot cut short") {
			cut++
		}
		mu.Lock()
		srv = next
		mu.Unlock()
	}
	t.Logf("%d of %d starts loaded a snapshot; %d found one cut short by the kill", loaded, kills, cut)
	if loaded == 0 {
		t.Errorf("no start loaded a snapshot: the kills did not test them")
	}
	close(stop)
	wg.Wait()

	// Every batch sent was acknowledged (the last ones after the last restart).
	// Each client's events carry its agentId and handling time c+1, so a
	// double count shows in the totals and in each agent's numbers.
	total := 0
	for _, n := range acked {
		total += n * batchSize
	}
	get := func(url string) []byte {
		req, _ := http.NewRequest("GET", url+"/operations/api/account/acme/msgconversation?timeframe=60&v=1&agentIds=all&interval=5", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return body
	}
	last := get(current())
	var answer struct {
		AgentsMetrics struct {
			MetricsPerAgent map[string]map[string]float64
			MetricsTotals   map[string]float64
		}
	}
	if err := json.Unmarshal(last, &answer); err != nil {
		t.Fatal(err)
	}
	if got := int(answer.AgentsMetrics.MetricsTotals["totalResolvedConversations"]); got != total {
		t.Errorf("%d events acknowledged, %d counted", total, got)
	}
	for c, n := range acked {
		m := answer.AgentsMetrics.MetricsPerAgent[fmt.Sprint(c)]
		if int(m["totalResolvedConversations"]) != n*batchSize || int(m["totalHandlingTime_resolvedConversations"]) != n*batchSize*(c+1) {
			t.Errorf("client %d: %d batches acknowledged, agent reports %v", c, n, m)
		}
	}
	t.Logf("%d kills; %d events acknowledged and counted once", kills, total)

	// A replay of the whole log, without a snapshot, answers alike.
	mu.Lock()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	mu.Unlock()
	full := startBinary(t, append(args[:len(args)-4], "--snapshot-interval", "0")...)
	if replayed := get(full.url); string(replayed) != string(last) {
		t.Errorf("a whole replay answers otherwise than the snapshot and its tail:\n%s\n%s", replayed, last)
	}
}
