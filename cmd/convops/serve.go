package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/convops/convops"
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

var (
	_ httpapi.Backend = (*node.Node)(nil)
	_ httpapi.Peers   = (*cluster.Peers)(nil)
	_ node.Peers      = (*cluster.Peers)(nil)
	_ cluster.Local   = shardLocal{}
)

// defaultGCPercent is the collector's GOGC unless the environment sets one.
const defaultGCPercent = 50

// ServeCommand runs the server.
type ServeCommand struct {
	main *Main

	Listen                   string
	MetricsListen            string
	DataDir                  string
	KeysPath                 string
	Now                      string
	MaxInflightPerAccount    int
	TLSCert, TLSKey          string
	PublicURL                string
	NATSURL                  string
	NATSReplicas             int
	NATSCreds                string
	NATSTLSCA                string
	NATSTLSCert              string
	NATSTLSKey               string
	ShardFlag                string
	ForwardTimeout           time.Duration
	shard                    convops.Shard
	ShutdownTimeout          time.Duration
	AcceptLogLoss            bool
	LogStartTimeout          time.Duration
	MinFreeDiskMB            int64
	ReadHeaderTimeout        time.Duration
	MaxSkillsPerAccount      int
	MaxAgentsPerAccount      int
	MaxInflightBytes         int64
	MaxUnauthenticatedBytes  int64
	SnapshotInterval         time.Duration
	SnapshotEvents           int
	AllowedHosts             string
	RequireBodyHash          bool
	SignedPerKey             float64
	MaxConnections           int
	MaxConnectionsPerAddress int
	MaxStreams               int
	MaxStreamsPerAccount     int

	// Clock is the server's real clock (time.Now when nil): tests set it to
	// play a machine whose clock is wrong.
	Clock func() time.Time

	logger *slog.Logger

	mu          sync.Mutex
	addr        net.Addr      // the bound listen address, once listening
	metricsAddr net.Addr      // the bound --metrics-listen address, once listening
	up          chan struct{} // closed once ready to serve
}

// NewServeCommand returns a serve command with default settings.
func NewServeCommand(m *Main) *ServeCommand {
	return &ServeCommand{main: m, up: make(chan struct{})}
}

