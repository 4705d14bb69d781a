// Package eventlog is the event log of convops: a NATS JetStream stream that
// holds every accepted batch of events, in one order that every node folds.
//
// By default the NATS server runs inside the convops process (file store under
// the data directory, no TCP listener); with a URL the same code uses an
// external JetStream cluster, where the stream can be replicated.
//
// Durability: the embedded server runs with SyncAlways, so JetStream fsyncs
// every message before it acknowledges it. An acknowledged batch therefore
// survives kill -9 of the process and also a power loss of the machine; the
// cost is one fsync per message (a message carries up to ~1 MiB of events, so
// one fsync serves hundreds to thousands of events).
package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/convops/convops"
)

// Names of the stream and its subjects. An account's batches go to
// Subject(accountID): the bits of its convops.ShardSlot, then the id
// (account ids are valid subject tokens), so that a node of one shard reads
// only its shard's messages. Logs written before shards existed hold
// SubjectPrefix + accountID; a node of one shard reads every message while
// such messages are in the log (see Open).
const (
	StreamName    = "CONVOPS_EVENTS"
	SubjectPrefix = "convops.events."
)

// Options configure Open.
type Options struct {
	// DataDir holds the embedded server's file store. Ignored with URL.
	DataDir string
	// URL of an external NATS server or cluster; empty runs one in-process.
	URL string
	// Replicas of the stream when Open creates it on an external cluster;
	// zero picks min(3, servers in the cluster). A stream that exists is
	// used as it is.
	Replicas int
	// Credentials and TLS for an external server: a NATS credentials file
	// (user JWT and seed), a CA bundle to verify the servers with, and a
	// client certificate and key; empty leaves each out.
	Creds, TLSCA, TLSCert, TLSKey string
	// Shard is the part of the accounts Follow delivers (all by default).
	Shard convops.Shard
	// MaxAge is how long the stream keeps a message: the 24-hour window plus a
	// margin, so that replay always sees every event still in retention and the
	// dedupe key of every event that might be sent again.
	MaxAge time.Duration
	// SyncInterval, when set, replaces fsync-per-message with an fsync every
	// interval: acknowledged batches then survive a crash of the process but
	// not a power loss. It exists to measure what SyncAlways costs.
	SyncInterval time.Duration
	// StartTimeout bounds the start of the embedded server (30s when zero).
	StartTimeout time.Duration
	// MinFreeBytes is the free space the embedded store's file system must
	// keep: below it, Publish refuses at once with ErrStorageFull. The store
	// itself, once a write fails for lack of space, stops storing until it is
	// restarted; refusing before that keeps ingest able to resume as soon as
	// space is freed. Zero means DefaultMinFreeBytes; negative disables.
	MinFreeBytes int64
	Logger       *slog.Logger
}

// DefaultMaxAge is the stream retention: 24 hours plus a 2-hour margin.
const DefaultMaxAge = 26 * time.Hour

// DefaultMinFreeBytes is the default of Options.MinFreeBytes.
const DefaultMinFreeBytes = 64 << 20

// JetStream's refusals that convops tells apart, as nats-server names them.
const (
	errInsufficientResources = jetstream.ErrorCode(server.JSInsufficientResourcesErr)
	errStorageExceeded       = jetstream.ErrorCode(server.JSStorageResourcesExceededErr)
	errNoPeers               = jetstream.ErrorCode(server.JSClusterNoPeersErrF)
	errReplicasNotSupported  = jetstream.ErrorCode(server.JSStreamReplicasNotSupportedErr)
)

// ErrStorageFull is returned by Publish when the store refuses messages for
// lack of space.
var ErrStorageFull = errors.New("event log storage is full")

