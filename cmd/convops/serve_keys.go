package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/eventlog"
)

// openKeys reads the keys file, creating it with one all-accounts key when it
// is missing; the new key's token is printed once, on standard output.
func (c *ServeCommand) openKeys() (*auth.Keyring, error) {
	if c.KeysPath == "" {
		c.KeysPath = filepath.Join(c.DataDir, "keys.json")
	}
	token, err := auth.CreateDefaultFile(c.KeysPath)
	if err != nil {
		return nil, err
	}
	if token != "" {
		fmt.Fprintf(c.main.Stdout, "Created %s with key \"admin\" (all accounts, read and write).\n"+
			"Its bearer token is shown only now; keep it safe:\n\n  %s\n\n", c.KeysPath, token)
	}
	// The version read is the one the watch starts from.
	f, version, err := auth.ReadFileIfChanged(c.KeysPath, auth.Version{})
	if err != nil {
		return nil, err
	}
	c.keysSeen = version
	// Signed requests wait for the log's nonce bucket (SetNonces).
	return auth.NewKeyring(f, auth.Options{PublicURL: c.PublicURL, RequireBodyHash: c.RequireBodyHash, SignedPerKey: c.SignedPerKey, Nonces: noNoncesYet{}})
}

// noNoncesYet refuses signed requests (503) until the event log is open.
type noNoncesYet struct{}

func (noNoncesYet) Use(context.Context, string) (bool, error) {
	return false, errors.New("the event log is not open yet")
}

// opening opens the log's nonce bucket beside the start: on a cluster
// that has lost the server leading it, the bucket answers only once its
// servers have elected another, which must not hold the node's start (its
// queries, bearer requests, and ingest need no nonce). Signed requests get
// 503 until it is open.
type opening struct {
	cancel context.CancelFunc
	done   chan struct{}
	nonces atomic.Pointer[eventlog.Nonces]
}

// noncesWait is how long the start waits for the nonce bucket before the
// node says it is ready without it.
const noncesWait = 5 * time.Second

// openNonces opens the nonce bucket, trying again until ctx is done or
// stop is called, and hands it to keyring once open.
func (c *ServeCommand) openNonces(ctx context.Context, log *eventlog.Log, keyring *auth.Keyring) *opening {
	o := &opening{done: make(chan struct{})}
	ctx, o.cancel = context.WithCancel(ctx)
	go func() {
		defer close(o.done)
		for ctx.Err() == nil {
			n, err := log.Nonces(ctx, auth.NonceWindow)
			if err == nil {
				o.nonces.Store(n)
				keyring.SetNonces(logNonces{n})
				return
			}
			if ctx.Err() == nil {
				c.logger.Error("the nonce bucket cannot be opened; signed requests get 503 until it is", "err", err)
			}
		}
	}()
	return o
}

// awaitBriefly waits at most noncesWait for the bucket.
func (o *opening) awaitBriefly(logger *slog.Logger) {
	select {
	case <-o.done:
	case <-time.After(noncesWait):
		logger.Warn("the nonce bucket is not open yet; signed requests get 503 until it is")
	}
}

// stop ends the opening, and waits for it.
func (o *opening) stop() {
	o.cancel()
	<-o.done
}

// usage is the bucket's Usage, once it is open.
func (o *opening) usage(ctx context.Context) (used, limit uint64, err error) {
	n := o.nonces.Load()
	if n == nil {
		return 0, 0, errors.New("the nonce bucket is not open yet")
	}
	return n.Usage(ctx)
}

// logNonces keeps the nonces of signed requests in the event log's NATS.
type logNonces struct{ n *eventlog.Nonces }

func (l logNonces) Use(ctx context.Context, digest string) (bool, error) {
	fresh, err := l.n.Use(ctx, digest)
	if errors.Is(err, eventlog.ErrNoncesFull) {
		err = auth.ErrNoncesFull
	}
	return fresh, err
}
