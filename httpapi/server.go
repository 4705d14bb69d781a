// Package httpapi serves the HTTP API of convops: the Messaging Conversation
// query (GET and POST), event ingest, domain discovery, and health checks. Every
// answer that is not 2xx is a JSON error body.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/answerjson"
	"github.com/convops/convops/connlimit"
	"github.com/convops/convops/eventjson"
	"github.com/convops/convops/liveperson"
)

// Backend is what the HTTP layer needs from a node.
type Backend interface {
	Ingest(ctx context.Context, account string, now int64, events []convops.Event) (convops.Outcome, error)
	Query(q convops.Query, now int64) (convops.Result, error)
	// AnswerSize bounds what the answer of q takes, before it is built: in
	// memory, and as JSON when it is held whole.
	AnswerSize(q convops.Query, now int64) (memory, json int64)
	// Version changes whenever data is added to the account; watchers of
	// its metrics recompute only when it, or their window, has moved.
	Version(account string) uint64
	IsReady() bool
}

// Authenticator checks the credentials of a request for an account and scope.
// It returns a *convops.Error with EUnauthorized or EForbidden when they do not
// suffice.
type Authenticator interface {
	Authenticate(r *http.Request, account, scope string) error
}

// Options configure a Server.
type Options struct {
	Backend Backend
	// Auth checks credentials; nil accepts every request.
	Auth Authenticator
	// Now is the data clock (the "now" of queries and of ingest validation).
	Now    func() time.Time
	Logger *slog.Logger
	// PublicURL is the scheme and host clients use ("https://convops.example.com:8443");
	// domain discovery answers with its host. Empty: the request's Host.
	PublicURL string
	// AllowedHosts are the hosts (without port) the server answers for
	// when PublicURL is empty (see AllowedHosts); a request for another
	// gets 421. Empty: any host.
	AllowedHosts []string
	// IngestTimeout bounds how long an ingest waits for the log and the fold.
	IngestTimeout time.Duration
	// MaxInflightPerAccount caps the requests of one account served at once
	// (default 10); MaxInflight caps all of them (default 1024).
	MaxInflightPerAccount int
	MaxInflight           int
	// MaxInflightBytes caps the memory requests in flight hold together:
	// bodies, decoded events, answers (DefaultMaxInflightBytes when zero).
	MaxInflightBytes int64
	// MaxUnauthenticatedBytes caps what the bodies read before their
	// requests' credentials are checked hold together, apart from
	// MaxInflightBytes (DefaultMaxUnauthenticatedBytes when zero).
	MaxUnauthenticatedBytes int64
	// MaxStreams caps the metric streams open at once (default 1024), and
	// MaxStreamsPerAccount those of one account (default 100).
	MaxStreams           int
	MaxStreamsPerAccount int
	// StreamKeepAlive is how often a quiet stream sends a comment line
	// (default 10 s; the contract asks for at least every 15 s).
	StreamKeepAlive time.Duration
	// Observer is told of every answer, for the metrics; nil tells no one.
	Observer Observer
	// Dashboard serves the wallboard's files under /dashboard/, without
	// credentials (its API calls carry the key the user enters); nil leaves
	// the path unserved.
	Dashboard http.Handler
	// Shard is the part of the accounts this node holds (all by default);
	// requests for the others go to Peers, which must then be set, and
	// wait for its answer at most ForwardTimeout (10 s when zero).
	Shard          convops.Shard
	Peers          Peers
	ForwardTimeout time.Duration
	// MaxForwardedAnswer bounds an answer given to a node of another shard
	// (DefaultMaxForwardedAnswer when zero).
	MaxForwardedAnswer int64
	// Metrics serves GET /metrics (Prometheus's text format), without
	// credentials; nil leaves the path unserved.
	Metrics http.Handler
}

// DefaultMaxForwardedAnswer is the default of Options.MaxForwardedAnswer:
// under half of a NATS server's default pending limit per connection (64
// MiB), past which it cuts the asking node's connection.
const DefaultMaxForwardedAnswer = 24 << 20

// Server is the HTTP handler of convops.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	limiter *inflightLimiter
	budget  *byteBudget
	// unauthenticated holds the bodies read before credentials are
	// checked (see held).
	unauthenticated *byteBudget
	observer        Observer
	watches         *watchHub
}

