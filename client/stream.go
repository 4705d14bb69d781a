package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Stream follows the answer of q for account as the server pushes it
// (GET …/msgconversation/stream, Server-Sent Events): fn is called with
// the answer at once and whenever it changes, until ctx is done or fn
// returns an error (which Stream returns).
//
// A stream the network or the server cut, or that stays silent longer than
// streamSilence (the server writes at least every 15 s), is opened again:
// after the wait the server asked for ("retry:"), or the backoff of the
// other requests when that is longer. Attempts bounds the openings in a
// row that bring no answer (then the last failure is returned); a stream
// that flowed a while starts the count and the backoff over. A refusal that
// will not pass (a bad parameter, bad credentials), or an answer that
// cannot be read, is returned at once.
func (c *Client) Stream(ctx context.Context, account string, q Query, fn func(*Answer) error) error {
	u := c.url("/operations/api/account/"+url.PathEscape(account)+"/msgconversation/stream") + "?" + q.Values().Encode()
	attempts, backoff := c.retryPolicy()
	wait, failures := backoff, 0
	for {
		s := &sseStream{}
		started := time.Now()
		err := c.follow(ctx, u, s, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var apiErr *Error
		var fatal fatalStreamError
		switch {
		case errors.As(err, &fatal):
			return fatal.err
		case !mayPass(err):
			return err
		}
		errors.As(err, &apiErr)
		if s.answers > 0 && time.Since(started) >= streamSettled {
			wait, failures = backoff, 0 // it flowed: start over
		}
		if s.answers == 0 {
			if failures++; failures >= attempts {
				return err
			}
		}
		if err := c.pause(ctx, failures, max(wait, s.retry), err, apiErr); err != nil {
			return err
		}
		wait = min(2*wait, 10*time.Second)
	}
}

const (
	// streamSilence is how long a stream may send nothing before it is
	// taken for dead (the server sends a comment at least every 15 s).
	streamSilence = 45 * time.Second
	// streamSettled is how long a stream must have flowed for a cut to
	// start the backoff over.
	streamSettled = 10 * time.Second
)

// fatalStreamError ends Stream: fn's error, or an answer that cannot be
// read.
type fatalStreamError struct{ err error }

func (e fatalStreamError) Error() string { return e.err.Error() }
func (e fatalStreamError) Unwrap() error { return e.err }

// sseStream is what one connection of a stream brought.
type sseStream struct {
	answers int           // answers handed to fn
	retry   time.Duration // the server's "retry:" (0 when it sent none)
}

// errSilent is a stream cut for its silence: opened again.
var errSilent = fmt.Errorf("the stream sent nothing for %s: %w", streamSilence, io.ErrUnexpectedEOF)

// follow reads one connection of a stream until it ends.
func (c *Client) follow(parent context.Context, u string, s *sseStream, fn func(*Answer) error) (err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	defer func() {
		if err != nil && ctx.Err() != nil && parent.Err() == nil {
			err = errSilent // cut by the watch below, not by the caller
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fatalStreamError{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	c.setBearer(req)
	// A stream that goes silent is cut (and opened again).
	silent := time.AfterFunc(streamSilence, cancel)
	defer silent.Stop()
	hc := *c.httpClient(ctx)
	hc.Timeout = 0 // a stream lasts as long as it is read; silence is watched instead
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return apiError(resp, b)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fatalStreamError{fmt.Errorf("the server answered the stream with %q, not text/event-stream", resp.Header.Get("Content-Type"))}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20) // an answer is one data line
	event, data := "", []string{}
	for sc.Scan() {
		silent.Reset(streamSilence)
		line := sc.Text()
		switch {
		case line == "":
			if event == "metrics" && len(data) > 0 {
				var a Answer
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &a); err != nil {
					return fatalStreamError{fmt.Errorf("a streamed answer cannot be read: %w", err)}
				}
				s.answers++
				if err := fn(&a); err != nil {
					return fatalStreamError{err}
				}
			}
			event, data = "", data[:0]
		case strings.HasPrefix(line, ":"):
			// a keep-alive comment
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case strings.HasPrefix(line, "retry:"):
			if ms, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "retry:"))); err == nil && ms >= 0 {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF // the server ended it (it is stopping)
}
