package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Stream follows the answer of q for account as the server pushes it
// (GET …/msgconversation/stream, Server-Sent Events): fn is called with
// the answer at once and whenever it changes, until ctx is done or fn
// returns an error (which Stream returns). A stream the network or the
// server cut (a 429 or 503 included) is opened again, with the backoff of
// the other requests; a refusal that will not pass (a bad parameter, bad
// credentials) is returned.
func (c *Client) Stream(ctx context.Context, account string, q Query, fn func(*Answer) error) error {
	u := c.url("/operations/api/account/"+url.PathEscape(account)+"/msgconversation/stream") + "?" + q.Values().Encode()
	wait := c.Backoff
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	for attempt := 1; ; attempt++ {
		got, err := c.follow(ctx, u, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var apiErr *Error
		var fnErr fnError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case errors.As(err, &apiErr) && !apiErr.Retryable():
			return err
		}
		if got {
			wait, attempt = c.Backoff, 1 // it was flowing: start the backoff over
			if wait <= 0 {
				wait = 250 * time.Millisecond
			}
		}
		if err := c.pause(ctx, attempt, wait, err, apiErr); err != nil {
			return err
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// fnError is an error of Stream's fn, which ends the stream.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// follow reads one stream until it ends; got says whether an answer came.
func (c *Client) follow(ctx context.Context, u string, fn func(*Answer) error) (got bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.OAuth1 == nil && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.httpClient(ctx).Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return false, apiError(resp, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20) // an answer is one data line
	event, data := "", []string{}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "metrics" && len(data) > 0 {
				var a Answer
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &a); err != nil {
					return got, fmt.Errorf("a streamed answer cannot be read: %w", err)
				}
				got = true
				if err := fn(&a); err != nil {
					return got, fnError{err}
				}
			}
			event, data = "", data[:0]
		case strings.HasPrefix(line, ":"):
			// a keep-alive comment
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return got, err
	}
	return got, io.ErrUnexpectedEOF // the server ended it (it is stopping)
}
