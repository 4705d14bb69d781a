package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/convops/convops"
)

// MaxQueryBodyBytes bounds the body of a POST query: its parameters fit in
// a fraction of it. A body past it is refused with 413 before credentials
// are checked, so that no one makes the server read or parse much for a
// request it then refuses.
const MaxQueryBodyBytes = 1 << 20

// A body must arrive at MinBodyRate or faster on average, after a first
// bodyGrace: a client that trickles its body holds a connection and an
// in-flight slot, and is cut as soon as it falls behind (a link of 0.5
// Mbit/s keeps up). What it announces changes nothing: an idle connection
// that announced 16 MiB is cut after bodyGrace, like one that announced 1.
const (
	MinBodyRate = 64 << 10 // bytes per second
	bodyGrace   = 10 * time.Second
)

// pacedBody cuts a body that falls behind MinBodyRate: before each read it
// sets the connection's read deadline to when the bytes read so far would
// have been due, grace after the body began, and never after until (when
// set).
type pacedBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	begun time.Time
	grace time.Duration
	until time.Time
	read  int64
}

func pace(body io.ReadCloser, w http.ResponseWriter, grace time.Duration) *pacedBody {
	return &pacedBody{ReadCloser: body, rc: http.NewResponseController(w), begun: time.Now(), grace: grace}
}

func (b *pacedBody) Read(p []byte) (int, error) {
	due := b.begun.Add(b.grace + time.Duration(b.read)*time.Second/MinBodyRate)
	if !b.until.IsZero() && due.After(b.until) {
		due = b.until
	}
	b.rc.SetReadDeadline(due)
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}

// bodyLimit is the most of r's body that is read: a query's is small.
func bodyLimit(r *http.Request) int64 {
	if isQueryPath(r.URL.Path) {
		return MaxQueryBodyBytes
	}
	return convops.MaxBodyBytes
}

// limitBody bounds r's body by size (bodyLimit) and by pace (pacedBody). A
// Content-Length past the size is refused before.
func limitBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	// Past a deadline a read fails; bodyError turns that into a 408.
	// Once the body is read, net/http lifts the deadline itself to watch
	// for the client going away.
	r.Body = pace(http.MaxBytesReader(w, r.Body, bodyLimit(r)), w, bodyGrace)
}

func tooLarge(limit int64) error {
	if limit == MaxQueryBodyBytes {
		return &convops.Error{Code: convops.ETooLarge, Parameter: "body",
			Message: "a query body is at most 1 MiB: its parameters fit in far less"}
	}
	return &convops.Error{Code: convops.ETooLarge, Parameter: "body",
		Message: "the body is larger than 16 MiB: send fewer events per request"}
}

// bodyError is the answer to a failed read of r's body. Only the kind of
// failure is told: the network's own words name sockets, which are not the
// client's business.
func bodyError(r *http.Request, err error) error {
	var tooBig *http.MaxBytesError
	var ce *convops.Error
	switch {
	case errors.As(err, &tooBig):
		return tooLarge(tooBig.Limit)
	case errors.As(err, &ce):
		return ce // the budget, or a body hash that does not match
	case errors.Is(err, os.ErrDeadlineExceeded):
		heldOf(r).bodyCut = true
		return &convops.Error{Code: eTimeout, Parameter: "body",
			Message: fmt.Sprintf("the body came too slowly: send it at %d KiB/s or faster", MinBodyRate>>10)}
	}
	return convops.ParamErrorf("body", "the body could not be read to its end: the connection was cut, or it came too slowly")
}
