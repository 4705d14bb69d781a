// Package client talks to a convops server over its HTTP API, with a bearer
// token or an OAuth 1.0a key, and retries what may be retried: a query, and
// an ingest (which is idempotent), are sent again after a 408, 429, 502,
// 503 or 504 and after a network error (a refused or cut connection, a
// timeout); never after a refusal that would come again (a 400, bad
// credentials, a bad URL or certificate).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dghubble/oauth1"
)

// OAuth1 is a LivePerson-style API key: consumer key and secret, token and
// token secret.
type OAuth1 struct {
	ConsumerKey, ConsumerSecret, Token, TokenSecret string
}

// Client is a convops API client.
type Client struct {
	// BaseURL is the server's scheme and host ("http://127.0.0.1:8080").
	BaseURL string
	// Token is a bearer token; OAuth1, when set, signs requests instead.
	Token  string
	OAuth1 *OAuth1
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
	// Attempts is how many times a request that may be retried is sent
	// (default 8). Between two, the client waits Backoff (default 250 ms),
	// doubled each time up to 10 s, each wait drawn between half and one and
	// a half times that; or what Retry-After says when that is longer (at
	// most a minute).
	Attempts int
	Backoff  time.Duration
	// OnRetry, when set, is told of each retry and why.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// Error is a non-2xx answer of the server.
type Error struct {
	Status    int         `json:"code"`
	Message   string      `json:"message"`
	Parameter string      `json:"parameter,omitempty"`
	Errors    []ItemError `json:"errors,omitempty"`
	// RetryAfter is what the Retry-After header said (0 when absent).
	RetryAfter time.Duration `json:"-"`
}

// ItemError is the problem of one event of an ingest request.
type ItemError struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Parameter != "" {
		return fmt.Sprintf("%d: %s (parameter %s)", e.Status, e.Message, e.Parameter)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Message)
}

// Retryable says whether sending the same request again may succeed: the
// server was busy or starting, or a proxy in front of it could not reach it.
func (e *Error) Retryable() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusRequestTimeout,
		http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Outcome is the answer of an ingest.
type Outcome struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Skipped    int `json:"skipped,omitempty"`
}

// QueryJSON asks for the Messaging Conversation metrics of account and
// returns the answer's JSON as the server wrote it. params holds the API's
// parameters (timeframe, v, skillIds, agentIds, interval); v defaults to 1.
// Metrics gives the answer typed.
func (c *Client) QueryJSON(ctx context.Context, account string, params url.Values) ([]byte, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	if q.Get("v") == "" {
		q.Set("v", "1")
	}
	u := c.url("/operations/api/account/"+url.PathEscape(account)+"/msgconversation") + "?" + q.Encode()
	return c.do(ctx, http.MethodGet, u, "", nil)
}

// Metrics asks for the Messaging Conversation metrics of account, and
// returns the typed answer. It is asked again on a 429, a 503 or a network
// error.
func (c *Client) Metrics(ctx context.Context, account string, q Query) (*Answer, error) {
	b, err := c.QueryJSON(ctx, account, q.Values())
	if err != nil {
		return nil, err
	}
	var a Answer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("the server's answer is not a Messaging Conversation answer: %w", err)
	}
	return &a, nil
}

// Event is a conversation-resolved event, as IngestEvents sends it.
type Event struct {
	ConversationID string
	// EventID is the idempotency key; the conversation id when empty.
	EventID string
	// Skill and Agent are ids, nil when there is none.
	Skill, Agent *int64
	// ResolvedBy is CCP (the agent), CONSUMER or SYSTEM.
	ResolvedBy   string
	ResolvedAt   time.Time
	HandlingTime time.Duration
}

// MarshalJSON writes the event as the ingest API reads it.
func (e Event) MarshalJSON() ([]byte, error) {
	type wire struct {
		ConversationID string `json:"conversationId"`
		EventID        string `json:"eventId,omitempty"`
		Skill          *int64 `json:"skillId,omitempty"`
		Agent          *int64 `json:"agentId,omitempty"`
		ResolvedBy     string `json:"resolvedBy"`
		ResolvedAt     int64  `json:"resolvedAt"`
		HandlingTimeMs int64  `json:"handlingTimeMs"`
	}
	return json.Marshal(wire{e.ConversationID, e.EventID, e.Skill, e.Agent, e.ResolvedBy, e.ResolvedAt.UnixMilli(), e.HandlingTime.Milliseconds()})
}

