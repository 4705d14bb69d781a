package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/convops/convops/node"
)

// snapshotOnSIGUSR1 asks for a snapshot on SIGUSR1 (before maintenance,
// or to measure one).
func snapshotOnSIGUSR1(n *node.Node, logger *slog.Logger) (stop func()) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-usr1:
				logger.Info("snapshot asked for (SIGUSR1)")
				n.SnapshotNow()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(usr1)
		close(done)
	}
}

// lockDataDir takes an exclusive lock on the data directory so that two
// servers never write one event log.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another convops server", dir)
	}
	return func() { f.Close() }, nil
}
