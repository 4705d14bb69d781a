package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/convops/convops/connlimit"
)

// WatchConnections exports the listener's connections: open, and closed or
// refused by its bounds.
func (r *Registry) WatchConnections(stats func() connlimit.Stats) {
	r.reg.MustRegister(&connCollector{stats: stats})
}

type connCollector struct{ stats func() connlimit.Stats }

var (
	connOpen      = prometheus.NewDesc("convops_connections_open", "Client connections open.", nil, nil)
	connStrangers = prometheus.NewDesc("convops_connections_strangers",
		"Open client connections that have carried no authenticated request and are idle or have sent nothing: the first closed when a bound is reached.", nil, nil)
	connClosed = prometheus.NewDesc("convops_connections_closed_total",
		"Client connections refused or closed by the bounds: refused past --max-connections (total) or --max-connections-per-address (address); "+
			"idle ones that never authenticated closed to make room (evicted) or after their shorter idle time (idle).", []string{"reason"}, nil)
)

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connOpen
	ch <- connStrangers
	ch <- connClosed
}

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(connOpen, prometheus.GaugeValue, float64(s.Open))
	ch <- prometheus.MustNewConstMetric(connStrangers, prometheus.GaugeValue, float64(s.Strangers))
	for reason, n := range map[string]uint64{"total": s.RefusedTotal, "address": s.RefusedAddress, "evicted": s.Evicted, "idle": s.IdleClosed} {
		ch <- prometheus.MustNewConstMetric(connClosed, prometheus.CounterValue, float64(n), reason)
	}
}