// New returns a Server with its routes registered.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IngestTimeout == 0 {
		opts.IngestTimeout = 30 * time.Second
	}
	if opts.MaxInflightPerAccount <= 0 {
		opts.MaxInflightPerAccount = 10
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 1024
	}
	if opts.MaxInflightBytes <= 0 {
		opts.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if opts.MaxUnauthenticatedBytes <= 0 {
		opts.MaxUnauthenticatedBytes = DefaultMaxUnauthenticatedBytes
	}
	if opts.ForwardTimeout <= 0 {
		opts.ForwardTimeout = 10 * time.Second
	}
	if opts.MaxForwardedAnswer <= 0 {
		opts.MaxForwardedAnswer = DefaultMaxForwardedAnswer
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 1024
	}
	if opts.MaxStreamsPerAccount <= 0 {
		opts.MaxStreamsPerAccount = 100
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), limiter: newInflightLimiter(opts.MaxInflightPerAccount, opts.MaxInflight),
		budget: &byteBudget{limit: opts.MaxInflightBytes}, unauthenticated: &byteBudget{limit: opts.MaxUnauthenticatedBytes}, observer: opts.Observer}
	if s.observer == nil {
		s.observer = noObserver{}
	}
	s.watches = newWatchHub(s)

	const query = "/operations/api/account/{accountID}/msgconversation"
	const ingest = "/ingest/account/{accountID}/events"
	s.handle("GET "+query, s.authorized(convops.ScopeRead, s.handleQuery))
	s.handle("POST "+query, s.authorized(convops.ScopeRead, s.handleQuery))
	s.handle(query, s.methodNotAllowed("GET, HEAD, POST"))
	s.handle("GET "+query+"/stream", s.authenticated(convops.ScopeRead, s.handleStream))
	s.handle(query+"/stream", s.methodNotAllowed("GET, HEAD"))
	s.handle("POST "+ingest, s.authorized(convops.ScopeWrite, s.handleIngest))
	s.handle(ingest, s.methodNotAllowed("POST"))
	const livePerson = "/ingest/account/{accountID}/liveperson/conversations"
	s.handle("POST "+livePerson, s.authorized(convops.ScopeWrite, s.handleLivePerson))
	s.handle(livePerson, s.methodNotAllowed("POST"))

	const discoverOne = "/api/account/{accountID}/service/{service}/baseURI.json"
	const discoverAll = "/api/account/{accountID}/service/baseURI.json"
	s.handle("GET "+discoverOne, s.handleDiscoverOne)
	s.handle(discoverOne, s.methodNotAllowed("GET, HEAD"))
	s.handle("GET "+discoverAll, s.handleDiscoverAll)
	s.handle(discoverAll, s.methodNotAllowed("GET, HEAD"))

	s.handle("GET /healthz", s.handleHealth)
	s.handle("/healthz", s.methodNotAllowed("GET, HEAD"))
	s.handle("GET /readyz", s.handleReady)
	s.handle("/readyz", s.methodNotAllowed("GET, HEAD"))
	if opts.Metrics != nil {
		s.handle("GET /metrics", opts.Metrics.ServeHTTP)
		s.handle("/metrics", s.methodNotAllowed("GET, HEAD"))
	}
	s.handle("GET /openapi.json", s.handleOpenAPI)
	s.handle("/openapi.json", s.methodNotAllowed("GET, HEAD"))
	if opts.Dashboard != nil {
		s.handle("GET /dashboard/", opts.Dashboard.ServeHTTP)
		s.handle("GET /dashboard", redirect(http.StatusPermanentRedirect, "/dashboard/", "the wallboard is at /dashboard/"))
		s.handle("/dashboard/", s.methodNotAllowed("GET, HEAD"))
		// A browser opening the server's address finds the wallboard;
		// 302, not 308, so that / may one day mean something else.
		s.handle("GET /{$}", redirect(http.StatusFound, "/dashboard/", "the wallboard is at /dashboard/; the query API at /operations/api/account/{accountID}/msgconversation"))
		// Browsers ask for it whatever the page says.
		s.handle("GET /favicon.ico", redirect(http.StatusPermanentRedirect, "/dashboard/favicon.svg", "the icon is at /dashboard/favicon.svg"))
	}
	s.handle("/", func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, convops.Errorf(convops.ENotFound, "there is no %s; the query API is GET or POST /operations/api/account/{accountID}/msgconversation", r.URL.Path))
	})
	return s
}

