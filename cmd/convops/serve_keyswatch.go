package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/convops/convops/auth"
)

// watchKeys reloads the keys file when it changes, seen by a read of it
// every interval (0: never), and at once on SIGHUP. seen is the version the
// keyring was made from. A file that cannot be read or is not valid leaves
// the keys in force as they were, with one log line saying why, until it
// changes again. Editing the file with `convops keys` is all an operator
// does: no signal to find a process by.
func (c *ServeCommand) watchKeys(k *auth.Keyring, seen auth.Version, interval time.Duration) (stop func()) {
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
			why, since := "the file changed", seen
			select {
			case <-hup:
				why, since = "SIGHUP", auth.Version{} // read whatever it holds
			case <-tick:
			case <-done:
				return
			}
			f, now, err := auth.ReadFileIfChanged(c.KeysPath, since)
			seen = now
			switch {
			case err != nil:
				c.logger.Error("keys not reloaded; the previous keys stay in force", "path", c.KeysPath, "why", why, "err", err)
			case f != nil:
				k.Replace(f)
				c.logger.Info("keys reloaded", "path", c.KeysPath, "why", why, "keys", len(f.Keys))
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		ticker.Stop()
		close(done)
		<-exited
	}
}
