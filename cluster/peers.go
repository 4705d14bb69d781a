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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
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

// Close stops answering and asking.
func (p *Peers) Close() {
	p.StopServing()
	p.replies.Unsubscribe()
}

// Query sends a query of account to a node of its shard and returns that
// node's answer: its HTTP status, its bytes, and the cause of a 429 or 503.
// An answer larger than maxBytes (when more than 0) is refused by that node,
// never sent.
func (p *Peers) Query(ctx context.Context, account string, params map[string]string, maxBytes int64) (status int, body []byte, cause string, err error) {
	data, _ := json.Marshal(request{Account: account, Params: params, MaxBytes: maxBytes})
	m, body, err := p.request(ctx, account, "query", data)
	if err != nil {
		return 0, nil, "", err
	}
	status, _ = strconv.Atoi(m.Header.Get(statusHeader))
	if status < 200 || status > 599 {
		return 0, nil, "", &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard,
			Message: fmt.Sprintf("a node of shard %s gave an answer this node cannot read; retry in a moment", p.shard.Of(account))}
	}
	return status, body, m.Header.Get(causeHeader), nil
}

// Version asks a node of account's shard for the account's version.
func (p *Peers) Version(ctx context.Context, account string) (uint64, error) {
	data, _ := json.Marshal(request{Account: account})
	_, body, err := p.request(ctx, account, "version", data)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(body), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the version given by shard %s cannot be read: %w", p.shard.Of(account), err)
	}
	return v, nil
}

// Await waits until a node of account's shard has applied the log messages
// ids, and returns its outcome.
func (p *Peers) Await(ctx context.Context, account string, ids []string) (convops.Outcome, error) {
	data, _ := json.Marshal(request{Account: account, IDs: ids})
	m, body, err := p.request(ctx, account, "await", data)
	if err != nil {
		return convops.Outcome{}, err
	}
	if status, _ := strconv.Atoi(m.Header.Get(statusHeader)); status != http.StatusOK {
		return convops.Outcome{}, decodeError(status, body, m.Header.Get(causeHeader))
	}
	var out convops.Outcome
	if err := json.Unmarshal(body, &out); err != nil {
		return convops.Outcome{}, fmt.Errorf("the answer of shard %s cannot be read: %w", p.shard.Of(account), err)
	}
	return out, nil
}

// Stats counts what the peers did since they started, by kind of request
// (query, version, await).
type Stats struct {
	// Asked: requests this node sent to other shards; Unanswered: those no
	// node of the shard answered in time.
	Asked, Unanswered map[string]uint64
	// Served: requests of other nodes this node answered.
	Served map[string]uint64
}

// counter is a count by kind of request.
type counter struct{ query, version, await atomic.Uint64 }

func (c *counter) of(op string) *atomic.Uint64 {
	switch op {
	case "query":
		return &c.query
	case "version":
		return &c.version
	}
	return &c.await
}

func (c *counter) read() map[string]uint64 {
	return map[string]uint64{"query": c.query.Load(), "version": c.version.Load(), "await": c.await.Load()}
}

type stats struct{ asked, unanswered, served counter }

// Stats returns the counts.
func (p *Peers) Stats() Stats {
	return Stats{Asked: p.counts.asked.read(), Unanswered: p.counts.unanswered.read(), Served: p.counts.served.read()}
}

type request struct {
	Account  string            `json:"account"`
	Params   map[string]string `json:"params,omitempty"`
	MaxBytes int64             `json:"maxBytes,omitempty"`
	IDs      []string          `json:"ids,omitempty"`
}

