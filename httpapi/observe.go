package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/convops/convops"
)

// Observer is told what the server does, for its metrics. Its methods are
// called from many goroutines at once. No argument carries an account id.
type Observer interface {
	// Answered tells of one request answered: its route (the pattern it
	// matched, without method; "" when it was answered before routing), its
	// status and how long it took. A stream is told of when it ends, with
	// stream set: its duration is how long it was watched.
	Answered(route string, status int, elapsed time.Duration, stream bool)
	// Refused tells of a 429 or 503 and its cause (a convops.Cause* value).
	Refused(status int, cause string)
	// Ingested tells of the events of a request stored, and of those that
	// were already (duplicates).
	Ingested(accepted, duplicates int)
	// EventsRefused tells of the events of an ingest request refused whole,
	// and why: "invalid" (an event is), "bounds" (the account would pass a
	// bound) or "unavailable" (the log could not take them).
	EventsRefused(reason string, events int)
}

// noObserver is the Observer of a server without metrics.
type noObserver struct{}

func (noObserver) Answered(string, int, time.Duration, bool) {}
func (noObserver) Refused(int, string)                       {}
func (noObserver) Ingested(int, int)                         {}
func (noObserver) EventsRefused(string, int)                 {}

// recorder remembers the status of an answer for the Observer. Unwrap lets
// http.ResponseController reach the connection (deadlines, flushing).
type recorder struct {
	http.ResponseWriter
	status int
	stream bool // the answer is a stream of events
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recorderOf returns the recorder under w, if there is one.
func recorderOf(w http.ResponseWriter) *recorder {
	for {
		switch v := w.(type) {
		case *recorder:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// routeOf is the route label of r: the pattern it matched, without the method.
func routeOf(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// observeError tells the Observer of a refusal with a cause.
func (s *Server) observeError(err error) {
	var e *convops.Error
	if !errors.As(err, &e) {
		return
	}
	status := statusOf[e.Code]
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return
	}
	cause := e.Cause
	if cause == "" {
		cause = "other"
	}
	s.observer.Refused(status, cause)
}

// observe tells the Observer of a request answered, when it returns.
func (s *Server) observe(rec *recorder, r *http.Request, began time.Time) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	s.observer.Answered(routeOf(r), status, time.Since(began), rec.stream)
}
