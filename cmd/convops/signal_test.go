package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

// TestSIGTERMDuringIngest runs the real binary, sends SIGTERM while clients
// ingest, and expects exit code 0 and every acknowledged event after a restart.
func TestSIGTERMDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dataDir, keys := t.TempDir(), writeTestKeys(t)
	args := []string{"--data-dir", dataDir, "--keys", keys, "--now", testkit.NowText}
	srv := startBinary(t, args...)
	cmd, url := srv.cmd, srv.url

	var mu sync.Mutex
	acknowledged := 0
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				var events []string
				for i := range 100 {
					events = append(events, fmt.Sprintf(`{"conversationId":"c%d-%d-%d","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1}`, c, b, i))
				}
				req, _ := http.NewRequest("POST", url+"/ingest/account/acme/events", strings.NewReader("["+strings.Join(events, ",")+"]"))
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server has stopped listening
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acknowledged += len(events)
					mu.Unlock()
				}
			}
		}()
	}
	// SIGTERM once ingest is going (some batch acknowledged).
	testkit.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return acknowledged > 0
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	wg.Wait()
	if acknowledged == 0 {
		t.Fatal("no batch was acknowledged before SIGTERM")
	}

	url = startBinary(t, args...).url
	req, _ := http.NewRequest("GET", url+"/operations/api/account/acme/msgconversation?timeframe=60&v=1", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`"totalResolvedConversations":(\d+)`).FindSubmatch(body)
	var counted int
	fmt.Sscan(string(m[1]), &counted)
	// Batches cut off by the stop may be stored without an acknowledgement, so
	// more may be counted than acknowledged, never fewer.
	if counted < acknowledged {
		t.Errorf("%d events acknowledged, %d counted after restart", acknowledged, counted)
	}
	t.Logf("%d acknowledged, %d counted", acknowledged, counted)
}
