package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/auth"
	"github.com/convops/convops/cluster"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/node"
	"github.com/convops/convops/store"
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
	KeysCheckInterval        time.Duration

	// Clock is the server's real clock (time.Now when nil): tests set it to
	// play a machine whose clock is wrong.
	Clock func() time.Time

	logger   *slog.Logger
	keysSeen auth.Version // the keys file as it was read at the start

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
	fs.DurationVar(&c.KeysCheckInterval, "keys-check-interval", time.Second, "how often the keys file is looked at; a change is taken without a restart or a signal (0: only on SIGHUP)")
	if err := c.main.parseWithEnv(fs, args); err != nil {
		return err
	}
	if c.KeysCheckInterval < 0 {
		return errors.New("--keys-check-interval must be 0 (only on SIGHUP) or more")
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
