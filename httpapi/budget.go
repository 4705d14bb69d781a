package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convops/convops"
)

// byteBudget caps the memory that requests in flight hold, all together:
// the bodies read, the events decoded from them, the answers built, and
// the answers metric streams keep (see watchHub). A request that would
// pass the cap is refused at once with 429: waiting for room would only
// pile requests up behind one another. The requests and streams of one
// account hold at most half of it, so that one tenant's large or slow
// bodies cannot hold off the others. (Bodies read before their requests'
// credentials are checked are held of a budget of their own: see held.)
type byteBudget struct {
	limit int64
	used  atomic.Int64
	// refused counts the requests turned away.
	refused atomic.Uint64

	mu       sync.Mutex
	accounts map[string]int64 // what each account's requests hold; guarded by mu
}

// Defaults of Options.MaxInflightBytes and MaxUnauthenticatedBytes. The
// second is small: only a signed form is read before its credentials are
// checked, and a query's parameters fit in a few KiB (the largest form,
// 1 MiB, holds 8 MiB: queryWeight).
const (
	DefaultMaxInflightBytes        = 256 << 20
	DefaultMaxUnauthenticatedBytes = 8 << 20
)

func (b *byteBudget) acquire(n int64) bool {
	if n <= 0 {
		return true
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		b.refused.Add(1)
		return false
	}
	return true
}

func (b *byteBudget) release(n int64) { b.used.Add(-n) }