// redirect answers with a redirect to the path to, its body JSON as every
// answer's.
func redirect(code int, to, message string) http.HandlerFunc {
	body, _ := json.Marshal(errorBody{Code: code, Message: message})
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", to)
		writeJSON(w, code, body)
	}
}

func headerBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	return n
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
}

// MaxHeaderBytes bounds the request headers (names and values) of a request.
const MaxHeaderBytes = 64 << 10

// ServeHTTP serves a request; a panic in a handler becomes a JSON 500 and a
// log line, never a dropped connection.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	began := time.Now()
	rec := &recorder{ResponseWriter: rw}
	var w http.ResponseWriter = rec
	// r is the request as last replaced below: the one the mux routed.
	defer func() { s.observe(rec, r, began) }()
	if headerBytes(r.Header) > MaxHeaderBytes {
		closeConnection(w, r)
		s.error(w, r, &convops.Error{Code: eHeaderTooLarge, Message: "the request headers are larger than 64 KiB"})
		return
	}
	if err := s.cleanRequest(w, r); err == errAnswered {
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	if r.ContentLength > bodyLimit(r) {
		s.error(w, r, tooLarge(bodyLimit(r)))
		return
	}
	r, held := s.withBudget(r)
	defer held.done()
	limitBody(w, r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.opts.Logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
			s.error(w, r, convops.Errorf(convops.EInternal, "internal error"))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// error answers r with the JSON form of err, after reading what is left of
// its body (see drainBody).
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	s.observeError(err)
	drainBody(w, r)
	writeError(w, s.opts.Logger, err)
}

func (s *Server) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		s.error(w, r, convops.Errorf(eMethod, "%s is not allowed here; use %s", r.Method, allow))
	}
}

