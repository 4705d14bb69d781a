package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/convops/convops/internal/testkit"
)

// ingestBatch sends n events with ids prefix-i and returns the answer.
func ingestBatch(t *testing.T, s *runningServer, prefix string, n int) (int, string) {
	t.Helper()
	var events []string
	for i := range n {
		events = append(events, fmt.Sprintf(`{"conversationId":"%s-%d","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1}`, prefix, i))
	}
	return s.do(t, "POST", "/ingest/account/acme/events", testToken, "["+strings.Join(events, ",")+"]")
}

// TestDiskReserve: below the free-space reserve ingest answers 503 (JSON) at
// once and stores nothing, while queries keep working.
func TestDiskReserve(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--now", testkit.NowText, "--min-free-disk-mb", "1000000000")
	status, body := ingestBatch(t, s, "a", 10)
	if status != 503 || !strings.Contains(body, `"code":503`) || !strings.Contains(body, "disk is full") {
		t.Errorf("ingest: %d %s", status, body)
	}
	status, body = s.do(t, "GET", "/operations/api/account/acme/msgconversation?timeframe=60&v=1", testToken, "")
	if status != 200 || !strings.Contains(body, `"totalResolvedConversations":0,`) {
		t.Errorf("query: %d %s", status, body)
	}
}

// TestFullDisk fills a small tmpfs holding the data dir: ingest is refused
// with 503 while the disk is full, queries keep working, and ingest resumes
// once space is freed. It needs root to mount the tmpfs.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })

	s := startServer(t, "--data-dir", dir, "--now", testkit.NowText, "--min-free-disk-mb", "2")
	if status, body := ingestBatch(t, s, "before", 1000); status != 200 {
		t.Fatalf("ingest with space: %d %s", status, body)
	}
	// Leave about 1 MiB free: under the 2 MiB reserve.
	var st syscall.Statfs_t
	syscall.Statfs(dir, &st)
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, make([]byte, int64(st.Bavail)*int64(st.Bsize)-(1<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10e9, func() bool {
		status, body := ingestBatch(t, s, "full", 1000)
		if status == 200 {
			return false // the guard reads the file system at most every 250 ms
		}
		if status != 503 || !strings.Contains(body, "disk is full") {
			t.Fatalf("ingest on a full disk: %d %s", status, body)
		}
		return true
	})
	query := "/operations/api/account/acme/msgconversation?timeframe=60&v=1"
	if status, body := s.do(t, "GET", query, testToken, ""); status != 200 {
		t.Errorf("query on a full disk: %d %s", status, body)
	}

	os.Remove(junk)
	testkit.Eventually(t, 10e9, func() bool {
		status, _ := ingestBatch(t, s, "after", 1000)
		return status == 200
	})
	_, body := s.do(t, "GET", query, testToken, "")
	if !strings.Contains(body, `"totalResolvedConversations":2000,`) && !strings.Contains(body, `"totalResolvedConversations":3000,`) {
		t.Errorf("after freeing space: %s", body)
	}
}
