package telemetry

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/convops/convops/httpapi"
)

// HTTP counts what the HTTP API answers; it is the httpapi.Observer of a
// server. Routes are the API's path patterns ({accountID} unexpanded), so
// the label takes a handful of values whatever the accounts.
type HTTP struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	streamSeconds *prometheus.HistogramVec
	refused       *prometheus.CounterVec
	events        *prometheus.CounterVec
	refusedEvents *prometheus.CounterVec
}

var _ httpapi.Observer = (*HTTP)(nil)

// WatchHTTP registers the HTTP API's metrics and returns the Observer that
// feeds them; streams, when not nil, is read at each scrape.
func (r *Registry) WatchHTTP(streams func() httpapi.StreamStats) *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convops_http_requests_total", Help: "Requests answered, by route pattern and status (\"\" route: answered before routing).",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "convops_http_request_duration_seconds", Help: "Time to answer a request, by route pattern (streams apart).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		streamSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "convops_http_stream_duration_seconds", Help: "How long metric streams were watched, counted when they end.",
			Buckets: []float64{1, 10, 60, 600, 3600, 4 * 3600, 12 * 3600, 24 * 3600},
		}, []string{"route"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convops_http_refused_total", Help: "429 and 503 answers, by status and cause (inflight, memory, streams, starting, stopping, clock, storage, log, nonces, other).",
		}, []string{"status", "cause"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convops_ingest_events_total", Help: "Events of ingest requests answered 200: accepted (stored) or duplicate (already stored).",
		}, []string{"outcome"}),
		refusedEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convops_ingest_refused_events_total", Help: "Events of ingest requests refused whole, by reason: invalid (an event is), bounds (the account would pass a bound), unavailable (the log could not take them).",
		}, []string{"reason"}),
	}
	// The outcomes and reasons exist from the start, at 0, so that rates
	// over them are defined before the first event.
	for _, o := range []string{"accepted", "duplicate"} {
		h.events.WithLabelValues(o)
	}
	for _, reason := range []string{"invalid", "bounds", "unavailable"} {
		h.refusedEvents.WithLabelValues(reason)
	}
	r.reg.MustRegister(h.requests, h.duration, h.streamSeconds, h.refused, h.events, h.refusedEvents)
	if streams != nil {
		r.reg.MustRegister(&streamCollector{stats: streams})
	}
	return h
}

func (h *HTTP) Answered(route string, status int, elapsed time.Duration, stream bool) {
	h.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if stream {
		h.streamSeconds.WithLabelValues(route).Observe(elapsed.Seconds())
		return
	}
	h.duration.WithLabelValues(route).Observe(elapsed.Seconds())
}

func (h *HTTP) Refused(status int, cause string) {
	h.refused.WithLabelValues(strconv.Itoa(status), cause).Inc()
}

func (h *HTTP) Ingested(accepted, duplicates int) {
	h.events.WithLabelValues("accepted").Add(float64(accepted))
	h.events.WithLabelValues("duplicate").Add(float64(duplicates))
}

func (h *HTTP) EventsRefused(reason string, events int) {
	h.refusedEvents.WithLabelValues(reason).Add(float64(events))
}

// streamCollector reads the counts of the metric streams at each scrape.
type streamCollector struct {
	stats func() httpapi.StreamStats
}

var (
	streamsOpen     = prometheus.NewDesc("convops_streams_open", "Metric streams (Server-Sent Events) open.", nil, nil)
	streamWatches   = prometheus.NewDesc("convops_stream_watches", "Distinct answers the open streams watch; each is computed once for all its streams.", nil, nil)
	streamBytes     = prometheus.NewDesc("convops_stream_answer_bytes", "Memory the metric streams' answers hold (each answer and the one before it); at most half of --max-inflight-bytes.", nil, nil)
	streamsComputed = prometheus.NewDesc("convops_stream_answers_computed_total", "Answers computed for metric streams.", nil, nil)
)

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- streamsOpen
	ch <- streamWatches
	ch <- streamsComputed
	ch <- streamBytes
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(streamsOpen, prometheus.GaugeValue, float64(st.Streams))
	ch <- prometheus.MustNewConstMetric(streamWatches, prometheus.GaugeValue, float64(st.Watches))
	ch <- prometheus.MustNewConstMetric(streamsComputed, prometheus.CounterValue, float64(st.Computed))
	ch <- prometheus.MustNewConstMetric(streamBytes, prometheus.GaugeValue, float64(st.Bytes))
}