// ParseFlags reads the flags (and CONVOPS_* environment variables).
func (c *ServeCommand) ParseFlags(args []string) error {
	fs := c.main.newFlagSet("serve")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "`address` to serve HTTP on")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "`address` to serve /metrics on instead of --listen's (its counts tell of every account's volume: keep it where only monitoring reaches)")
	fs.StringVar(&c.DataDir, "data-dir", "./convops-data", "`directory` of the event log and other state")
	fs.StringVar(&c.KeysPath, "keys", "", "keys `file` (default <data-dir>/keys.json; created with one all-accounts key when missing)")
	fs.StringVar(&c.Now, "now", "", "freeze the data clock at this RFC 3339 `time` (tests, demos, replays)")
	fs.IntVar(&c.MaxInflightPerAccount, "max-inflight-per-account", 10, "concurrent requests served per account")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate `file` (PEM); serve HTTPS with --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&c.PublicURL, "public-url", "", "scheme and host clients use, when behind a proxy (https://convops.example.com)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "`URL` of an external NATS JetStream cluster instead of the embedded server")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", 0, "replicas of the event stream when convops creates it on an external cluster (default min(3, servers in the cluster)); an existing stream is used as it is")
	fs.StringVar(&c.NATSCreds, "nats-creds", "", "NATS credentials `file` (user JWT and NKey seed) for --nats-url")
	fs.StringVar(&c.NATSTLSCA, "nats-tls-ca", "", "CA certificates `file` (PEM) to verify the NATS servers with")
	fs.StringVar(&c.NATSTLSCert, "nats-tls-cert", "", "client certificate `file` (PEM) for NATS servers that ask for one, with --nats-tls-key")
	fs.StringVar(&c.NATSTLSKey, "nats-tls-key", "", "client private key `file` (PEM) for --nats-tls-cert")
	fs.DurationVar(&c.ForwardTimeout, "forward-timeout", 10*time.Second, "how long a query of another shard's account waits for a node of that shard before a 503")
	fs.StringVar(&c.ShardFlag, "shard", "0/1", "fold only the accounts of shard `i/n` (slot = FNV-1a-32(account id) mod 1024, shard = slot mod n); others are answered through their shard's nodes (needs --nats-url)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful stop waits for requests in flight")
	fs.DurationVar(&c.LogStartTimeout, "log-start-timeout", 30*time.Second, "how long the event log may take to open, or its replay stall, before the server gives up")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send its request headers")
	fs.Int64Var(&c.MinFreeDiskMB, "min-free-disk-mb", eventlog.DefaultMinFreeBytes>>20, "free space (MiB) the data dir's file system keeps; below it ingest answers 503")
	fs.BoolVar(&c.AcceptLogLoss, "accept-log-loss", false, "start even when the event log lost messages (logged), instead of refusing")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", node.DefaultSnapshotInterval, "how often a snapshot of the aggregates is written (also after --snapshot-events events, at a graceful stop, and on SIGUSR1); 0 writes none")
	fs.IntVar(&c.SnapshotEvents, "snapshot-events", node.DefaultSnapshotEvents, "events applied after which a snapshot is written, whatever the time")
	fs.Int64Var(&c.MaxInflightBytes, "max-inflight-bytes", httpapi.DefaultMaxInflightBytes, "request data (bodies, decoded events, answers being built) the server holds at once, in bytes; past it requests get 429")
	fs.Int64Var(&c.MaxUnauthenticatedBytes, "max-unauthenticated-bytes", httpapi.DefaultMaxUnauthenticatedBytes, "request bodies read before their credentials are checked (signed forms) held at once, in bytes, apart from --max-inflight-bytes; past it 429")
	fs.IntVar(&c.MaxSkillsPerAccount, "max-skills-per-account", store.DefaultMaxSkillsPerAccount, "distinct skill ids with data in the last 24 hours that one account may have; a batch that would pass it is refused")
	fs.IntVar(&c.MaxAgentsPerAccount, "max-agents-per-account", store.DefaultMaxAgentsPerAccount, "distinct agent ids with data in the last 24 hours that one account may have; a batch that would pass it is refused")
	fs.StringVar(&c.AllowedHosts, "allowed-hosts", "", "comma-separated `hosts` the server answers for besides its listen address's (without --public-url, other Host headers get 421)")
	fs.BoolVar(&c.RequireBodyHash, "require-body-hash", false, "refuse OAuth requests of keys with the write scope whose body is not signed with oauth_body_hash")
	fs.Float64Var(&c.SignedPerKey, "max-signed-requests-per-key", 100, "signed (OAuth) requests one key may make a second, twice as many in a burst; past it 429 (0: no bound)")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "connections open at once (default three quarters of the open-files limit); past it the oldest idle connection that never authenticated is closed, or the new one refused")
	fs.IntVar(&c.MaxConnectionsPerAddress, "max-connections-per-address", 1024, "connections open at once from one client address (0: no bound; behind a proxy, every client has its address)")
	fs.IntVar(&c.MaxStreams, "max-streams", 1024, "metric streams (Server-Sent Events) open at once; past it 429")
	fs.IntVar(&c.MaxStreamsPerAccount, "max-streams-per-account", 100, "metric streams of one account open at once; past it 429")
	if err := c.main.parseWithEnv(fs, args); err != nil {
		return err
	}
	for _, h := range splitList(c.AllowedHosts) {
		if strings.ContainsAny(h, "/ ") || h == "" {
			return fmt.Errorf("--allowed-hosts: %q is not a host name (give names or addresses, without scheme or path)", h)
		}
	}
	if c.SnapshotInterval < 0 || c.SnapshotEvents < 1 {
		return errors.New("--snapshot-interval must be 0 (no snapshots) or more, and --snapshot-events at least 1")
	}
	if c.MaxInflightBytes < 1<<20 {
		return errors.New("--max-inflight-bytes must be at least 1 MiB (1048576)")
	}
	if c.MaxUnauthenticatedBytes < 64<<10 {
		return errors.New("--max-unauthenticated-bytes must be at least 64 KiB (65536)")
	}
	if c.MaxSkillsPerAccount < 1 || c.MaxAgentsPerAccount < 1 {
		return errors.New("--max-skills-per-account and --max-agents-per-account must be at least 1")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.MaxStreams < 1 || c.MaxStreamsPerAccount < 1 {
		return errors.New("--max-streams and --max-streams-per-account must be at least 1")
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerAddress < 0 {
		return errors.New("--max-connections and --max-connections-per-address must be 0 or more")
	}
	if c.SignedPerKey < 0 {
		return errors.New("--max-signed-requests-per-key must be 0 (no bound) or more")
	}
	if c.MaxInflightPerAccount < 1 {
		return errors.New("--max-inflight-per-account must be at least 1")
	}
	if c.ForwardTimeout <= 0 {
		return errors.New("--forward-timeout must be more than 0")
	}
	shard, err := convops.ParseShard(c.ShardFlag)
	if err != nil {
		return fmt.Errorf("--shard: %w", err)
	}
	c.shard = shard
	if c.shard.Sharded() && c.NATSURL == "" {
		return errors.New("--shard needs --nats-url: the nodes of several shards share one NATS JetStream cluster")
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	if c.NATSURL == "" && (c.NATSCreds != "" || c.NATSTLSCA != "" || c.NATSTLSCert != "" || c.NATSReplicas != 0) {
		return errors.New("--nats-replicas, --nats-creds and --nats-tls-* apply to an external cluster: give --nats-url")
	}
	return nil
}

// Addr returns the address the server listens on (nil before it listens).
func (c *ServeCommand) Addr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// MetricsAddr returns the address /metrics is served on with
// --metrics-listen (nil without, or before it listens).
func (c *ServeCommand) MetricsAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.metricsAddr
}

// Ready is closed once the server has replayed its log and serves requests.
func (c *ServeCommand) Ready() <-chan struct{} { return c.up }

// clock returns the data clock: frozen with --now, else the real one.
func (c *ServeCommand) clock() (func() time.Time, error) {
	if c.Now == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, c.Now)
	if err != nil {
		return nil, fmt.Errorf("--now must be an RFC 3339 time such as 2026-11-27T13:29:00Z: %w", err)
	}
	return func() time.Time { return t }, nil
}