// request sends a request to the shard of account and gathers its answer.
// While no node of the shard listens, it is sent again every retryEvery,
// for noListener at most; a request no node has answered after hedgeAfter
// is sent again too (the node that took it may have stopped), and the
// first whole answer is taken. It gives up when ctx is done.
func (p *Peers) request(ctx context.Context, account, op string, data []byte) (m *nats.Msg, body []byte, err error) {
	target := p.shard.Of(account)
	p.counts.asked.of(op).Add(1)
	defer func() {
		var e *convops.Error
		if errors.As(err, &e) && e.Cause == convops.CauseShard {
			p.counts.unanswered.of(op).Add(1)
		}
	}()
	parts := make(chan *nats.Msg, 256)
	var tokens []string
	defer func() {
		p.mu.Lock()
		for _, t := range tokens {
			delete(p.waiting, t)
		}
		p.mu.Unlock()
	}()
	unanswered := func(why string) error {
		return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard, Message: fmt.Sprintf(
			"account %s belongs to shard %s, and no node of that shard answered in time (%s); retry in a moment", account, target, why)}
	}
	// Each sending has a token of its own, so that the parts of two
	// answers are never mixed.
	send := func() error {
		token := strconv.FormatUint(p.next.Add(1), 36)
		p.mu.Lock()
		p.waiting[token] = parts
		p.mu.Unlock()
		tokens = append(tokens, token)
		msg := nats.NewMsg(Subject(target))
		msg.Reply = p.inbox + "." + token
		msg.Data = data
		msg.Header.Set(opHeader, op)
		// The time left, not a time of day: the nodes' clocks may differ.
		if deadline, ok := ctx.Deadline(); ok {
			msg.Header.Set(timeoutHeader, strconv.FormatInt(max(time.Until(deadline).Milliseconds(), 1), 10))
		}
		if err := p.nc.PublishMsg(msg); err != nil {
			return unanswered("this node cannot reach NATS: " + err.Error())
		}
		return nil
	}
	if err := send(); err != nil {
		return nil, nil, err
	}
	again := time.NewTimer(hedgeAfter)
	defer again.Stop()
	// The parts of each answer so far, by token; an answer that misses a
	// part is dropped whole (the request is sent again after hedgeAfter).
	type partial struct {
		next   int
		body   []byte
		broken bool
	}
	answers := make(map[string]*partial)
	listened := false
	var silentSince time.Time // since when NATS has said no one listens
	for {
		select {
		case m := <-parts:
			if m.Header.Get(statusHeader) == "" && m.Header.Get("Status") == "503" {
				// NATS's own "no responders": no node of the shard
				// listens now. One may be starting: ask again, briefly.
				if silentSince.IsZero() {
					silentSince = time.Now()
				}
				if time.Since(silentSince) >= noListener {
					return nil, nil, unanswered("no node of it listens")
				}
				again.Reset(retryEvery)
				continue
			}
			listened, silentSince = true, time.Time{}
			// Parts are arriving: the request is not sent again while they do.
			again.Reset(hedgeAfter)
			token := m.Subject[len(p.inbox)+1:]
			a := answers[token]
			if a == nil {
				a = &partial{}
				answers[token] = a
			}
			if n, err := strconv.Atoi(m.Header.Get(partHeader)); err != nil || n != a.next {
				a.broken = true
			}
			if a.broken {
				continue
			}
			a.next++
			a.body = append(a.body, m.Data...)
			if m.Header.Get(moreHeader) == "" {
				return m, a.body, nil
			}
		case <-again.C:
			if err := send(); err != nil {
				return nil, nil, err
			}
			again.Reset(hedgeAfter)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, nil, ctx.Err()
			}
			if !listened {
				return nil, nil, unanswered("none listens, or the one that took the request stopped")
			}
			return nil, nil, unanswered("its answer stopped half-way")
		}
	}
}

// dispatch hands an answer's part to the request waiting for it.
func (p *Peers) dispatch(m *nats.Msg) {
	token := m.Subject[len(p.inbox)+1:]
	p.mu.Lock()
	parts := p.waiting[token]
	p.mu.Unlock()
	if parts == nil {
		return // its request has given up
	}
	select {
	case parts <- m:
	default:
		p.logger.Warn("dropping part of an answer from another shard: its request reads too slowly", "subject", m.Subject)
	}
}

