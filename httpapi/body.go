package httpapi

import (
	"errors"
	"fmt"
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

// A body must arrive at MinBodyRate or faster, after a first
// bodyGrace: a client that trickles its body holds a connection, an
// in-flight slot and the room its Content-Length reserved, and is cut at a
// deadline that follows the size it announced (a 16 MiB ingest: 266 s, a
// link of 0.5 Mbit/s; a query body: at most 26 s).
const (
	MinBodyRate = 64 << 10 // bytes per second
	bodyGrace   = 10 * time.Second
)

// bodyDeadline is when the body of r must have arrived, given at most limit
// bytes of it are read.
func bodyDeadline(r *http.Request, limit int64, now time.Time) time.Time {
	size := limit
	if r.ContentLength >= 0 && r.ContentLength < limit {
		size = r.ContentLength
	}
	return now.Add(bodyGrace + time.Duration(size)*time.Second/MinBodyRate)
}

// bodyLimit is the most of r's body that is read: a query's is small.
func bodyLimit(r *http.Request) int64 {
	if isQueryPath(r.URL.Path) {
		return MaxQueryBodyBytes
	}
	return convops.MaxBodyBytes
}

// limitBody bounds r's body by size (bodyLimit) and by time
// (bodyDeadline). A Content-Length past the size is refused before.
func limitBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	limit := bodyLimit(r)
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	// Past the deadline a read fails; bodyError turns that into a 408.
	// Once the body is read, net/http lifts the deadline itself to watch
	// for the client going away.
	http.NewResponseController(w).SetReadDeadline(bodyDeadline(r, limit, time.Now()))
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
		return &convops.Error{Code: convops.ETimeout, Parameter: "body",
			Message: fmt.Sprintf("the body came too slowly: send it at %d KiB/s or faster", MinBodyRate>>10)}
	}
	return convops.ParamErrorf("body", "the body could not be read to its end: the connection was cut, or it came too slowly")
}