// Run serves until ctx is done, then stops gracefully: requests in flight
// finish, and nothing acknowledged is lost (acknowledged events are already
// durable in the log).
func (c *ServeCommand) Run(ctx context.Context) error {
	c.logger = slog.New(slog.NewTextHandler(c.main.Stderr, nil))
	// The heap is mostly arrays without pointers (running totals, the dedupe
	// index), which cost the collector little: collecting when it has grown
	// by half instead of doubled keeps the process a quarter smaller for a
	// few percent of a core. GOGC in the environment overrides this.
	if c.main.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	now, err := c.clock()
	if err != nil {
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
	defer unlock()

	keyring, err := c.openKeys()
	if err != nil {
		return err
	}
	stopReload := c.reloadKeysOnSIGHUP(keyring)
	defer stopReload()

	// The listener opens before the replay so that /healthz and /readyz answer
	// while the log is replayed.
	ln, err := c.listen()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.addr = ln.Addr()
	c.mu.Unlock()

	// The snapshot loads while the event log opens.
	st := store.New(store.Options{MaxSkillsPerAccount: c.MaxSkillsPerAccount, MaxAgentsPerAccount: c.MaxAgentsPerAccount})
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
		preload = node.PreloadSnapshot(snapshotPath, st)
	}

	log, err := eventlog.Open(ctx, eventlog.Options{
		DataDir:      c.DataDir,
		URL:          c.NATSURL,
		Replicas:     c.NATSReplicas,
		Creds:        c.NATSCreds,
		TLSCA:        c.NATSTLSCA,
		TLSCert:      c.NATSTLSCert,
		TLSKey:       c.NATSTLSKey,
		Shard:        c.shard,
		Logger:       c.logger,
		StartTimeout: c.LogStartTimeout,
		MinFreeBytes: max(c.MinFreeDiskMB<<20, -1),
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer log.Close()
	nonces := c.openNonces(ctx, log, keyring)
	defer nonces.stop()

	// The nodes of other shards, when there are.
	var peers *cluster.Peers
	if c.shard.Sharded() {
		if peers, err = cluster.New(log.Conn(), c.shard, c.logger); err != nil {
			ln.Close()
			return err
		}
		defer peers.Close()
	}

	metrics := telemetry.New()
	metrics.WatchConnections(ln.Stats)
	metrics.WatchStore(st)
	metrics.WatchSignedRequests(keyring.SignedRefused, nonces.usage)
	n := node.New(log, st, node.Options{
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
		Peers:            nodePeers(peers),
	})
	defer n.Close()

	metrics.WatchNode(n)
	if peers != nil {
		metrics.WatchPeers(peers)
	}
	var api *httpapi.Server
	observer := metrics.WatchHTTP(func() httpapi.StreamStats { return api.StreamStats() })
	api = httpapi.New(httpapi.Options{
		Backend:                 n,
		Auth:                    keyring,
		Now:                     now,
		Logger:                  c.logger,
		PublicURL:               c.PublicURL,
		AllowedHosts:            httpapi.AllowedHosts(ln.Addr(), append(splitList(c.AllowedHosts), c.certificateHosts()...)),
		MaxInflightPerAccount:   c.MaxInflightPerAccount,
		MaxInflightBytes:        c.MaxInflightBytes,
		MaxUnauthenticatedBytes: c.MaxUnauthenticatedBytes,
		MaxStreams:              c.MaxStreams,
		MaxStreamsPerAccount:    c.MaxStreamsPerAccount,
		Metrics:                 c.metricsOnAPI(metrics),
		Observer:                observer,
		Dashboard:               web.Dashboard(),
		Shard:                   c.shard,
		Peers:                   apiPeers(peers),
		ForwardTimeout:          c.ForwardTimeout,
	})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		// Headers past httpapi.MaxHeaderBytes get a JSON 431 from the handler;
		// this bound, past which net/http answers in plain text, only caps
		// what is read at all.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(c.logger.Handler(), slog.LevelWarn),
		ConnState:      ln.ConnState,
		ConnContext:    ln.ConnContext,
	}
	// Metric streams never finish on their own: a graceful stop ends them.
	srv.RegisterOnShutdown(api.CloseStreams)
	stopMetrics, err := c.serveMetrics(metrics)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()
	serveErr := make(chan error, 1)
	go func() {
		if c.TLSCert != "" {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			serveErr <- srv.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	c.logger.Info("listening", "addr", ln.Addr().String(), "dataDir", c.DataDir, "tls", c.TLSCert != "")

	if err := n.Start(context.Background()); err != nil {
		srv.Close()
		return err
	}
	stopSnapshots := snapshotOnSIGUSR1(n, c.logger)
	defer stopSnapshots()

	select {
	case <-n.Ready():
		nonces.awaitBriefly(c.logger)
		// Other shards' nodes are answered once this one has caught up.
		if peers != nil {
			if err := peers.Serve(shardLocal{api, n}); err != nil {
				srv.Close()
				return err
			}
		}
		c.logger.Info("convops ready", "addr", ln.Addr().String(), "shard", c.shard.String())
		close(c.up)
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-n.Failed():
		srv.Close()
		return n.Err()
	case <-ctx.Done():
	}

	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-n.Failed():
		// Stop with an error, so that a supervisor restarts the server.
		failed = n.Err()
		c.logger.Error("the fold of the event log stopped; shutting down", "err", failed)
	}

	c.logger.Info("stopping: finishing requests in flight")
	if peers != nil {
		peers.StopServing() // other nodes ask this shard's other nodes from now on
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		c.logger.Warn("requests still in flight at shutdown", "err", err)
	}
	api.Close()
	if err := n.Close(); err != nil {
		c.logger.Error("stopping the node", "err", err)
	}
	c.logger.Info("stopped")
	return failed
}

// metricsOnAPI is the /metrics handler of the API's listener: none with
// --metrics-listen.
func (c *ServeCommand) metricsOnAPI(metrics *telemetry.Registry) http.Handler {
	if c.MetricsListen != "" {
		return nil
	}
	return metrics.Handler()
}

// serveMetrics serves /metrics on --metrics-listen, when it is set, until
// stop.
func (c *ServeCommand) serveMetrics(metrics *telemetry.Registry) (stop func(), err error) {
	if c.MetricsListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", c.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	c.mu.Lock()
	c.metricsAddr = ln.Addr()
	c.mu.Unlock()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: c.ReadHeaderTimeout, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(c.logger.Handler(), slog.LevelWarn)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			c.logger.Error("serving /metrics stopped", "err", err)
		}
	}()
	c.logger.Info("serving /metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) // a scrape in flight finishes
		<-served
	}, nil
}

