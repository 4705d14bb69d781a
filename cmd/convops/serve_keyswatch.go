package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/convops/convops/auth"
)

// keysState is what the keys file held when it was last looked at: the
// digest of its bytes, mode, owner and group, or of the error that kept it
// from being read.
type keysState [sha256.Size]byte

// lookAtKeys returns the keys file's state. Its mode, owner and group are
// part of it: a file made readable by others is refused, and made private
// again (or given the server's group), taken.
func lookAtKeys(path string) keysState {
	h := sha256.New()
	err := func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s", info.Mode())
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(h, " %d:%d", st.Uid, st.Gid)
		}
		h.Write([]byte{0})
		_, err = io.Copy(h, f)
		return err
	}()
	if err != nil {
		h.Reset()
		h.Write([]byte("error\x00" + err.Error()))
	}
	var st keysState
	h.Sum(st[:0])
	return st
}

// watchKeys reloads the keys file when it changes, seen by a look at its
// bytes every interval (0: never), and at once on SIGHUP. A file that cannot
// be read or is not valid leaves the keys in force as they were, with one
// log line saying why, until it changes again. Editing the file with
// `convops keys` is all an operator does: no signal to find a process by.
func (c *ServeCommand) watchKeys(k *auth.Keyring, seen keysState, interval time.Duration) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var tick <-chan time.Time
	ticker := time.NewTicker(time.Hour)
	if interval > 0 {
		ticker.Reset(interval)
		tick = ticker.C
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			var why string
			select {
			case <-hup:
				why = "SIGHUP"
			case <-tick:
				why = "the file changed"
			case <-done:
				return
			}
			now := lookAtKeys(c.KeysPath)
			if why != "SIGHUP" && bytes.Equal(now[:], seen[:]) {
				continue
			}
			seen = now
			f, err := auth.ReadFile(c.KeysPath)
			if err != nil {
				c.logger.Error("keys not reloaded; the previous keys stay in force", "path", c.KeysPath, "why", why, "err", err)
				continue
			}
			k.Replace(f)
			c.logger.Info("keys reloaded", "path", c.KeysPath, "why", why, "keys", len(f.Keys))
		}
	}()
	return func() {
		signal.Stop(hup)
		ticker.Stop()
		close(done)
		<-exited
	}
}
