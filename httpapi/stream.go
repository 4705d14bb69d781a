package httpapi

import (
	"bytes"
	"net/http"
	"time"

	"github.com/convops/convops"
)

// Timings of metric streams.
const (
	// streamEvery is the most often a watch computes its answer and a
	// stream sends one.
	streamEvery = time.Second
	// pollEvery is how often a watch looks for a change (a look is a read of
	// the account's version): a change after a quiet second reaches the
	// streams within this.
	pollEvery = 100 * time.Millisecond
	// keepAliveEvery is how often a quiet stream sends a comment line, so
	// that proxies and clients see it is alive (the contract says at least
	// every 15 s); Options.StreamKeepAlive overrides it.
	keepAliveEvery = 10 * time.Second
	// streamWriteTimeout bounds each write to a stream's client: one that
	// stops reading is dropped, it does not pile answers up.
	streamWriteTimeout = 30 * time.Second
)

// StreamStats counts the metric streams.
type StreamStats struct {
	Streams  int    // streams open
	Watches  int    // distinct answers they watch (each computed once)
	Computed uint64 // answers computed since the server started
	Bytes    int64  // memory the watches' answers hold (see retainedSize)
}

// StreamStats returns the counts of the metric streams.
func (s *Server) StreamStats() StreamStats {
	h := s.watches
	h.mu.Lock()
	defer h.mu.Unlock()
	return StreamStats{Streams: h.streams, Watches: len(h.watches), Computed: h.computed.Load(), Bytes: h.retained}
}

// CloseStreams ends every metric stream and refuses new ones: a graceful
// stop calls it, since a stream would otherwise never finish.
func (s *Server) CloseStreams() { s.watches.close() }

// Close ends every metric stream, refuses new ones, and waits for the
// goroutines that computed their answers.
func (s *Server) Close() error {
	s.watches.close()
	s.watches.running.Wait()
	return nil
}

// handleStream serves GET …/msgconversation/stream: the query's answer as
// Server-Sent Events, at once and whenever it changes, at most once a
// second. Parameter errors are answered as the query's, before the stream
// starts. A stream holds no in-flight slot of its account (it would hold it
// for hours); streams are counted apart (MaxStreams, MaxStreamsPerAccount).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	q, params, err := parseQuery(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	// The parameters are in the query string; a body is refused, and what
	// the request holds of the budget (nothing of a body not read) given
	// back before the stream begins its long life.
	if r.ContentLength != 0 {
		s.error(w, r, convops.Errorf(convops.EInvalid, "a stream takes its parameters in the query string; send no body"))
		return
	}
	heldOf(r).done()
	wr, err := s.watches.subscribe(q, params)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer s.watches.leave(wr)
	if rec := recorderOf(w); rec != nil {
		rec.stream = true
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies that buffer answers: pass this one on as it comes
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	send := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// A client told how long to wait before it reconnects.
	if !send([]byte("retry: 2000\n\n")) {
		return
	}

	every := s.opts.StreamKeepAlive
	if every <= 0 {
		every = keepAliveEvery
	}
	keepAlive := time.NewTicker(every)
	defer keepAlive.Stop()
	next := wr.next // nil while the stream waits out its second
	var gate <-chan time.Time
	for {
		select {
		case b := <-next:
			if !send(b) {
				return
			}
			keepAlive.Reset(every)
			next, gate = nil, time.After(streamEvery)
		case <-gate:
			next, gate = wr.next, nil
		case <-keepAlive.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
		case <-wr.w.ended:
			// Its answer outgrew what the streams may keep: the client is
			// told why before the stream closes.
			send(wr.w.final)
			return
		case <-r.Context().Done():
			return
		case <-s.watches.done:
			return
		}
	}
}

// sseEvent frames data as one Server-Sent Event: each of its lines a data
// line (a JSON answer has none but the one).
func sseEvent(name string, data []byte) []byte {
	b := make([]byte, 0, len(data)+32)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, '\n')
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		b = append(b, "data: "...)
		b = append(b, bytes.TrimSuffix(line, []byte{'\r'})...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}
