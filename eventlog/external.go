package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// externalOptions are the connection options for an external server:
// reconnect for ever, with the credentials and TLS files of opts.
func externalOptions(opts Options) []nats.Option {
	// Reconnect soon (the default waits 2 s): a lost server stops this
	// node's ingest until it is connected to another.
	o := []nats.Option{nats.Name("convops"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	o = append(o, connectionLogs(opts.Logger)...)
	if opts.Creds != "" {
		o = append(o, nats.UserCredentials(opts.Creds))
	}
	if opts.TLSCA != "" {
		o = append(o, nats.RootCAs(opts.TLSCA))
	}
	if opts.TLSCert != "" || opts.TLSKey != "" {
		o = append(o, nats.ClientCert(opts.TLSCert, opts.TLSKey))
	}
	return o
}

// connectionLogs log what nats.go otherwise keeps to itself: a server
// refusing a publish or a subscription (a user without the permissions
// docs/cluster.md lists: forwarding or the nonces then fail with nothing
// else said), a client too slow for its subscription, and the connection
// lost and found. The same error is logged once a minute at most.
func connectionLogs(logger *slog.Logger) []nats.Option {
	var mu sync.Mutex
	logged := map[string]time.Time{}
	return []nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			mu.Lock()
			defer mu.Unlock()
			now := time.Now()
			if now.Sub(logged[err.Error()]) < time.Minute {
				return
			}
			if len(logged) > 100 {
				clear(logged)
			}
			logged[err.Error()] = now
			if sub != nil {
				logger.Error("nats refused or dropped messages", "err", err, "subject", sub.Subject)
			} else {
				logger.Error("nats refused or dropped messages", "err", err)
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("lost the connection to nats; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("connected to nats again", "server", nc.ConnectedUrlRedacted())
		}),
	}
}

// refusedCredentials tells whether err is the server refusing the user:
// on connect, nats.go gives the server's own words rather than
// nats.ErrAuthorization.
func refusedCredentials(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

// wantedReplicas is the replica count for a stream Open creates: asked, or
// min(3, servers in the cluster) when asked is zero.
func wantedReplicas(asked int, nc *nats.Conn) (int, error) {
	if asked < 0 || asked > 5 {
		return 0, fmt.Errorf("--nats-replicas is %d: JetStream keeps 1 to 5 replicas of a stream", asked)
	}
	if asked > 0 {
		return asked, nil
	}
	return min(3, clusterSize(nc)), nil
}

// clusterSize counts the servers of the cluster nc is connected to: the
// server tells its clients the client URLs of its peers as they join, so
// they are waited for a moment.
func clusterSize(nc *nats.Conn) int {
	if nc.ConnectedClusterName() == "" {
		return 1
	}
	count := 0
	for range 20 { // at most 2 s: peers are announced as routes come up
		hosts := map[string]bool{}
		for _, s := range nc.Servers() {
			if u, err := url.Parse(s); err == nil {
				hosts[strings.ToLower(u.Host)] = true
			}
		}
		if len(hosts) >= 3 {
			return len(hosts)
		}
		count = max(count, len(hosts))
		time.Sleep(100 * time.Millisecond)
	}
	return max(count, 1)
}

// openExternalStream uses the stream when it exists, as it is: its
// replicas are the operator's choice, and a warning says when they are fewer
// than cfg asks for. Otherwise it creates it from cfg.
func (l *Log) openExternalStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	stream, err := l.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		for {
			stream, err = l.js.CreateStream(ctx, cfg)
			var apiErr *jetstream.APIError
			// Fewer servers with JetStream than counted: one replica fewer.
			if l.autoReplicas && cfg.Replicas > 1 && errors.As(err, &apiErr) &&
				(apiErr.ErrorCode == errInsufficientResources || apiErr.ErrorCode == errNoPeers || apiErr.ErrorCode == errReplicasNotSupported) {
				l.logger.Warn("the cluster cannot keep the event stream on as many servers; trying one fewer", "replicas", cfg.Replicas, "err", err)
				cfg.Replicas--
				l.replicas = cfg.Replicas
				continue
			}
			break
		}
		if err == nil {
			l.logger.Info("created the event stream", "stream", cfg.Name, "replicas", cfg.Replicas)
		}
		return stream, err
	}
	if err != nil {
		return nil, err
	}
	if subjects := stream.CachedInfo().Config.Subjects; !slices.Contains(subjects, SubjectPrefix+">") {
		return nil, fmt.Errorf("the stream %s exists with subjects %v, which do not take convops's events (%s>): "+
			"add that subject to it, or remove the stream", cfg.Name, subjects, SubjectPrefix)
	}
	have := stream.CachedInfo().Config.Replicas
	if have < cfg.Replicas {
		l.logger.Warn("the event stream has fewer replicas than convops would give it: when a server holding it is lost, ingest stops until it returns; "+
			"raise them with `nats stream edit "+cfg.Name+" --replicas N`", "stream", cfg.Name, "replicas", have, "wanted", cfg.Replicas)
	}
	l.replicas = have
	return stream, nil
}

// Conn is the log's NATS connection, which the nodes of a cluster also use
// to ask each other.
func (l *Log) Conn() *nats.Conn { return l.nc }
