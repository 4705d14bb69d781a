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

// connectionLogs log what nats.go otherwise keeps to itself: the server
// refusing a subject to this node's user (forwarding or the nonces then
// fail with nothing else said), a subscription read too slowly, the
// connection lost, found again, or given up. Each kind of error (a refused
// subject counted by its first two tokens, since inboxes and nonces differ
// every time) is logged once a minute at most.
func connectionLogs(logger *slog.Logger) []nats.Option {
	limit := newLogLimit(time.Minute)
	return []nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			switch {
			case errors.Is(err, nats.ErrPermissionViolation):
				if limit.allow("permissions " + subjectKind(err.Error())) {
					logger.Error("the NATS server refused a subject to this node's user; docs/cluster.md lists what it needs", "err", err)
				}
			case errors.Is(err, nats.ErrSlowConsumer) && sub != nil:
				if limit.allow("slow " + sub.Subject) {
					logger.Error("dropped NATS messages: this node reads them too slowly", "subject", sub.Subject)
				}
			default:
				if limit.allow(err.Error()) {
					logger.Error("NATS error", "err", err)
				}
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: this node closed it
				logger.Warn("lost the connection to NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("connected to NATS again", "server", nc.ConnectedUrlRedacted())
		}),
		// nats.go gives up reconnecting when a server refuses the user
		// twice, even with no limit on reconnects.
		nats.NoCallbacksAfterClientClose(),
		nats.ClosedHandler(func(nc *nats.Conn) {
			logger.Error("the connection to NATS is closed and will not be tried again; restart this node", "err", nc.LastError())
		}),
	}
}

// subjectKind is the first two tokens of the subject quoted in a
// permissions error ("_INBOX.x", "$KV.CONVOPS_NONCES"), or the error.
func subjectKind(msg string) string {
	_, quoted, ok := strings.Cut(msg, `"`)
	if !ok {
		return msg
	}
	subject, _, _ := strings.Cut(quoted, `"`)
	tokens := strings.SplitN(subject, ".", 3)
	return strings.Join(tokens[:min(2, len(tokens))], ".")
}

// logLimit lets a key through once per interval.
type logLimit struct {
	mu       sync.Mutex
	interval time.Duration
	last     map[string]time.Time
}

func newLogLimit(interval time.Duration) *logLimit {
	return &logLimit{interval: interval, last: map[string]time.Time{}}
}

func (l *logLimit) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.last[key]) < l.interval {
		return false
	}
	if len(l.last) >= 1000 { // forget keys whose interval has passed
		for k, t := range l.last {
			if now.Sub(t) >= l.interval {
				delete(l.last, k)
			}
		}
	}
	l.last[key] = now
	return true
}

// credentialsError explains a server's refusal of the user at connect, or
// returns nil for other errors.
func credentialsError(err error, creds string) error {
	switch {
	case errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAccountAuthExpired):
		return fmt.Errorf("connect to nats: %w: the user of %s, or its account, has expired: give a current credentials file", err, creds)
	case errors.Is(err, nats.ErrAuthRevoked):
		return fmt.Errorf("connect to nats: %w: the user of %s has been revoked", err, creds)
	case !errors.Is(err, nats.ErrAuthorization):
		return nil
	case creds == "":
		return fmt.Errorf("connect to nats: %w: the server wants a user: give this node one with --nats-creds (a .creds file)", err)
	default:
		return fmt.Errorf("connect to nats: %w: the server refused the user of %s: check that the server trusts its account", err, creds)
	}
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
	if existing := stream.CachedInfo().Config; !existing.AllowDirect {
		// Made by an earlier convops, or by hand: the fold reads with
		// direct gets (Follow), which the stream must allow.
		existing.AllowDirect = true
		if stream, err = l.js.UpdateStream(ctx, existing); err != nil {
			return nil, fmt.Errorf("allow direct gets on the stream %s (the fold reads with them): %w", cfg.Name, err)
		}
		l.logger.Info("allowed direct gets on the event stream", "stream", cfg.Name)
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
