package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/convops/convops"
)

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
	// Asked: requests this node sent to other shards; Resent: how many
	// times they were sent again (no node of the shard listened, or none
	// answered in time); Unanswered: those no node of the shard answered
	// in time.
	Asked, Resent, Unanswered map[string]uint64
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

type stats struct{ asked, resent, unanswered, served counter }

// Stats returns the counts.
func (p *Peers) Stats() Stats {
	return Stats{Asked: p.counts.asked.read(), Resent: p.counts.resent.read(), Unanswered: p.counts.unanswered.read(), Served: p.counts.served.read()}
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
// first whole answer is taken. It gives up when ctx is done. It is one
// loop over one select, whose cases share what was heard of each sending
// (its parts, whether any node listens): cut in pieces, that state would
// be passed from each to the next.
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
			p.counts.resent.of(op).Add(1)
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
