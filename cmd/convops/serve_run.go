package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/cluster"
	"github.com/convops/convops/connlimit"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/node"
	"github.com/convops/convops/store"
	"github.com/convops/convops/telemetry"
	"github.com/convops/convops/web"
)

// Run serves until ctx is done, then stops gracefully: requests in flight
// finish, and nothing acknowledged is lost (acknowledged events are already
// durable in the log). Its steps are prepare, open, build and serve; what
// each sets up is undone, in the opposite order, on one path.
func (c *ServeCommand) Run(ctx context.Context) error {
	var s serving
	err := c.run(ctx, &s)
	s.undo()
	if s.stopping {
		c.logger.Info("stopped")
	}
	return err
}

func (c *ServeCommand) run(ctx context.Context, s *serving) error {
	if err := c.prepare(s); err != nil {
		return err
	}
	if err := c.open(ctx, s); err != nil {
		return err
	}
	if err := c.build(s); err != nil {
		return err
	}
	return c.serve(ctx, s)
}

// serving is what a run of the server holds, step by step.
type serving struct {
	now     func() time.Time
	keyring *auth.Keyring
	ln      *connlimit.Listener
	st      *store.Store
	log     *eventlog.Log
	nonces  *opening
	peers   *cluster.Peers
	metrics *telemetry.Registry
	n       *node.Node
	api     *httpapi.Server
	srv     *http.Server

	// undos are run by undo, last first.
	undos []func()
	// stopping says the server began to stop gracefully.
	stopping bool
}

// later adds fn to what undo runs.
func (s *serving) later(fn func()) { s.undos = append(s.undos, fn) }

// undo undoes what the steps set up, last first.
func (s *serving) undo() {
	for i := len(s.undos) - 1; i >= 0; i-- {
		s.undos[i]()
	}
}

// prepare sets up what the server needs before it opens anything: its
// logger and collector, its data directory (locked), its keys, and its
// listener, which opens before the replay so that /healthz and /readyz
// answer while the log is replayed.
func (c *ServeCommand) prepare(s *serving) error {
	c.logger = slog.New(slog.NewTextHandler(c.main.Stderr, nil))
	// The heap is mostly arrays without pointers (running totals, the dedupe
	// index), which cost the collector little: collecting when it has grown
	// by half instead of doubled keeps the process a quarter smaller for a
	// few percent of a core. GOGC in the environment overrides this.
	if c.main.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	var err error
	if s.now, err = c.clock(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// A directory made here is the owner's alone; one that was there may
	// not be: its event log holds every account's data.
	if info, err := os.Stat(c.DataDir); err == nil && info.Mode().Perm()&0o077 != 0 {
		c.logger.Warn("the data directory can be read by others: it holds every account's events (and, by default, the keys file); run chmod 700 on it",
			"dir", c.DataDir, "mode", fmt.Sprintf("%04o", info.Mode().Perm()))
	}
	unlock, err := lockDataDir(c.DataDir)
	if err != nil {
		return err
	}
	s.later(unlock)
	if s.keyring, err = c.openKeys(); err != nil {
		return err
	}
	s.later(c.watchKeys(s.keyring, c.keysSeen, c.KeysCheckInterval))
	if s.ln, err = c.listen(); err != nil {
		return err
	}
	s.later(func() { s.ln.Close() })
	c.mu.Lock()
	c.addr = s.ln.Addr()
	c.mu.Unlock()
	return nil
}

// open loads the snapshot while it opens the event log, the nonce bucket
// and, when sharded, the nodes of the other shards; and makes the node.
func (c *ServeCommand) open(ctx context.Context, s *serving) error {
	s.st = store.New(store.Options{MaxSkillsPerAccount: c.MaxSkillsPerAccount, MaxAgentsPerAccount: c.MaxAgentsPerAccount})
	// A node of one shard holds only its accounts: its snapshot is of
	// that shard, and another --shard starts from the log.
	snapshotName := "snapshot.bin"
	if c.shard.Sharded() {
		snapshotName = fmt.Sprintf("snapshot-shard-%d-of-%d.bin", c.shard.Index, c.shard.Count)
	}
	snapshotPath := filepath.Join(c.DataDir, snapshotName)
	var preload *node.Preload
	if c.SnapshotInterval == 0 {
		snapshotPath = ""
		os.Remove(filepath.Join(c.DataDir, snapshotName)) // an old one would miss what comes next
	} else {
		preload = node.PreloadSnapshot(snapshotPath, s.st)
	}
	var err error
	s.log, err = eventlog.Open(ctx, eventlog.Options{
		DataDir: c.DataDir, URL: c.NATSURL, Replicas: c.NATSReplicas,
		Creds: c.NATSCreds, TLSCA: c.NATSTLSCA, TLSCert: c.NATSTLSCert, TLSKey: c.NATSTLSKey,
		Shard: c.shard, Logger: c.logger, StartTimeout: c.LogStartTimeout,
		MinFreeBytes: max(c.MinFreeDiskMB<<20, -1),
	})
	if err != nil {
		return err
	}
	s.later(func() {
		if err := s.log.Close(); err != nil {
			c.logger.Error("closing the event log", "err", err)
		}
	})
	s.nonces = c.openNonces(ctx, s.log, s.keyring)
	s.later(s.nonces.stop)
	if c.shard.Sharded() {
		if s.peers, err = cluster.New(s.log.Conn(), c.shard, c.logger); err != nil {
			return err
		}
		s.later(func() {
			if err := s.peers.Close(); err != nil {
				c.logger.Error("closing the cluster's requests", "err", err)
			}
		})
	}
	s.n = node.New(s.log, s.st, node.Options{
		Logger:           c.logger,
		MarkPath:         filepath.Join(c.DataDir, "log-mark.json"),
		AcceptLoss:       c.AcceptLogLoss,
		StallTimeout:     c.LogStartTimeout,
		Clock:            c.Clock,
		SnapshotPath:     snapshotPath,
		SnapshotInterval: c.SnapshotInterval,
		SnapshotEvents:   c.SnapshotEvents,
		Preload:          preload,
		Shard:            c.shard,
		Peers:            nodePeers(s.peers),
	})
	s.later(func() {
		if err := s.n.Close(); err != nil {
			c.logger.Error("stopping the node", "err", err)
		}
	})
	return nil
}

// build makes the metrics, the HTTP API and its server.
func (c *ServeCommand) build(s *serving) error {
	s.metrics = telemetry.New()
	s.metrics.WatchConnections(s.ln.Stats)
	s.metrics.WatchStore(s.st)
	s.metrics.WatchSignedRequests(s.keyring.SignedRefused, s.nonces.usage)
	s.metrics.WatchNode(s.n)
	if s.peers != nil {
		s.metrics.WatchPeers(s.peers)
	}
	observer := s.metrics.WatchHTTP(func() httpapi.StreamStats { return s.api.StreamStats() })
	allowed, warn := httpapi.AllowedHosts(s.ln.Addr(), append(splitList(c.AllowedHosts), c.certificateHosts()...))
	if warn != nil && c.PublicURL == "" {
		c.logger.Warn(warn.Error())
	}
	s.api = httpapi.New(httpapi.Options{
		Backend:                 s.n,
		Auth:                    s.keyring,
		Now:                     s.now,
		Logger:                  c.logger,
		PublicURL:               c.PublicURL,
		AllowedHosts:            allowed,
		MaxInflightPerAccount:   c.MaxInflightPerAccount,
		MaxInflightBytes:        c.MaxInflightBytes,
		MaxUnauthenticatedBytes: c.MaxUnauthenticatedBytes,
		MaxStreams:              c.MaxStreams,
		MaxStreamsPerAccount:    c.MaxStreamsPerAccount,
		Metrics:                 c.metricsOnAPI(s.metrics),
		Observer:                observer,
		Dashboard:               web.Dashboard(),
		Shard:                   c.shard,
		Peers:                   apiPeers(s.peers),
		ForwardTimeout:          c.ForwardTimeout,
	})
	s.later(func() { s.api.Close() })
	s.srv = &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		// Headers past httpapi.MaxHeaderBytes get a JSON 431 from the handler;
		// this bound, past which net/http answers in plain text, only caps
		// what is read at all.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(c.logger.Handler(), slog.LevelWarn),
		ConnState:      s.ln.ConnState,
		ConnContext:    s.ln.ConnContext,
	}
	// Metric streams never finish on their own: a graceful stop ends them.
	s.srv.RegisterOnShutdown(s.api.CloseStreams)
	stopMetrics, err := c.serveMetrics(s.metrics)
	if err != nil {
		return err
	}
	s.later(stopMetrics)
	return nil
}

