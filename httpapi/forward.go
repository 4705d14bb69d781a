package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/convops/convops"
)

// Peers reaches the nodes of the shards this node does not hold (see
// package cluster).
type Peers interface {
	// Query returns the answer of a node of account's shard to a query of
	// account with params: its HTTP status and bytes, and the cause of a
	// 429 or 503; that node refuses an answer larger than maxBytes (when
	// more than 0). An error means no node of the shard answered in time.
	Query(ctx context.Context, account string, params map[string]string, maxBytes int64) (status int, body []byte, cause string, err error)
	// Version returns the version of account (Backend.Version) that a
	// node of its shard holds; it is the same on every node of the shard.
	Version(ctx context.Context, account string) (uint64, error)
}

// forward answers a query of an account of another shard with what a node
// of that shard answers, byte for byte.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, account string, params map[string]string) {
	status, body, cause, err := s.askPeers(r.Context(), account, params, 0)
	if err != nil && r.Context().Err() != nil {
		return // the client went away: no one reads an answer
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	// The answer is in memory here too: it counts against the budget
	// while it is sent.
	if !heldOf(r).take(int64(len(body))) {
		s.error(w, r, errBudget)
		return
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
		s.observeError(&convops.Error{Code: codeOf(status), Cause: cause})
	}
	writeJSON(w, status, body)
}

// askPeers asks a node of account's shard, within ForwardTimeout, for an
// answer of at most maxBytes (any size when 0).
func (s *Server) askPeers(ctx context.Context, account string, params map[string]string, maxBytes int64) (int, []byte, string, error) {
	if s.opts.Peers == nil {
		return 0, nil, "", s.unreachable(account)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ForwardTimeout)
	defer cancel()
	return s.opts.Peers.Query(ctx, account, params, maxBytes)
}

// unreachable is the refusal of a request for account without peers.
func (s *Server) unreachable(account string) error {
	return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard,
		Message: "account " + account + " belongs to shard " + s.opts.Shard.Of(account).String() + ", which this node cannot reach"}
}

// versionElsewhere asks a node of account's shard for its version.
func (s *Server) versionElsewhere(account string) (uint64, error) {
	if s.opts.Peers == nil {
		return 0, s.unreachable(account)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ForwardTimeout)
	defer cancel()
	return s.opts.Peers.Version(ctx, account)
}

// computeElsewhere is the answer of a watch of another shard's account, asked
// of a node of that shard, which refuses one larger than maxBytes. Watches
// ask one at a time (computeInSlot): answers of many streams asked at once
// would arrive together, faster than this node's NATS connection drains
// them.
func (h *watchHub) computeElsewhere(q convops.Query, params map[string]string, maxBytes int64) ([]byte, error) {
	status, body, cause, err := h.s.askPeers(context.Background(), q.Account, params, maxBytes)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, errorOf(status, body, cause)
	}
	h.computed.Add(1)
	return sseEvent("metrics", body), nil
}

// Answer is this node's answer to a query of account with params, as its
// HTTP API gives it: status and bytes, and the cause of a 429 or 503. The
// nodes of other shards ask for it. It takes a read slot of the account and
// room in the budget, as a request would; the room is held until done is
// called, once the answer is sent. An answer larger than maxBytes (when
// more than 0; the asking node's room for it) is refused as such.
func (s *Server) Answer(ctx context.Context, account string, params map[string]string, maxBytes int64) (status int, body []byte, cause string, done func()) {
	var out bufferWriter
	var err error
	var taken int64
	done = func() { s.budget.release(taken) }
	if ctx.Err() != nil {
		err = &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard, Message: "the request's time ran out before a node of its shard answered it; retry in a moment"}
	} else {
		err = s.answerInto(&out, account, params, maxBytes, &taken)
	}
	if err != nil {
		out = bufferWriter{}
		writeError(&out, s.opts.Logger, err)
		var e *convops.Error
		if errors.As(err, &e) {
			cause = e.Cause
		}
	}
	return out.status, out.body.Bytes(), cause, done
}