// Log is an open event log.
type Log struct {
	logger *slog.Logger
	ns     *server.Server // nil with an external server
	disk   diskGuard
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	// replicas of the log's stream, and of the nonce bucket
	replicas int
	// filter selects the subjects Follow reads (shardFilter), or all.
	filter string
	// autoReplicas: the replica count was not asked for, but counted.
	autoReplicas bool

	// Message ids are this node's random id and a counter: unique across nodes
	// and restarts, so the fold can tell its own node's messages apart.
	nodeID  string
	counter atomic.Uint64

	// known is the last sequence this node knows the log holds (its own
	// writes, and the other nodes' wake-ups); wake tells Follow of a new
	// one. followLogs limits what Follow logs of its retries.
	known      atomic.Uint64
	wake       chan struct{}
	wakes      *nats.Subscription
	followLogs *logLimit
	reads      atomic.Uint64 // direct gets Follow has sent
}

// Open starts (or connects to) the NATS server and makes sure the stream exists.
func Open(ctx context.Context, opts Options) (*Log, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = DefaultMinFreeBytes
	}
	l := &Log{logger: opts.Logger, nodeID: nuid.Next(), filter: shardFilter(opts.Shard), wake: make(chan struct{}, 1), followLogs: newLogLimit(time.Minute)}
	if opts.URL == "" && opts.MinFreeBytes > 0 {
		l.disk = diskGuard{dir: opts.DataDir, minFree: opts.MinFreeBytes}
	}

	if err := l.connect(opts); err != nil {
		return nil, err
	}
	var err error
	// An acknowledgement not back within ackWait fails its future (and
	// frees its place among the pending ones): Publish sends the message
	// again.
	if l.js, err = jetstream.New(l.nc, jetstream.WithPublishAsyncTimeout(ackWait)); err != nil {
		l.Close()
		return nil, fmt.Errorf("open jetstream: %w", err)
	}

	if l.ns != nil {
		l.replicas = 1
	} else if l.replicas, err = wantedReplicas(opts.Replicas, l.nc); err != nil {
		l.Close()
		return nil, err
	}
	l.autoReplicas = opts.Replicas == 0
	cfg := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "convops conversation-resolved events",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      opts.MaxAge,
		Replicas:    l.replicas,
		Duplicates:  min(2*time.Minute, opts.MaxAge),
		// The fold reads with direct gets, which every replica answers
		// (see Follow).
		AllowDirect: true,
	}
	// A new R3 stream on an external cluster needs a meta leader.
	err = l.RetryStarting(ctx, "the event stream", func() (err error) {
		if l.ns != nil {
			l.stream, err = l.js.CreateOrUpdateStream(ctx, cfg)
		} else {
			l.stream, err = l.openExternalStream(ctx, cfg)
		}
		return err
	})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("create stream %s: %w", StreamName, err)
	}
	if l.filter != "" {
		// Messages of a log written before shards, whose subjects carry no
		// slot: while any are held, this node reads every message (the
		// fold keeps its own accounts) rather than miss them.
		var info *jetstream.StreamInfo
		err := l.RetryStarting(ctx, "the event stream's subjects", func() (err error) {
			info, err = l.stream.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+"*"))
			return err
		})
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("read stream %s: %w", StreamName, err)
		}
		if len(info.State.Subjects) > 0 {
			l.logger.Warn("the event log holds messages written before shards; this node reads the whole log, keeping its own accounts; once they expire (the stream's retention), a restart reads only its shard",
				"subjects", len(info.State.Subjects))
			l.filter = ""
		}
	}
	if err := l.hearWakeUps(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// connect starts the embedded server and connects to it, or connects to
// the external one of opts.URL.
func (l *Log) connect(opts Options) error {
	var err error
	if opts.URL == "" {
		l.ns, err = server.NewServer(&server.Options{
			ServerName: "convops",
			JetStream:  true,
			StoreDir:   opts.DataDir,
			DontListen: true,
			NoSigs:     true,
			// fsync every message before its acknowledgement: see the package comment.
			SyncAlways:   opts.SyncInterval == 0,
			SyncInterval: opts.SyncInterval,
			// No store limit of NATS's own (by default 75% of the space free
			// at start, never raised when space is freed): the disk guard
			// refuses ingest when the file system runs low instead.
			JetStreamMaxStore: 1 << 50,
		})
		if err != nil {
			return fmt.Errorf("configure embedded nats server: %w", err)
		}
		l.ns.SetLoggerV2(natsLogger{opts.Logger}, false, false, false)
		go l.ns.Start()
		if !l.ns.ReadyForConnections(opts.StartTimeout) {
			// The store restores its streams before it accepts connections. A
			// damaged block file can make that never end (a corrupted sequence
			// number is taken at face value), so this is a refusal, not a wait.
			go l.ns.Shutdown()
			return fmt.Errorf("the event log under %s did not open within %s: its files may be damaged; "+
				"see the log above, and restore the data directory from a backup", opts.DataDir, opts.StartTimeout)
		}
		l.nc, err = nats.Connect("", nats.InProcessServer(l.ns), nats.Name("convops"))
	} else {
		l.nc, err = nats.Connect(opts.URL, externalOptions(opts)...)
	}
	if err != nil {
		l.Close()
		if cerr := credentialsError(err, opts.Creds); cerr != nil {
			return cerr
		}
		return fmt.Errorf("connect to nats: %w", err)
	}
	return nil
}

// startAttempts is how many times RetryStarting calls, a second apart, on
// an external log.
const startAttempts = 30

// RetryStarting calls fn until it succeeds or ctx ends; on an external
// log, whose cluster may be starting (electing leaders, several nodes
// creating the same stream at once) and not answer in time, it calls again
// a second later, up to startAttempts times, saying so in the log. The
// embedded server answers at once, or never will: fn is called once.
func (l *Log) RetryStarting(ctx context.Context, what string, fn func() error) error {
	attempts := 1
	if l.External() {
		attempts = startAttempts
	}
	for attempt := 1; ; attempt++ {
		before := l.nc.LastError()
		err := fn()
		if err == nil || ctx.Err() != nil || attempt == attempts {
			return err
		}
		// A subject the server refuses to this node's user is refused
		// again a second later: say so now.
		if refused := l.nc.LastError(); refused != before && errors.Is(refused, nats.ErrPermissionViolation) {
			return fmt.Errorf("%w (%w): docs/cluster.md lists the subjects a node's NATS user needs", err, refused)
		}
		l.logger.Info(what+" is not ready yet; trying again", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// External reports whether the log runs on external servers, whose clock
// may differ from this process's.
func (l *Log) External() bool { return l.ns == nil }

// ClockOffset returns how far the clock of the log's servers is ahead of
// now, the clock of this node: the server that leads the stream stamps the
// stream's state with its time when it gives it, which is compared with the
// middle of the round trip. The round trip bounds the error; a minute of
// difference stands out of it whatever the network. It needs nothing but
// the log's stream, whose replicas it has: no server whose loss stops it
// but one that would stop the log too.
func (l *Log) ClockOffset(ctx context.Context, now func() time.Time) (time.Duration, error) {
	if !l.External() {
		return 0, nil
	}
	sent := now()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("clock probe: %w", err)
	}
	if info.TimeStamp.IsZero() {
		return 0, errors.New("clock probe: the NATS server does not stamp the stream's state with its time (nats-server 2.10 or later does)")
	}
	back := now()
	middle := sent.Add(back.Sub(sent) / 2)
	return info.TimeStamp.Sub(middle), nil
}

// Close disconnects and, when embedded, shuts the NATS server down and
// waits for it to stop. Its error is the wake-ups' unsubscription's, the
// only step that can fail; the others are done whatever it says.
func (l *Log) Close() error {
	var err error
	if l.wakes != nil {
		err = l.wakes.Unsubscribe()
	}
	if l.nc != nil {
		l.nc.Close()
	}
	if l.ns != nil {
		l.ns.Shutdown()
		l.ns.WaitForShutdown()
	}
	return err
}
