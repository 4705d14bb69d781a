// Package client talks to a convops server over its HTTP API, with a bearer
// token or an OAuth 1.0a key, and retries what may be retried: an ingest is
// idempotent, so it is sent again after a 429, a 503 or a network error.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	// (default 8), waiting Backoff, doubled each time up to 10 s (default
	// 250 ms), or what Retry-After says.
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

// Query asks for the Messaging Conversation metrics of account and returns
// the answer's JSON. params holds the API's parameters (timeframe, v,
// skillIds, agentIds, interval); v defaults to 1.
func (c *Client) Query(ctx context.Context, account string, params url.Values) ([]byte, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	if q.Get("v") == "" {
		q.Set("v", "1")
	}
	u := c.url("/operations/api/account/"+url.PathEscape(account)+"/msgconversation") + "?" + q.Encode()
	return c.do(ctx, http.MethodGet, u, "", nil, true)
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
	resp, err := c.do(ctx, http.MethodPost, c.url(path), ct, body, true)
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
	cfg := oauth1.NewConfig(c.OAuth1.ConsumerKey, c.OAuth1.ConsumerSecret)
	ctx = context.WithValue(ctx, oauth1.HTTPClient, base)
	return cfg.Client(ctx, oauth1.NewToken(c.OAuth1.Token, c.OAuth1.TokenSecret))
}

// do sends a request, again while retry allows it and the failure may pass,
// and returns the body of its 2xx answer.
func (c *Client) do(ctx context.Context, method, u, contentType string, body []byte, retry bool) ([]byte, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 8
	}
	wait := c.Backoff
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	hc := c.httpClient(ctx)
	for attempt := 1; ; attempt++ {
		b, err := c.once(ctx, hc, method, u, contentType, body)
		if err == nil {
			return b, nil
		}
		var apiErr *Error
		retryable := !errors.As(err, &apiErr) || apiErr.Retryable()
		if !retry || !retryable || attempt >= attempts || ctx.Err() != nil {
			return nil, err
		}
		pause := wait
		if apiErr != nil && apiErr.RetryAfter > pause {
			pause = apiErr.RetryAfter
		}
		if c.OnRetry != nil {
			c.OnRetry(attempt, pause, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		wait = min(2*wait, 10*time.Second)
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
	if c.OAuth1 == nil && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
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
	apiErr := &Error{}
	if json.Unmarshal(b, apiErr) != nil || apiErr.Message == "" {
		apiErr.Message = strings.TrimSpace(string(b))
		if apiErr.Message == "" {
			apiErr.Message = resp.Status
		}
	}
	apiErr.Status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		apiErr.RetryAfter = time.Duration(s) * time.Second
	}
	return nil, apiErr
}
