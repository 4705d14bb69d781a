// Package telemetry exposes what a convops node does to Prometheus: the Go
// runtime and the process, and the counts each long-lived object keeps of
// its own work. It is the one package that speaks Prometheus; the objects it
// reads know nothing of it.
//
// No metric carries an account id in a label: the number of accounts a
// server hosts must not become the number of series its monitoring stores.
package telemetry

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/convops/convops/store"
)

// Registry is the set of collectors of one node.
type Registry struct {
	reg *prometheus.Registry
}

// New returns a registry with the Go runtime's metrics (the GC ones
// included, such as go_gc_heap_live_bytes) and the process's.
func New() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Registry{reg: reg}
}

// Handler serves the metrics in Prometheus's text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// WatchStore exports what st holds.
func (r *Registry) WatchStore(st *store.Store) {
	r.reg.MustRegister(&storeCollector{st: st})
}

// storeCollector reads the store's own counts at each scrape.
type storeCollector struct {
	st *store.Store
}

var (
	storeAccounts = prometheus.NewDesc("convops_store_accounts", "Accounts with data in retention.", nil, nil)
	storeSeries   = prometheus.NewDesc("convops_store_series", "Series of running totals: accounts, skills, agents, agents within skills.", nil, nil)
	storeBuckets  = prometheus.NewDesc("convops_store_buckets", "Buckets with data, summed over all series.", nil, nil)
	storeKeys     = prometheus.NewDesc("convops_store_dedupe_keys", "Event ids in retention, kept to recognise duplicates.", nil, nil)
	storeBytes    = prometheus.NewDesc("convops_store_bytes", "Memory of the store's structures, by structure.", []string{"structure"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storeAccounts, storeSeries, storeBuckets, storeKeys, storeBytes} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(storeAccounts, prometheus.GaugeValue, float64(st.Accounts))
	ch <- prometheus.MustNewConstMetric(storeSeries, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(storeBuckets, prometheus.GaugeValue, float64(st.Buckets))
	ch <- prometheus.MustNewConstMetric(storeKeys, prometheus.GaugeValue, float64(st.DedupeKeys))
	ch <- prometheus.MustNewConstMetric(storeBytes, prometheus.GaugeValue, float64(st.SeriesBytes), "series")
	ch <- prometheus.MustNewConstMetric(storeBytes, prometheus.GaugeValue, float64(st.DedupeBytes), "dedupe")
}