// listen opens the listener, within the bounds of --max-connections and
// --max-connections-per-address. The open-files limit is raised to its
// hard limit first (the Go runtime raises it as the process starts, to one
// short of it) and said in the log, with the bound it gives.
func (c *ServeCommand) listen() (*connlimit.Listener, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	most := c.MaxConnections
	if most == 0 {
		// A quarter of the descriptors stay for the event log's files, the
		// NATS connections and snapshots.
		most = max(int(min(rl.Cur, 1<<30))*3/4, 64)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	opts := connlimit.Options{Max: most, PerAddress: c.MaxConnectionsPerAddress}
	if c.TLSCert == "" {
		opts.Refusal = connectionRefusal
	}
	c.logger.Info("connections", "max", most, "perAddress", c.MaxConnectionsPerAddress, "openFilesLimit", rl.Cur)
	return connlimit.New(ln, opts), nil
}

// connectionRefusal is what a plain HTTP client whose connection is past
// the bounds reads before it is closed.
var connectionRefusal = func() []byte {
	body := `{"code":503,"message":"the server holds as many connections as it allows (--max-connections, --max-connections-per-address); retry in a moment, or reuse a connection"}`
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}()

// certificateHosts are the names and addresses the TLS certificate is for:
// the hosts its clients use.
func (c *ServeCommand) certificateHosts() []string {
	if c.TLSCert == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil || len(pair.Certificate) == 0 {
		return nil // ServeTLS says why
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil
	}
	hosts := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return hosts
}

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
	f, err := auth.ReadFile(c.KeysPath)
	if err != nil {
		return nil, err
	}
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

// reloadKeysOnSIGHUP re-reads the keys file on SIGHUP. A file that cannot be
// read leaves the keys in force as they were, with a log line saying why.
func (c *ServeCommand) reloadKeysOnSIGHUP(k *auth.Keyring) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				f, err := auth.ReadFile(c.KeysPath)
				if err != nil {
					c.logger.Error("keys not reloaded; the previous keys stay in force", "err", err)
					continue
				}
				k.Replace(f)
				c.logger.Info("keys reloaded", "path", c.KeysPath, "keys", len(f.Keys))
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

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

// shardLocal answers the requests of other shards' nodes for this node's
// shard: queries through the API, awaits through the fold.
type shardLocal struct {
	api *httpapi.Server
	n   *node.Node
}

func (l shardLocal) Answer(ctx context.Context, account string, params map[string]string, maxBytes int64) (int, []byte, string, func()) {
	return l.api.Answer(ctx, account, params, maxBytes)
}

func (l shardLocal) Version(account string) uint64 { return l.n.Version(account) }

func (l shardLocal) Await(ctx context.Context, ids []string) (convops.Outcome, error) {
	return l.n.Await(ctx, ids)
}

// nodePeers and apiPeers are the peers as the node and the API know them:
// nil, not a nil pointer, without shards.
func nodePeers(p *cluster.Peers) node.Peers {
	if p == nil {
		return nil
	}
	return p
}

func apiPeers(p *cluster.Peers) httpapi.Peers {
	if p == nil {
		return nil
	}
	return p
}
