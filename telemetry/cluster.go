package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/convops/convops/cluster"
)

// WatchPeers exports what a sharded node asked of the nodes of other
// shards, and answered for them.
func (r *Registry) WatchPeers(p *cluster.Peers) {
	r.reg.MustRegister(&peersCollector{p: p})
}

type peersCollector struct{ p *cluster.Peers }

var (
	peersAsked      = prometheus.NewDesc("convops_shard_requests_sent_total", "Requests sent to the nodes of other shards (queries and streams: query; ingests: await).", []string{"op"}, nil)
	peersResent     = prometheus.NewDesc("convops_shard_requests_resent_total", "Requests to other shards sent again: no node of the shard listened, or none answered in time.", []string{"op"}, nil)
	peersUnanswered = prometheus.NewDesc("convops_shard_requests_unanswered_total", "Requests sent to other shards that no node of the shard answered in time (answered 503).", []string{"op"}, nil)
	peersServed     = prometheus.NewDesc("convops_shard_requests_served_total", "Requests of the nodes of other shards this node answered.", []string{"op"}, nil)
)

func (c *peersCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- peersAsked
	ch <- peersResent
	ch <- peersUnanswered
	ch <- peersServed
}

func (c *peersCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	for _, m := range []struct {
		desc   *prometheus.Desc
		counts map[string]uint64
	}{{peersAsked, s.Asked}, {peersResent, s.Resent}, {peersUnanswered, s.Unanswered}, {peersServed, s.Served}} {
		for op, n := range m.counts {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(n), op)
		}
	}
}
