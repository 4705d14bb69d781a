package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convops/convops/internal/testkit"
)

// fillLog ingests batches of one event each, so the log holds that many
// messages, and stops the server gracefully.
func fillLog(t *testing.T, dataDir, keys string, batches int) {
	t.Helper()
	s := startServer(t, "--data-dir", dataDir, "--keys", keys, "--now", testkit.NowText)
	for i := range batches {
		body := fmt.Sprintf(`[{"conversationId":"c%d","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:00:00Z","handlingTimeMs":1}]`, i)
		if status, out := s.do(t, "POST", "/ingest/account/acme/events", testToken, body); status != 200 {
			t.Fatalf("ingest: %d %s", status, out)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// blockFile returns the data file of the event stream.
func blockFile(t *testing.T, dataDir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "jetstream", "*", "streams", "CONVOPS_EVENTS", "msgs", "*.blk"))
	if len(files) != 1 {
		t.Fatalf("stream files: %v", files)
	}
	return files[0]
}

// binaryError runs the convops binary, which must exit with an error; the
// error's text is what it printed.
func binaryError(t *testing.T, args ...string) error {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the server exited cleanly:\n%s", out)
	}
	return errors.New(string(out))
}

func TestDamagedLogIsRefused(t *testing.T) {
	cases := []struct {
		name       string
		damage     func(t *testing.T, blk string)
		refusal    string
		acceptable bool // --accept-log-loss can start on what is left
		binary     bool // run the binary: the damage leaves a runaway goroutine behind
	}{
		{"truncated block file", func(t *testing.T, blk string) {
			data, _ := os.ReadFile(blk)
			os.WriteFile(blk, data[:len(data)/2], 0o600)
		}, "--accept-log-loss", true, false},
		{"block file removed", func(t *testing.T, blk string) {
			os.RemoveAll(filepath.Dir(filepath.Dir(blk)))
		}, "--accept-log-loss", true, false},
		// The store keeps a message whose checksum fails but never delivers
		// it; the replay stalls and the server gives up.
		{"the last message damaged", func(t *testing.T, blk string) {
			data, _ := os.ReadFile(blk)
			data[len(data)-20] ^= 0xff
			os.WriteFile(blk, data, 0o600)
		}, "replay stopped after sequence 39 of 40", false, false},
		// A changed sequence number inside the block makes the store's restore
		// run away; the server gives up after --log-start-timeout.
		{"flipped byte in a record header", func(t *testing.T, blk string) {
			data, _ := os.ReadFile(blk)
			data[len(data)/2] ^= 0xff
			os.WriteFile(blk, data, 0o600)
		}, "did not open within 5s: its files may be damaged", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataDir, keys := t.TempDir(), writeTestKeys(t)
			fillLog(t, dataDir, keys, 40)
			tc.damage(t, blockFile(t, dataDir))
			// Without a snapshot, the whole log is read back at start, and
			// the damage is found wherever it is (see TestSnapshotCoversDamage).
			args := []string{"--data-dir", dataDir, "--keys", keys, "--now", testkit.NowText, "--snapshot-interval", "0"}

			var err error
			if tc.binary {
				err = binaryError(t, append(args, "--log-start-timeout", "5s")...)
			} else {
				// Time enough for an embedded server built with -race to
				// open on a slow machine; a stalled replay waits it out.
				timeout := "30s"
				if strings.Contains(tc.refusal, "replay stopped") {
					timeout = "10s"
				}
				_, err = serveError(t, append(args, "--log-start-timeout", timeout)...)
			}
			if err == nil || !strings.Contains(err.Error(), tc.refusal) {
				t.Fatalf("want a refusal that explains the damage (%q), got %v", tc.refusal, err)
			}
			if !tc.acceptable {
				return
			}

			// With --accept-log-loss it starts, says so, and serves what is left.
			s := startServer(t, append(args, "--accept-log-loss")...)
			if !strings.Contains(s.logs.String(), "starting on a damaged event log") {
				t.Errorf("no log line about the damage:\n%s", s.logs)
			}
			status, body := s.do(t, "GET", "/operations/api/account/acme/msgconversation?timeframe=60&v=1", testToken, "")
			if status != 200 || strings.Contains(body, `"totalResolvedConversations":40,`) {
				t.Errorf("after accepting the loss: %d %s", status, body)
			}
			// The mark now follows the damaged log: the next start is clean.
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			startServer(t, args...)
		})
	}
}

func TestUnreadableMarkIsOnlyAWarning(t *testing.T) {
	dataDir, keys := t.TempDir(), writeTestKeys(t)
	fillLog(t, dataDir, keys, 3)
	os.WriteFile(filepath.Join(dataDir, "log-mark.json"), []byte("{garbage"), 0o600)
	s := startServer(t, "--data-dir", dataDir, "--keys", keys, "--now", testkit.NowText)
	if !strings.Contains(s.logs.String(), "log mark unreadable") {
		t.Errorf("no warning:\n%s", s.logs)
	}
	if _, body := s.do(t, "GET", "/operations/api/account/acme/msgconversation?timeframe=60&v=1", testToken, ""); !strings.Contains(body, `"totalResolvedConversations":3,`) {
		t.Errorf("got %s", body)
	}
}

// TestSnapshotAndDamagedLog: a damaged message that the snapshot covers is
// not read at start: the server starts from the snapshot and serves every
// event (a node without that snapshot would refuse to start). A log that
// lost messages, started with --accept-log-loss, drops the snapshot taken
// before the loss: the numbers follow what is left of the log, as another
// node's would.
func TestSnapshotAndDamagedLog(t *testing.T) {
	t.Run("damage the snapshot covers", func(t *testing.T) {
		dataDir, keys := t.TempDir(), writeTestKeys(t)
		fillLog(t, dataDir, keys, 40)
		blk := blockFile(t, dataDir)
		data, _ := os.ReadFile(blk)
		data[len(data)-20] ^= 0xff
		os.WriteFile(blk, data, 0o600)
		s := startServer(t, "--data-dir", dataDir, "--keys", keys, "--now", testkit.NowText)
		if !strings.Contains(s.logs.String(), "snapshot loaded") {
			t.Errorf("no snapshot loaded:\n%s", s.logs)
		}
		if _, body := s.do(t, "GET", "/operations/api/account/acme/msgconversation?timeframe=60&v=1", testToken, ""); !strings.Contains(body, `"totalResolvedConversations":40,`) {
			t.Errorf("from the snapshot: %s", body)
		}
	})
	t.Run("messages lost", func(t *testing.T) {
		dataDir, keys := t.TempDir(), writeTestKeys(t)
		fillLog(t, dataDir, keys, 40)
		blk := blockFile(t, dataDir)
		data, _ := os.ReadFile(blk)
		os.WriteFile(blk, data[:len(data)/2], 0o600)
		s := startServer(t, "--data-dir", dataDir, "--keys", keys, "--now", testkit.NowText, "--accept-log-loss")
		if !strings.Contains(s.logs.String(), "snapshot dropped") {
			t.Errorf("the snapshot was not dropped:\n%s", s.logs)
		}
		if _, body := s.do(t, "GET", "/operations/api/account/acme/msgconversation?timeframe=60&v=1", testToken, ""); strings.Contains(body, `"totalResolvedConversations":40,`) {
			t.Errorf("the lost events are still counted: %s", body)
		}
	})
}