// DefaultBatch is how many events IngestEvents sends per request.
const DefaultBatch = 5000

// IngestEvents sends events of account in requests of batch events
// (DefaultBatch when 0), each sent again on a 429, 503 or network error,
// and returns what the server made of them all. On an error, the outcome
// is that of the requests before it; the events of those after it were
// not sent.
func (c *Client) IngestEvents(ctx context.Context, account string, events []Event, batch int) (Outcome, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	var total Outcome
	for start := 0; start < len(events); start += batch {
		body, err := json.Marshal(events[start:min(start+batch, len(events))])
		if err != nil {
			return total, err
		}
		out, err := c.Ingest(ctx, account, body, false)
		if err != nil {
			var apiErr *Error
			if errors.As(err, &apiErr) {
				for i := range apiErr.Errors {
					apiErr.Errors[i].Index += start // the event's place in events
				}
			}
			return total, err
		}
		total.Accepted += out.Accepted
		total.Duplicates += out.Duplicates
	}
	return total, nil
}

// Discover asks the server at BaseURL where account's API is, as
// LivePerson's clients ask LivePerson's domain API, and points BaseURL
// there (its scheme and path kept). The question carries no credentials:
// it needs none. Call it before sharing the client between goroutines.
func (c *Client) Discover(ctx context.Context, account string) error {
	base, err := url.Parse(c.BaseURL)
	if err != nil || base.Host == "" {
		return fmt.Errorf("BaseURL %q is not an absolute URL", c.BaseURL)
	}
	anon := &Client{BaseURL: c.BaseURL, HTTP: c.HTTP, Attempts: c.Attempts, Backoff: c.Backoff, OnRetry: c.OnRetry}
	u := anon.url("/api/account/" + url.PathEscape(account) + "/service/leDataReporting/baseURI.json?version=1.0")
	b, err := anon.do(ctx, http.MethodGet, u, "", nil)
	if err != nil {
		return err
	}
	var d struct {
		BaseURI string `json:"baseURI"`
	}
	if err := json.Unmarshal(b, &d); err != nil || d.BaseURI == "" || strings.ContainsAny(d.BaseURI, "/?#@ ") {
		return fmt.Errorf("the domain answer has no host in its baseURI: %.200s", b)
	}
	base.Host = d.BaseURI
	c.BaseURL = base.String()
	return nil
}

// Ingest sends one ingest request: body is NDJSON (one event a line) when
// ndjson, else JSON. It is sent again on a 429, 503 or network error.
func (c *Client) Ingest(ctx context.Context, account string, body []byte, ndjson bool) (Outcome, error) {
	return c.post(ctx, "/ingest/account/"+url.PathEscape(account)+"/events", body, ndjson)
}

// IngestLivePerson sends a page of LivePerson Messaging Interactions
// search results ({"conversationHistoryRecords": [...]}, or an array of
// records): its closed conversations are stored as events, the others
// counted in Skipped. It is sent again on a 429, 503 or network error.
func (c *Client) IngestLivePerson(ctx context.Context, account string, page []byte) (Outcome, error) {
	return c.post(ctx, "/ingest/account/"+url.PathEscape(account)+"/liveperson/conversations", page, false)
}

func (c *Client) post(ctx context.Context, path string, body []byte, ndjson bool) (Outcome, error) {
	ct := "application/json"
	if ndjson {
		ct = "application/x-ndjson"
	}
	resp, err := c.do(ctx, http.MethodPost, c.url(path), ct, body)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	if err := json.Unmarshal(resp, &out); err != nil {
		return Outcome{}, fmt.Errorf("the server's answer is not an ingest outcome: %w", err)
	}
	return out, nil
}

func (c *Client) url(path string) string {
	return strings.TrimSuffix(c.BaseURL, "/") + path
}

