package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/convops/convops/bench"
)

// buildServer builds cmd/convops of the module the benchmark runs in.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "convops")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/convops/convops/cmd/convops")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the server (or pass --server): %v\n%s", err, out)
	}
	return bin, nil
}

// serverProcess is `convops serve` run as a process of its own.
type serverProcess struct {
	binary string
	args   []string
	logger *slog.Logger

	cmd    *exec.Cmd
	url    string
	exited chan error
	// snapshots receives the "snapshot written" lines of the server's log.
	snapshots chan string
}

var _ bench.Server = (*serverProcess)(nil)

// start runs the server and returns once it logs that it is ready, with the
// time from the start of the process.
func (s *serverProcess) start(ctx context.Context) (time.Duration, error) {
	s.cmd = exec.Command(s.binary, s.args...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	s.cmd.Stdout = io.Discard
	started := time.Now()
	if err := s.cmd.Start(); err != nil {
		return 0, err
	}
	s.exited = make(chan error, 1)
	s.snapshots = make(chan string, 16)
	addr := make(chan string, 1)
	ready := make(chan time.Duration, 1)
	go func() {
		// Read the log to the end, so that the server never blocks on it.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.Contains(line, "msg=listening"):
				addr <- field(line, "addr")
			case strings.Contains(line, `msg="convops ready"`):
				ready <- time.Since(started)
			case strings.Contains(line, `msg="snapshot written"`):
				select {
				case s.snapshots <- line:
				default:
				}
			case strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN"):
				s.logger.Warn("server: " + line)
			case strings.Contains(line, `msg="snapshot loaded"`) || strings.Contains(line, `msg="event log replayed"`) ||
				strings.Contains(line, `msg="snapshot written"`):
				s.logger.Info("server: " + line)
			}
		}
	}()
	go func() { s.exited <- s.cmd.Wait() }()
	for {
		select {
		case a := <-addr:
			s.url = "http://" + a
		case took := <-ready:
			return took, nil
		case err := <-s.exited:
			return 0, fmt.Errorf("the server stopped before it was ready: %v", err)
		case <-ctx.Done():
			s.cmd.Process.Kill()
			return 0, ctx.Err()
		case <-time.After(10 * time.Minute):
			s.cmd.Process.Kill()
			return 0, errors.New("the server was not ready after 10 minutes")
		}
	}
}

// field returns the value of key in a log line of slog's text format.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// stop stops the server gracefully (SIGTERM) and waits for it.
func (s *serverProcess) stop() error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	err := <-s.exited
	s.cmd = nil
	if err != nil {
		return fmt.Errorf("the server did not stop cleanly: %w", err)
	}
	return nil
}

// kill kills the server (SIGKILL) and waits for it.
func (s *serverProcess) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *serverProcess) URL() string { return s.url }

func (s *serverProcess) Restart(ctx context.Context, crash bool) (time.Duration, error) {
	if crash {
		s.kill()
	} else if err := s.stop(); err != nil {
		return 0, err
	}
	return s.start(ctx)
}

// Snapshot asks for a snapshot (SIGUSR1) and waits for the server to say it
// is written.
func (s *serverProcess) Snapshot(ctx context.Context) (bench.SnapshotInfo, error) {
	for len(s.snapshots) > 0 {
		<-s.snapshots // written before this was asked
	}
	info := bench.SnapshotInfo{Began: time.Now()}
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return info, err
	}
	select {
	case line := <-s.snapshots:
		info.Ended = time.Now()
		info.Bytes, _ = strconv.ParseInt(field(line, "bytes"), 10, 64)
		info.Took, _ = time.ParseDuration(field(line, "took"))
		info.LongestHold, _ = time.ParseDuration(field(line, "longestLockHeld"))
		return info, nil
	case <-time.After(10 * time.Minute):
		return info, errors.New("no snapshot written within 10 minutes")
	case <-ctx.Done():
		return info, ctx.Err()
	}
}

// Memory reads the process's resident set from /proc and its live heap
// from /metrics (a server without /metrics reports no heap).
func (s *serverProcess) Memory(ctx context.Context) (bench.Memory, error) {
	var m bench.Memory
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			m.RSS = kb * 1024
		}
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return m, nil
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_gc_heap_live_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			m.LiveHeap = int64(f)
		}
	}
	return m, sc.Err()
}