// serve serves HTTP, starts the node, says when it is ready, and stops
// gracefully when ctx is done, or with an error when serving or the fold
// stops on its own (so that a supervisor starts it again).
func (c *ServeCommand) serve(ctx context.Context, s *serving) error {
	serveErr := make(chan error, 1)
	go func() {
		if c.TLSCert != "" {
			s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			serveErr <- s.srv.ServeTLS(s.ln, c.TLSCert, c.TLSKey)
		} else {
			serveErr <- s.srv.Serve(s.ln)
		}
	}()
	c.logger.Info("listening", "addr", s.ln.Addr().String(), "dataDir", c.DataDir, "tls", c.TLSCert != "")
	s.later(func() { s.srv.Close() }) // a stop that did not begin gracefully: nothing lingers
	if err := s.n.Start(context.Background()); err != nil {
		return err
	}
	s.later(snapshotOnSIGUSR1(s.n, c.logger))

	select {
	case <-s.n.Ready():
		s.nonces.awaitBriefly(c.logger)
		// Other shards' nodes are answered once this one has caught up.
		if s.peers != nil {
			if err := s.peers.Serve(shardLocal{s.api, s.n}); err != nil {
				return err
			}
		}
		c.logger.Info("convops ready", "addr", s.ln.Addr().String(), "shard", c.shard.String())
		close(c.up)
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-s.n.Failed():
		return s.n.Err()
	case <-ctx.Done():
	}

	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-s.n.Failed():
		failed = s.n.Err()
		c.logger.Error("the fold of the event log stopped; shutting down", "err", failed)
	}
	c.logger.Info("stopping: finishing requests in flight")
	s.stopping = true
	if s.peers != nil {
		s.peers.StopServing() // other nodes ask this shard's other nodes from now on
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		c.logger.Warn("requests still in flight at shutdown", "err", err)
	}
	// The streams' goroutines, then the node (its final snapshot), are
	// stopped by undo, in that order.
	return failed
}