// answerInto writes the answer to out; what it takes from the budget is
// added to taken.
func (s *Server) answerInto(out *bufferWriter, account string, params map[string]string, maxBytes int64, taken *int64) error {
	q, err := convops.ParseQuery(account, params)
	if err != nil {
		return err
	}
	// An answer crosses NATS whole, and is held whole by the node that
	// asked: the largest are refused rather than flood both.
	limit := s.opts.MaxForwardedAnswer
	if maxBytes > 0 && maxBytes < limit {
		limit = maxBytes
	}
	now := s.nowMs()
	size := s.wholeAnswerSize(q, now)
	if size > limit {
		return s.tooLargeFor(q, size, limit, maxBytes)
	}
	release, err := s.takeSlot(convops.ScopeRead, account)
	if err != nil {
		return err
	}
	defer release()
	err = s.writeAnswer(out, q, now, size, func(n int64) bool {
		if !s.budget.acquire(n) {
			return false
		}
		*taken += n
		return true
	})
	// The estimate above may fall short of the JSON (ids and counts of
	// many digits).
	if size := int64(out.body.Len()); err == nil && size > limit {
		return s.tooLargeFor(q, size, limit, maxBytes)
	}
	return err
}

// tooLargeFor refuses an answer of size bytes past limit for a node of
// another shard: as too large to pass on, or, when the asker's own room
// (maxBytes) is what it passes, as one its streams cannot keep now.
func (s *Server) tooLargeFor(q convops.Query, size, limit, maxBytes int64) error {
	if limit == maxBytes && limit < s.opts.MaxForwardedAnswer {
		return noRoomForStream(q, size)
	}
	return tooLargeToForward(q, size, limit, s.opts.Shard.Of(q.Account))
}

// tooLargeToForward refuses an answer of size bytes for a node of another
// shard.
func tooLargeToForward(q convops.Query, size, limit int64, shard convops.Shard) error {
	return answerTooLarge(q, size, fmt.Sprintf("answers of accounts of another shard are passed on up to %s (a node of shard %s gives it whole)", sizeText(limit), shard))
}

// answerTooLarge refuses an answer of size bytes because of limit, which
// says what bounds it.
func answerTooLarge(q convops.Query, size int64, limit string) error {
	return &convops.Error{Code: convops.EInvalid, Parameter: widest(q), Message: fmt.Sprintf(
		"this answer takes about %s, and %s: ask for fewer skills, agents or intervals", sizeText(size), limit)}
}

// wholeAnswerSize is what an answer built whole as JSON holds (a metric
// stream's, one for another shard), where a query's answer is written out
// in pieces as it is built.
func (s *Server) wholeAnswerSize(q convops.Query, now int64) int64 {
	_, json := s.opts.Backend.AnswerSize(q, now)
	return json
}

// sizeText is n bytes in MiB, or KiB below one MiB, rounded up: a size
// just past a bound does not read as the bound.
func sizeText(n int64) string {
	if n > 1<<20 {
		return fmt.Sprintf("%d MiB", (n+1<<20-1)>>20)
	}
	return fmt.Sprintf("%d KiB", (n+1<<10-1)>>10)
}

// widest names the parameter that makes q's answer large.
func widest(q convops.Query) string {
	switch {
	case q.Interval > 0:
		return "interval"
	case q.Agents.Given:
		return "agentIds"
	case q.Skills.Given:
		return "skillIds"
	}
	return "timeframe"
}

// bufferWriter is an http.ResponseWriter that keeps the answer.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header {
	if b.header == nil {
		b.header = make(http.Header)
	}
	return b.header
}

func (b *bufferWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// codeOf is the error code of an HTTP status (statusOf backwards).
func codeOf(status int) string {
	for code, st := range statusOf {
		if st == status {
			return code
		}
	}
	return convops.EInternal
}

// errorOf reads an error answer back into the error it was written from.
func errorOf(status int, body []byte, cause string) error {
	var e errorBody
	json.Unmarshal(body, &e)
	return &convops.Error{Code: codeOf(status), Message: e.Message, Parameter: e.Parameter, Cause: cause}
}