// acquireFor is acquire for a request of account ("" for none), within the
// account's half.
func (b *byteBudget) acquireFor(account string, n int64) bool {
	if account == "" || n <= 0 {
		return b.acquire(n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.accounts[account]+n > b.limit/2 {
		b.refused.Add(1)
		return false
	}
	if !b.acquire(n) {
		return false
	}
	if b.accounts == nil {
		b.accounts = make(map[string]int64)
	}
	b.accounts[account] += n
	return true
}

// releaseFor gives back what acquireFor took.
func (b *byteBudget) releaseFor(account string, n int64) {
	if account == "" || n <= 0 {
		b.release(n)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.accounts[account] -= n; b.accounts[account] <= 0 {
		delete(b.accounts, account)
	}
	b.release(n)
}

// held is what one request holds of the budgets. It belongs to the
// request's goroutine.
//
// A request pays for its body as the bytes arrive, never for what its
// Content-Length announces: a client that announces much and sends little
// holds nothing. Bytes read before the request's credentials are checked
// (a signed form is read to check its signature) are paid from a small pool
// of their own, so that no one without a key can take the room of the
// accounts; once the credentials are good, they move to the account's share.
type held struct {
	budget *byteBudget
	// unauthenticated is the pool of the bytes read before authentication.
	unauthenticated *byteBudget
	// account is the account whose share the request holds, set once its
	// credentials are checked ("" before).
	account       string
	authenticated bool
	bytes         int64 // held of budget
	early         int64 // held of unauthenticated
	// raw is the request's body as the server gave it, for drainBody:
	// bytes discarded are neither held nor limited.
	raw io.ReadCloser
	// bodyCut says the body is not worth waiting for (it came too
	// slowly): the answer closes the connection instead of draining it.
	bodyCut bool
}

// take adds n bytes to what the request holds; false when the budget has
// no room for them.
func (h *held) take(n int64) bool {
	if n <= 0 {
		return true
	}
	if !h.authenticated {
		if !h.unauthenticated.acquire(n) {
			return false
		}
		h.early += n
		return true
	}
	if !h.budget.acquireFor(h.account, n) {
		return false
	}
	h.bytes += n
	return true
}

// authenticate says the request's credentials hold for account: what it
// read before moves from the pool of unauthenticated bytes to the
// account's share. False when that share has no room for it.
func (h *held) authenticate(account string) bool {
	if h.authenticated {
		return true
	}
	h.authenticated, h.account = true, account
	early := h.early
	h.unauthenticated.release(early)
	h.early = 0
	return h.take(early)
}

// done gives back everything the request holds.
func (h *held) done() {
	h.budget.releaseFor(h.account, h.bytes)
	h.bytes = 0
	if h.unauthenticated != nil {
		h.unauthenticated.release(h.early)
	}
	h.early = 0
}

type heldKey struct{}

// heldOf returns what the request holds; every request served has one.
func heldOf(r *http.Request) *held {
	if h, ok := r.Context().Value(heldKey{}).(*held); ok {
		return h
	}
	unlimited := &byteBudget{limit: 1 << 62}
	return &held{budget: unlimited, unauthenticated: unlimited, authenticated: true}
}

// errBudget is the answer to a request for which the budget has no room;
// errEarlyBudget to one whose body, read before its credentials are
// checked, finds no room in the pool of such bytes.
var (
	errBudget = &convops.Error{Code: convops.ETooMany, Cause: convops.CauseMemory,
		Message: "the server holds as much request data as it allows at once (--max-inflight-bytes; the requests of one account at most half of it); retry in a second"}
	errEarlyBudget = &convops.Error{Code: convops.ETooMany, Cause: convops.CauseMemory,
		Message: "the server holds as many request bodies not yet authenticated as it allows (--max-unauthenticated-bytes); retry in a second"}
)

// budgetBody is a request body whose every byte read counts against the
// budget, weight times over, as it is read.
type budgetBody struct {
	io.ReadCloser
	held   *held
	weight int64
}

func (b *budgetBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.held.take(int64(n) * b.weight) {
		if !b.held.authenticated {
			return n, errEarlyBudget
		}
		return n, errBudget
	}
	return n, err
}

// ingestWeight is what a byte of an ingest body holds in all while the
// request is served: the body, the events decoded from it (an event of 64
// bytes and its ids), the log messages encoded from them, and their copies
// in the NATS client and server until they are stored. Measured with 16 MiB
// bodies of 140-byte events; a query body holds itself.
const ingestWeight = 5

// queryWeight is the same for a query body, which may be a form read for
// its signature before its credentials are checked, then read again by
// the handler: a forged 1 MiB form allocated 5.2 MiB while its signature
// was checked (BenchmarkSignedForm in package auth), and the handler's
// reading and parsing as much again at most, some of it garbage by then.
// Query bodies are usually a few hundred bytes.
const queryWeight = 8

// drainTimeout bounds how long an early answer waits for the body it
// refuses, drainGrace how long it waits before the body must come at
// MinBodyRate (a client that writes its whole body before it reads sends
// as fast as it can), and drainLimit how much of it is read.
const (
	drainTimeout = 10 * time.Second
	drainGrace   = 2 * time.Second
	drainLimit   = 2 * convops.MaxBodyBytes
)

// drainBody reads and discards what is left of the request body before an
// answer is written. A client that sends its whole body before it reads
// the answer (Python's http.client, Java's HttpURLConnection) otherwise
// never sees an answer given early (401, 413, 429, 503): a connection closed
// with unread data is reset by its kernel, and the client reads "broken
// pipe". Discarded bytes hold no memory; a body longer than drainLimit,
// slower than drainTimeout, or behind MinBodyRate after drainGrace, is cut
// and its connection closed. A client that sent Expect: 100-continue has
// sent nothing yet and is not waited for; nor is one over HTTP/2, whose
// streams end on their own while the connection goes on.
func drainBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	body := r.Body
	if h, ok := r.Context().Value(heldKey{}).(*held); ok {
		// What the request holds (its body read so far, weighted) is
		// given back before the wait: a refused body, discarded, holds
		// nothing, and must not hold off the other accounts' requests.
		h.done()
		if h.bodyCut {
			closeConnection(w, r)
			return
		}
		if h.raw != nil {
			body = h.raw
		}
	}
	if r.Header.Get("Expect") != "" || r.ProtoMajor >= 2 {
		return
	}
	if r.ContentLength > drainLimit {
		closeConnection(w, r)
		return
	}
	paced := pace(body, w, drainGrace)
	paced.until = paced.begun.Add(drainTimeout)
	n, err := io.Copy(io.Discard, io.LimitReader(paced, drainLimit))
	if err != nil || n == drainLimit {
		closeConnection(w, r)
		return
	}
	paced.rc.SetReadDeadline(time.Time{})
}

// closeConnection closes r's connection once its answer is written: over
// HTTP/1. Over HTTP/2 the connection carries other requests' streams (a
// "Connection: close" there would end them all), and r's own stream ends
// with its answer.
func closeConnection(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor < 2 {
		w.Header().Set("Connection", "close")
	}
}

// withBudget starts the accounting of a request: its body counts against
// the budgets as it is read, weighted by what it holds once decoded.
func (s *Server) withBudget(r *http.Request) (*http.Request, *held) {
	h := &held{budget: s.budget, unauthenticated: s.unauthenticated, raw: r.Body}
	r = r.WithContext(context.WithValue(r.Context(), heldKey{}, h))
	if r.Body == nil || r.Body == http.NoBody {
		return r, h
	}
	weight := int64(1)
	switch {
	case strings.HasPrefix(r.URL.Path, "/ingest/"):
		weight = ingestWeight
	case isQueryPath(r.URL.Path):
		weight = queryWeight
	}
	r.Body = &budgetBody{ReadCloser: r.Body, held: h, weight: weight}
	return r, h
}

// isBudget reports whether err says the budget had no room.
func isBudget(err error) bool {
	var e *convops.Error
	return errors.As(err, &e) && (e == errBudget || e == errEarlyBudget)
}
