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
// the bodies read, the events decoded from them, the answers built. A
// request that would pass the cap is refused at once with 429: waiting for
// room would only pile requests up behind one another. The requests of one
// account hold at most half of it, so that one tenant's large or slow
// bodies cannot hold off the others.
type byteBudget struct {
	limit int64
	used  atomic.Int64
	// refused counts the requests turned away.
	refused atomic.Uint64

	mu       sync.Mutex
	accounts map[string]int64 // what each account's requests hold; guarded by mu
}

// DefaultMaxInflightBytes is the default of Options.MaxInflightBytes.
const DefaultMaxInflightBytes = 256 << 20

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

// held is what one request holds of the budget. It belongs to the
// request's goroutine.
type held struct {
	budget *byteBudget
	// account is the account the request's path names ("" for none).
	account string
	bytes   int64
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
	if !h.budget.acquireFor(h.account, n) {
		return false
	}
	h.bytes += n
	return true
}

// done gives back everything the request holds.
func (h *held) done() {
	h.budget.releaseFor(h.account, h.bytes)
	h.bytes = 0
}

type heldKey struct{}

// heldOf returns what the request holds; every request served has one.
func heldOf(r *http.Request) *held {
	if h, ok := r.Context().Value(heldKey{}).(*held); ok {
		return h
	}
	return &held{budget: &byteBudget{limit: 1 << 62}}
}

// errBudget is the answer to a request for which the budget has no room.
var errBudget = &convops.Error{Code: convops.ETooMany, Cause: convops.CauseMemory,
	Message: "the server holds as much request data as it allows at once (--max-inflight-bytes; the requests of one account at most half of it); retry in a second"}

// budgetBody is a request body whose every byte read counts against the
// budget, weight times over, beyond what the request reserved from its
// Content-Length.
type budgetBody struct {
	io.ReadCloser
	held     *held
	weight   int64
	read     int64
	reserved int64 // bytes of body already counted
}

func (b *budgetBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if over := b.read - b.reserved; over > 0 {
		if !b.held.take(over * b.weight) {
			return n, errBudget
		}
		b.reserved = b.read
	}
	return n, err
}

// ingestWeight is what a byte of an ingest body holds in all while the
// request is served: the body, the events decoded from it (an event of 64
// bytes and its ids), the log messages encoded from them, and their copies
// in the NATS client and server until they are stored. Measured with 16 MiB
// bodies of 140-byte events; a query body holds itself.
const ingestWeight = 5

// queryWeight is the same for a query body, which may be a form whose
// signature base holds each byte percent-encoded twice over (up to five
// bytes a byte), in several copies while it is built: a 1 MiB form was
// measured to peak at 20–38 MiB of heap. Query bodies are usually a few
// hundred bytes.
const queryWeight = 40

// drainTimeout bounds how long an early answer waits for the body it
// refuses; drainLimit how much of it is read.
const (
	drainTimeout = 10 * time.Second
	drainLimit   = 2 * convops.MaxBodyBytes
)

// drainBody reads and discards what is left of the request body before an
// answer is written. A client that sends its whole body before it reads
// the answer (Python's http.client, Java's HttpURLConnection) otherwise
// never sees an answer given early (401, 413, 429, 503): a connection closed
// with unread data is reset by its kernel, and the client reads "broken
// pipe". Discarded bytes hold no memory; a body longer than drainLimit, or
// slower than drainTimeout, is cut and its connection closed. A client that
// sent Expect: 100-continue has sent nothing yet and is not waited for.
func drainBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Expect") != "" {
		return
	}
	body := r.Body
	if h, ok := r.Context().Value(heldKey{}).(*held); ok {
		// What the request reserved (its Content-Length, weighted) is
		// given back before the wait: a refused body, discarded, holds
		// nothing, and must not hold off the other accounts' requests.
		h.done()
		if h.bodyCut {
			w.Header().Set("Connection", "close")
			return
		}
		if h.raw != nil {
			body = h.raw
		}
	}
	if r.ContentLength > drainLimit {
		w.Header().Set("Connection", "close")
		return
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(drainTimeout))
	n, err := io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	if err != nil || n == drainLimit {
		w.Header().Set("Connection", "close")
		return
	}
	rc.SetReadDeadline(time.Time{})
}

// withBudget starts the accounting of a request: its body counts against
// the budget as it is read (weighted by what it holds once decoded), the
// part its Content-Length announces at once, so that a request too large
// for the room left is refused before a byte is read.
func (s *Server) withBudget(w http.ResponseWriter, r *http.Request) (*http.Request, *held, error) {
	h := &held{budget: s.budget, account: accountOfPath(r.URL.Path), raw: r.Body}
	r = r.WithContext(context.WithValue(r.Context(), heldKey{}, h))
	if r.Body == nil || r.Body == http.NoBody {
		return r, h, nil
	}
	weight := int64(1)
	switch {
	case strings.HasPrefix(r.URL.Path, "/ingest/"):
		weight = ingestWeight
	case isQueryPath(r.URL.Path):
		weight = queryWeight
	}
	reserved := max(r.ContentLength, 0)
	if reserved > convops.MaxBodyBytes {
		reserved = 0 // refused as too large when it is read; nothing is held
	}
	if !h.take(reserved * weight) {
		return r, h, errBudget
	}
	r.Body = &budgetBody{ReadCloser: r.Body, held: h, weight: weight, reserved: reserved}
	return r, h, nil
}

// accountOfPath is the account a request's path names, or "".
func accountOfPath(p string) string {
	for _, prefix := range []string{"/ingest/account/", "/operations/api/account/", "/api/account/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			account, _, _ := strings.Cut(rest, "/")
			return account
		}
	}
	return ""
}

// isBudget reports whether err says the budget had no room.
func isBudget(err error) bool {
	var e *convops.Error
	return errors.As(err, &e) && e == errBudget
}
