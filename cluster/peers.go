// Package cluster lets the convops nodes of a sharded deployment answer for
// each other over NATS request-reply: any node takes any request, and one
// for an account of another shard is answered by a node of that shard.
//
// Each node of shard i of n listens on the subject convops.shard.n.i in the
// queue group "convops", so that one node of the shard takes each request
// and a shard of several nodes goes on answering when one of them stops. A
// node listens only once its fold has caught up with the log.
//
// Three requests exist: "query" carries an account and the query's
// parameters (and, for a metric stream, the most bytes the asker can keep),
// and is answered with the HTTP status and the exact bytes the answering
// node's API gives; "version" carries an account, and is answered with its
// version (the log sequence of the batch that last added to it, the same on
// every node of the shard), so that a stream of the account asks for its
// answer only when it may have changed; "await" carries the ids of log
// messages that the asking node published for an account of the shard,
// and is answered once the fold of the answering node has applied them,
// with its outcome.
// An answer larger than a NATS message comes in several, in order.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/convops/convops"
)

// Headers of requests and answers.
const (
	opHeader      = "Convops-Op"         // query, version or await
	timeoutHeader = "Convops-Timeout-Ms" // how long the asker waits, from when it sent the request
	statusHeader  = "Convops-Status"     // the HTTP status of the answer
	causeHeader   = "Convops-Cause"      // why a 429 or 503 was given (convops.Cause…)
	partHeader    = "Convops-Part"       // the number of a part of an answer, from 0
	moreHeader    = "Convops-More"       // set on every part of an answer but the last
)

// maxWait bounds the work on a request that says not how long its asker
// waits, or says more.
const maxWait = time.Minute

// Bounds of what other nodes may ask at once: requests being answered
// (the rest are dropped, and sent again by their askers), and message ids
// in one await (a 16 MiB ingest is a few dozen messages).
const (
	maxAnswering = 1024
	maxAwaitIDs  = 4096
)

// queueGroup is the queue group of every shard's subject.
const queueGroup = "convops"

// retryEvery is how often a request is sent again while no node of its
// shard listens (one is starting, or has just stopped), for noListener at
// most: past it, NATS has said for that long that no one listens, and the
// request is refused rather than wait out its time. hedgeAfter is how long
// a request may go unanswered before it is sent again, in case the node
// that took it stopped.
const (
	retryEvery = 100 * time.Millisecond
	noListener = time.Second
	hedgeAfter = 2 * time.Second
)

// Subject is the subject the nodes of shard listen on.
func Subject(shard convops.Shard) string {
	return fmt.Sprintf("convops.shard.%d.%d", max(shard.Count, 1), shard.Index)
}

// Local is what a node does for the requests of its shard.
type Local interface {
	// Answer is the node's HTTP answer to a query of account with params:
	// status, body, and the cause of a 429 or 503; an answer larger than
	// maxBytes (when more than 0) is refused as such.
	// done is called once the answer is sent.
	Answer(ctx context.Context, account string, params map[string]string, maxBytes int64) (status int, body []byte, cause string, done func())
	// Version is the account's version (store.Store.Version).
	Version(account string) uint64
	// Await returns the fold's outcome for the log messages ids once they
	// are all applied.
	Await(ctx context.Context, ids []string) (convops.Outcome, error)
}

// Peers asks the nodes of other shards, and answers for its own.
type Peers struct {
	nc     *nats.Conn
	shard  convops.Shard
	logger *slog.Logger

	// Answers come to inbox.<token>; each request waits on its channel.
	inbox   string
	replies *nats.Subscription
	mu      sync.Mutex
	waiting map[string]chan *nats.Msg
	next    atomic.Uint64

	counts stats

	serving   *nats.Subscription
	stopping  bool           // StopServing was called; guarded by mu
	answering int            // requests being answered; guarded by mu
	served    sync.WaitGroup // requests being answered
	// serveCtx is the parent of every request being answered; StopServing
	// cancels it (the askers send those requests again elsewhere).
	serveCtx    context.Context
	stopServing context.CancelFunc
}

// New returns the peers of a node of shard on the connection nc.
func New(nc *nats.Conn, shard convops.Shard, logger *slog.Logger) (*Peers, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Peers{nc: nc, shard: shard, logger: logger, inbox: nats.NewInbox(), waiting: make(map[string]chan *nats.Msg)}
	p.serveCtx, p.stopServing = context.WithCancel(context.Background())
	var err error
	if p.replies, err = nc.Subscribe(p.inbox+".*", p.dispatch); err != nil {
		return nil, fmt.Errorf("subscribe to answers: %w", err)
	}
	// Answers are small next to what the client buffer allows by default,
	// but a large query answer comes in many parts at once.
	p.replies.SetPendingLimits(-1, 1<<30)
	return p, nil
}

// Serve answers the requests of the node's shard with local, until Close.
func (p *Peers) Serve(local Local) error {
	sub, err := p.nc.QueueSubscribe(Subject(p.shard), queueGroup, func(m *nats.Msg) {
		p.mu.Lock()
		stopping := p.stopping
		busy := p.answering >= maxAnswering
		if !stopping && !busy {
			p.served.Add(1)
			p.answering++
		}
		p.mu.Unlock()
		if stopping || busy {
			return // the shard's other nodes, or this one later, take it when it is sent again
		}
		go func() {
			defer func() {
				if v := recover(); v != nil {
					p.logger.Error("answering a request of another node failed", "panic", v)
				}
				p.mu.Lock()
				p.answering--
				p.mu.Unlock()
				p.served.Done()
			}()
			p.answer(local, m)
		}()
	})
	if err != nil {
		return fmt.Errorf("listen for shard %s: %w", p.shard, err)
	}
	sub.SetPendingLimits(-1, 1<<30)
	p.mu.Lock()
	p.serving = sub
	p.mu.Unlock()
	if err := p.nc.Flush(); err != nil {
		return fmt.Errorf("listen for shard %s: %w", p.shard, err)
	}
	// A server that refuses the subscription says so before it answers the
	// flush; a node that cannot hear its shard must not call itself ready.
	if err := p.nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+Subject(p.shard)+`"`) {
		return fmt.Errorf("listen for shard %s: %w: the NATS user may not subscribe to %s (docs/cluster.md lists what it needs)", p.shard, err, Subject(p.shard))
	}
	return nil
}

// StopServing stops taking requests of the node's shard, and waits for
// those being answered: the shard's other nodes take the next ones.
func (p *Peers) StopServing() {
	p.mu.Lock()
	serving := p.serving
	p.serving = nil
	p.mu.Unlock()
	if serving != nil {
		serving.Unsubscribe()
	}
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	p.stopServing()
	p.served.Wait()
}

// Close stops answering and asking, waiting for the answers being given.
func (p *Peers) Close() error {
	p.StopServing()
	return p.replies.Unsubscribe()
}
