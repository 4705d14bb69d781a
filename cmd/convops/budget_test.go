package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peakRSS reads the largest resident set a process has had, in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestRequestMemoryHasABound: 64 clients send 16 MiB ingest bodies at once
// to the real binary; the bytes held for requests stay within
// --max-inflight-bytes (the others get 429), so the process's peak
// resident memory stays under the budget plus a stated overhead.
func TestRequestMemoryHasABound(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1 GiB over loopback")
	}
	const budget = 256 << 20
	s := startBinary(t, "--data-dir", t.TempDir(), "--keys", writeTestKeys(t), "--max-inflight-bytes", strconv.Itoa(budget),
		"--max-inflight-per-account", "100")
	// 16 MiB of valid events, whose ids make them long.
	now := time.Now().UTC()
	var sb strings.Builder
	sb.WriteByte('[')
	for i := 0; sb.Len() < 16<<20-400; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"conversationId":"conversation-%09d-%s","resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":1}`,
			i, strings.Repeat("x", 100), now.UnixMilli())
	}
	sb.WriteByte(']')
	body := []byte(sb.String())
	before := peakRSS(t, s.cmd.Process.Pid)

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	cut := 0
	for c := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/ingest/account/acc%d/events", s.url, c), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// A refused body the server gave up draining: the
				// connection is closed under the upload.
				if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("client %d: %v", c, err)
					return
				}
				mu.Lock()
				cut++
				mu.Unlock()
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("answers %v, %d cut; peak resident memory %d MiB (%d MiB before), budget %d MiB", statuses, cut, peak>>20, before>>20, budget>>20)
	if statuses[200] == 0 || statuses[429]+cut == 0 || statuses[200]+statuses[429]+cut != 64 {
		t.Errorf("answers %v, %d cut: want some accepted, the others refused with 429", statuses, cut)
	}
	if resp, err := http.Get(s.url + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after the flood: /readyz %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The bound, loosely: the budget, what the collector lets the heap grow
	// to beyond it (GOGC 50: half of it), and the process itself.
	if limit := before + budget*3/2 + 200<<20; peak > limit {
		t.Errorf("peak resident memory %d MiB, over %d MiB", peak>>20, limit>>20)
	}
}

// TestLivePersonPagesHaveABound: pages of LivePerson records built to
// weigh most once decoded (one closed record whose lists hold millions of
// empty objects, two bytes each), sent three at once to the real binary,
// keep its peak resident memory within the budget and the same stated
// overhead as ingest bodies.
func TestLivePersonPagesHaveABound(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 48 MiB over loopback")
	}
	const budget = 256 << 20
	s := startBinary(t, "--data-dir", t.TempDir(), "--keys", writeTestKeys(t), "--max-inflight-bytes", strconv.Itoa(budget))
	end := time.Now().Add(-time.Minute).UnixMilli()
	elements := strings.Repeat("{},", (16<<20-300)/6)
	page := []byte(fmt.Sprintf(`{"conversationHistoryRecords":[{"info":{"conversationId":"c","status":"CLOSE","endTimeL":%d,"closeReason":"AGENT","latestAgentId":"42"},`+
		`"interactions":[%s{}],"agentParticipants":[%s{}]}]}`, end, elements, elements))
	before := peakRSS(t, s.cmd.Process.Pid)
	var wg sync.WaitGroup
	statuses := make([]int, 3)
	for c := range statuses {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/ingest/account/lp%d/liveperson/conversations", s.url, c), bytes.NewReader(page))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("page %d: %v", c, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[c] = resp.StatusCode
		})
	}
	wg.Wait()
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("answers %v; peak resident memory %d MiB (%d MiB before), budget %d MiB", statuses, peak>>20, before>>20, budget>>20)
	accepted := 0
	for c, status := range statuses {
		if status != 200 && status != 429 {
			t.Errorf("page %d: %d, want 200 (or 429 while the others hold the budget)", c, status)
		}
		if status == 200 {
			accepted++
		}
	}
	if accepted == 0 {
		t.Error("no page was taken: the bound is met by refusing everything")
	}
	if limit := before + budget*3/2 + 200<<20; peak > limit {
		t.Errorf("peak resident memory %d MiB, over %d MiB", peak>>20, limit>>20)
	}
}

// TestIdleConnectionsCannotTakeTheServer: the binary, run with few file
// descriptors, is sent more connections than it has descriptors, each
// left idle after one /healthz: the oldest idle ones that never
// authenticated make room, and a client with a key is served. Its log says
// the descriptor limit was raised to the hard one.
func TestIdleConnectionsCannotTakeTheServer(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit (util-linux) to start the server with few descriptors")
	}
	s := startBinaryUnder(t, []string{prlimit, "--nofile=100:300"}, "--data-dir", t.TempDir(), "--keys", writeTestKeys(t),
		"--max-connections-per-address", "0")
	if !strings.Contains(s.startLog, "openFilesLimit=300") || !strings.Contains(s.startLog, "max=225") {
		t.Errorf("the start does not say the limit was raised to 300 and connections bound to 225:\n%s", s.startLog)
	}
	addr := strings.TrimPrefix(s.url, "http://")
	healthy := 0
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil && resp.StatusCode == 200 {
			healthy++
		}
	}
	if healthy != 400 {
		t.Errorf("%d of 400 /healthz answered: each new connection should find room", healthy)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", s.url+"/operations/api/account/1/msgconversation?timeframe=60&v=1", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("a query beside 400 idle connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a query beside 400 idle connections: %d", resp.StatusCode)
	}
}