// answer serves one request of the node's shard.
func (p *Peers) answer(local Local, m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	wait := maxWait
	if ms, err := strconv.ParseInt(m.Header.Get(timeoutHeader), 10, 64); err == nil && ms > 0 && ms < maxWait.Milliseconds() {
		wait = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(p.serveCtx, wait)
	defer cancel()
	var req request
	if err := json.Unmarshal(m.Data, &req); err != nil || len(req.IDs) > maxAwaitIDs {
		p.logger.Warn("ignoring a request of another node that cannot be read", "err", err, "ids", len(req.IDs))
		return
	}
	if !p.shard.Holds(req.Account) {
		// Only a node with a different idea of the shards sends these:
		// answering nothing lets it time out, and the log says why.
		p.logger.Warn("ignoring a request for an account of another shard", "shard", p.shard, "account", req.Account)
		return
	}
	var status int
	var body []byte
	var cause string
	switch m.Header.Get(opHeader) {
	case "query":
		var done func()
		status, body, cause, done = local.Answer(ctx, req.Account, req.Params, req.MaxBytes)
		defer done()
	case "version":
		status, body = http.StatusOK, strconv.AppendUint(nil, local.Version(req.Account), 10)
	case "await":
		out, err := local.Await(ctx, req.IDs)
		if err != nil {
			status, body, cause = encodeError(err)
		} else {
			status = http.StatusOK
			body, _ = json.Marshal(out)
		}
	default:
		p.logger.Warn("ignoring a request of an unknown kind", "op", m.Header.Get(opHeader))
		return
	}
	if ctx.Err() != nil {
		return // its asker has given up, or this node is stopping: it asks again elsewhere
	}
	p.counts.served.of(m.Header.Get(opHeader)).Add(1)
	p.reply(m.Reply, status, body, cause)
}

// reply sends an answer, in parts that each fit in a NATS message.
func (p *Peers) reply(to string, status int, body []byte, cause string) {
	limit := max(int(p.nc.MaxPayload())-1024, 1024) // room for the headers
	for n := 0; ; n++ {
		part := body[:min(len(body), limit)]
		body = body[len(part):]
		m := nats.NewMsg(to)
		m.Data = part
		m.Header.Set(statusHeader, strconv.Itoa(status))
		m.Header.Set(partHeader, strconv.Itoa(n))
		if cause != "" {
			m.Header.Set(causeHeader, cause)
		}
		if len(body) > 0 {
			m.Header.Set(moreHeader, "1")
		}
		if err := p.nc.PublishMsg(m); err != nil {
			p.logger.Warn("cannot answer a request of another node", "err", err)
			return
		}
		if len(body) == 0 {
			return
		}
	}
}

// wireError is a refusal as it crosses between nodes.
type wireError struct {
	Code      string              `json:"code"`
	Message   string              `json:"message"`
	Parameter string              `json:"parameter,omitempty"`
	Items     []convops.ItemError `json:"errors,omitempty"`
}

func encodeError(err error) (status int, body []byte, cause string) {
	var e *convops.Error
	if !errors.As(err, &e) {
		e = &convops.Error{Code: convops.EInternal, Message: "internal error"}
	}
	body, _ = json.Marshal(wireError{Code: e.Code, Message: e.Message, Parameter: e.Parameter, Items: e.Items})
	return http.StatusUnprocessableEntity, body, e.Cause
}

func decodeError(status int, body []byte, cause string) error {
	var w wireError
	if status != http.StatusUnprocessableEntity || json.Unmarshal(body, &w) != nil || w.Code == "" {
		return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard, Message: "a node of the account's shard gave an answer this node cannot read; retry in a moment"}
	}
	return &convops.Error{Code: w.Code, Message: w.Message, Parameter: w.Parameter, Items: w.Items, Cause: cause}
}