// authorized validates the path's account, checks credentials, and takes an
// in-flight slot of the account before h. The account id is checked first so
// that a malformed one is a 400 whatever the credentials; a 401 or 403 never
// says whether an account has data. Slots are taken only by authenticated
// requests, so a stranger cannot use up an account's share.
func (s *Server) authorized(scope string, h http.HandlerFunc) http.HandlerFunc {
	return s.authenticated(scope, func(w http.ResponseWriter, r *http.Request) {
		release, err := s.takeSlot(scope, r.PathValue("accountID"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		defer release()
		h(w, r)
	})
}

// authenticated validates the path's account and checks credentials before
// h; it takes no in-flight slot (see authorized).
func (s *Server) authenticated(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		account := r.PathValue("accountID")
		if err := convops.ValidateAccountID(account); err != nil {
			s.error(w, r, err)
			return
		}
		if s.opts.Auth != nil {
			if err := s.opts.Auth.Authenticate(r, account, scope); err != nil {
				var ce *convops.Error
				if !errors.As(err, &ce) {
					err = bodyError(r, err) // the signed form could not be read
				}
				s.error(w, r, err)
				return
			}
		}
		// Only now does the request count in its account's share, and
		// only now can it learn anything of the account's load; its
		// connection is kept as long as any other (see connlimit).
		if !heldOf(r).authenticate(account) {
			s.error(w, r, errBudget)
			return
		}
		connlimit.MarkAuthenticated(r.Context())
		h(w, r)
	}
}

func scopeWord(scope string) string {
	if scope == convops.ScopeWrite {
		return "ingest"
	}
	return "query"
}

func (s *Server) nowMs() int64 { return s.opts.Now().UnixMilli() }

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if !s.opts.Backend.IsReady() {
		s.error(w, r, &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseStarting, Message: "not ready: the server is replaying its event log"})
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`))
}

// takeSlot takes one of the account's in-flight slots of scope, or says
// why not. Reads and writes have slots of their own: a read key cannot
// hold off the account's writers.
func (s *Server) takeSlot(scope, account string) (release func(), err error) {
	slot := scope + "\x00" + account
	if !s.limiter.acquire(slot) {
		return nil, &convops.Error{Code: convops.ETooMany, Cause: convops.CauseInflight, Message: fmt.Sprintf(
			"too many %s requests of account %s are in flight (at most %d at once); retry in a second", scopeWord(scope), account, s.opts.MaxInflightPerAccount)}
	}
	return func() { s.limiter.release(slot) }, nil
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) {
	q, params, err := parseQuery(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if !s.opts.Shard.Holds(q.Account) {
		s.forward(w, r, q.Account, params)
		return
	}
	now := s.nowMs()
	size, _ := s.opts.Backend.AnswerSize(q, now)
	if err := s.writeAnswer(w, q, now, size, heldOf(r).take); err != nil {
		s.error(w, r, err)
	}
}

// writeAnswer answers q at now; size, what building the answer holds, is
// taken from the budget by take first. An answer larger than the whole
// budget is refused as such: retrying would not help.
func (s *Server) writeAnswer(w http.ResponseWriter, q convops.Query, now, size int64, take func(int64) bool) error {
	// What the answer holds as it is built, and the buffer it is written
	// through; more than an account's requests may hold never fits.
	size += answerjson.BufferBytes
	if most := s.opts.MaxInflightBytes / 2; size > most {
		return answerTooLarge(q, size, fmt.Sprintf("the requests of one account hold at most %s at once (half of --max-inflight-bytes)", sizeText(most)))
	}
	if !take(size) {
		return errBudget
	}
	res, err := s.opts.Backend.Query(q, now)
	if err != nil {
		return err
	}
	// The answer is streamed: headers first, then the JSON in 64 KiB pieces.
	// A client that goes away mid-answer ends the writing at once.
	writeJSONHeader(w, http.StatusOK)
	answerjson.Write(w, &q, &res)
	return nil
}

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	ndjson, err := ingestFormat(r.Header.Get("Content-Type"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	body, done, err := readIngestBody(r)
	if err != nil {
		done()
		s.error(w, r, err)
		return
	}
	now := s.nowMs()
	events, err := eventjson.Decode(body, ndjson, now)
	done()
	if err != nil {
		s.refuseInvalid(w, r, err)
		return
	}
	if out, ok := s.ingest(w, r, now, events, nil); ok {
		resp, _ := json.Marshal(out)
		writeJSON(w, http.StatusOK, resp)
	}
}

// refuseInvalid answers an ingest whose body is refused, counting its
// events for the metrics.
func (s *Server) refuseInvalid(w http.ResponseWriter, r *http.Request, err error) {
	var e *convops.Error
	if errors.As(err, &e) && e.Events > 0 {
		s.observer.EventsRefused("invalid", e.Events)
	}
	s.error(w, r, err)
}

// ingest stores validated events of the path's account; when it returns
// false, the request has been answered (or its client has gone). remap,
// when set, rewrites a refusal of the events for the body they came from.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, now int64, events []convops.Event, remap func(*convops.Error) *convops.Error) (convops.Outcome, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.IngestTimeout)
	defer cancel()
	out, err := s.opts.Backend.Ingest(ctx, r.PathValue("accountID"), now, events)
	if err != nil && r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away: no one reads an answer. Its events may be
		// stored; sending them again counts none twice.
		return out, false
	}
	if err != nil {
		switch convops.ErrorCode(err) {
		case convops.EInvalid:
			s.observer.EventsRefused("bounds", len(events))
		case convops.EUnavailable:
			s.observer.EventsRefused("unavailable", len(events))
		}
		var e *convops.Error
		if remap != nil && errors.As(err, &e) && len(e.Items) > 0 {
			err = remap(e)
		}
		s.error(w, r, err)
		return out, false
	}
	s.observer.Ingested(out.Accepted, out.Duplicates)
	return out, true
}

// LivePersonOutcome is the answer to a page of LivePerson conversations:
// the ingest's, and the records skipped because they are not closed.
type LivePersonOutcome struct {
	convops.Outcome
	Skipped int `json:"skipped"`
}

// handleLivePerson serves POST /ingest/account/{accountID}/liveperson/conversations:
// a page of LivePerson's conversations/search results (docs/api.md, section 3).
func (s *Server) handleLivePerson(w http.ResponseWriter, r *http.Request) {
	if ndjson, err := ingestFormat(r.Header.Get("Content-Type")); err != nil || ndjson {
		s.error(w, r, &convops.Error{Code: eMediaType, Parameter: "Content-Type",
			Message: `send a page of conversations/search results as application/json: {"conversationHistoryRecords": [...]}, or an array of records`})
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.nowMs()
	page, err := liveperson.Convert(body, now)
	if err != nil {
		s.refuseInvalid(w, r, err)
		return
	}
	if out, ok := s.ingest(w, r, now, page.Events, page.Remap); ok {
		resp, _ := json.Marshal(LivePersonOutcome{Outcome: out, Skipped: page.Skipped})
		writeJSON(w, http.StatusOK, resp)
	}
}
