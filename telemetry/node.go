package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/convops/convops/node"
)

// WatchNode exports how far the node's fold is behind its event log, what
// the log holds, and the age of the last snapshot.
func (r *Registry) WatchNode(n *node.Node) {
	r.reg.MustRegister(&nodeCollector{n: n})
}

type nodeCollector struct {
	n *node.Node
}

var (
	foldLagMessages = prometheus.NewDesc("convops_fold_lag_messages", "Messages of the event log the fold has yet to apply.", nil, nil)
	foldLagSeconds  = prometheus.NewDesc("convops_fold_lag_seconds", "How long the oldest message not yet applied has waited, at most (0 when the fold is caught up).", nil, nil)
	foldApplied     = prometheus.NewDesc("convops_fold_applied_sequence", "Sequence of the last event log message applied.", nil, nil)
	logMessages     = prometheus.NewDesc("convops_log_messages", "Messages the event log holds.", nil, nil)
	logBytes        = prometheus.NewDesc("convops_log_bytes", "Bytes the event log holds.", nil, nil)
	logReads        = prometheus.NewDesc("convops_log_reads_total", "Reads of the event log by the fold with batched direct gets: its replay at start, and while its consumer was stalled (the NATS server it lived on, or the meta leader, lost).", nil, nil)
	logUp           = prometheus.NewDesc("convops_log_up", "1 when the event log answered this scrape, 0 when it did not (the log metrics are then missing).", nil, nil)
	snapshotAge     = prometheus.NewDesc("convops_snapshot_age_seconds", "Time since the last snapshot was written (absent before the first).", nil, nil)
	snapshotSeconds = prometheus.NewDesc("convops_snapshot_duration_seconds", "How long writing the last snapshot took.", nil, nil)
)

// scrapeTimeout bounds the round trip to NATS a scrape makes.
const scrapeTimeout = 2 * time.Second

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{foldLagMessages, foldLagSeconds, foldApplied, logMessages, logBytes, logReads, logUp, snapshotAge, snapshotSeconds} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	f, err := c.n.FoldStats(ctx)
	ch <- prometheus.MustNewConstMetric(foldApplied, prometheus.CounterValue, float64(f.Applied))
	ch <- prometheus.MustNewConstMetric(logReads, prometheus.CounterValue, float64(f.LogReads))
	if err != nil {
		ch <- prometheus.MustNewConstMetric(logUp, prometheus.GaugeValue, 0)
	} else {
		ch <- prometheus.MustNewConstMetric(logUp, prometheus.GaugeValue, 1)
		ch <- prometheus.MustNewConstMetric(logMessages, prometheus.GaugeValue, float64(f.LogMessages))
		ch <- prometheus.MustNewConstMetric(logBytes, prometheus.GaugeValue, float64(f.LogBytes))
		ch <- prometheus.MustNewConstMetric(foldLagMessages, prometheus.GaugeValue, float64(f.Lag()))
		lag := 0.0
		if f.Lag() > 0 && !f.AppliedTime.IsZero() {
			// The message after the last applied was stored after it: the
			// wait of the oldest one pending is at most this.
			lag = max(0, time.Since(f.AppliedTime).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(foldLagSeconds, prometheus.GaugeValue, lag)
	}
	if s := c.n.SnapshotStats(); !s.At.IsZero() {
		ch <- prometheus.MustNewConstMetric(snapshotAge, prometheus.GaugeValue, time.Since(s.At).Seconds())
		ch <- prometheus.MustNewConstMetric(snapshotSeconds, prometheus.GaugeValue, s.Took.Seconds())
	}
}