func (c *Client) httpClient(ctx context.Context) *http.Client {
	base := c.HTTP
	if base == nil {
		base = http.DefaultClient
	}
	if c.OAuth1 == nil {
		return base
	}
	// The signing transport goes in a copy of the caller's client, so that
	// its Timeout, redirect policy and cookie jar still hold.
	cfg := oauth1.NewConfig(c.OAuth1.ConsumerKey, c.OAuth1.ConsumerSecret)
	signer := cfg.Client(ctx, oauth1.NewToken(c.OAuth1.Token, c.OAuth1.TokenSecret)).Transport.(*oauth1.Transport)
	signer.Base = base.Transport
	signed := *base
	signed.Transport = signer
	return &signed
}

// do sends a request, again while retry allows it and the failure may pass,
// and returns the body of its 2xx answer.
func (c *Client) do(ctx context.Context, method, u, contentType string, body []byte) ([]byte, error) {
	attempts, wait := c.retryPolicy()
	hc := c.httpClient(ctx)
	for attempt := 1; ; attempt++ {
		b, err := c.once(ctx, hc, method, u, contentType, body)
		if err == nil {
			return b, nil
		}
		var apiErr *Error
		retryable := mayPass(err)
		errors.As(err, &apiErr)
		if !retryable || attempt >= attempts || ctx.Err() != nil {
			return nil, err
		}
		if err := c.pause(ctx, attempt, wait, err, apiErr); err != nil {
			return nil, err
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// retryPolicy is how many times a request is sent at most, and the first
// wait between two sends.
func (c *Client) retryPolicy() (attempts int, wait time.Duration) {
	attempts, wait = c.Attempts, c.Backoff
	if attempts <= 0 {
		attempts = 8
	}
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	return attempts, wait
}

// setBearer puts the token on req; OAuth 1.0a requests are signed by the
// HTTP client instead (httpClient).
func (c *Client) setBearer(req *http.Request) {
	if c.OAuth1 == nil && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

func (c *Client) once(ctx context.Context, hc *http.Client, method, u, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	c.setBearer(req)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	return nil, apiError(resp, b)
}

// apiError reads a non-2xx answer.
func apiError(resp *http.Response, b []byte) *Error {
	apiErr := &Error{}
	if json.Unmarshal(b, apiErr) != nil || apiErr.Message == "" {
		apiErr.Message = strings.TrimSpace(string(b))
		if apiErr.Message == "" {
			apiErr.Message = resp.Status
		}
	}
	apiErr.Status = resp.StatusCode
	if h := resp.Header.Get("Retry-After"); h != "" {
		if s, err := strconv.Atoi(h); err == nil && s > 0 {
			apiErr.RetryAfter = time.Duration(s) * time.Second
		} else if at, err := http.ParseTime(h); err == nil {
			apiErr.RetryAfter = max(0, time.Until(at))
		}
	}
	return apiErr
}

// maxRetryAfter caps what a Retry-After makes the client wait.
const maxRetryAfter = time.Minute

// pause waits before attempt+1, about wait or what Retry-After said (at
// most maxRetryAfter), after telling OnRetry why. If ctx ends first it
// returns ctx's error joined with why, so that the refusal that made it
// wait is not lost.
func (c *Client) pause(ctx context.Context, attempt int, wait time.Duration, why error, apiErr *Error) error {
	pause := jitter(wait)
	if apiErr != nil && apiErr.RetryAfter > pause {
		pause = min(apiErr.RetryAfter, maxRetryAfter)
	}
	if c.OnRetry != nil {
		c.OnRetry(attempt, pause, why)
	}
	select {
	case <-ctx.Done():
		return errors.Join(ctx.Err(), why)
	case <-time.After(pause):
		return nil
	}
}

// mayPass reports whether the failure of a request may not happen again:
// a refusal of the server that says so (Error.Retryable), or the network
// failing (a connection refused, reset or cut, a timeout). A bad URL, an
// unsupported scheme or a certificate that does not verify will fail the
// same way again.
func mayPass(err error) bool {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Retryable()
	}
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.As(err, &opErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	}
	return false
}

// jitter spreads a wait over its second half and half as long again, so
// that clients refused together do not come back together.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}
