package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NonceUsage reads how full the store of OAuth nonces is: bytes held and
// the most it may hold.
type NonceUsage func(ctx context.Context) (used, limit uint64, err error)

// WatchSignedRequests exports the signed requests refused for their key's
// rate (refused), and how full the nonce store is (usage).
func (r *Registry) WatchSignedRequests(refused func() uint64, usage NonceUsage) {
	r.reg.MustRegister(&signedCollector{refused: refused, usage: usage})
}

type signedCollector struct {
	refused func() uint64
	usage   NonceUsage
}

var (
	signedRefused = prometheus.NewDesc("convops_signed_requests_refused_total",
		"Signed (OAuth) requests refused because their key passed --max-signed-requests-per-key.", nil, nil)
	nonceBytes = prometheus.NewDesc("convops_nonce_bucket_bytes",
		"Bytes the bucket of OAuth nonces holds; at convops_nonce_bucket_limit_bytes every signed request is refused (503) until entries expire.", nil, nil)
	nonceLimit = prometheus.NewDesc("convops_nonce_bucket_limit_bytes", "The most the bucket of OAuth nonces may hold.", nil, nil)
)

func (c *signedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- signedRefused
	ch <- nonceBytes
	ch <- nonceLimit
}

func (c *signedCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(signedRefused, prometheus.CounterValue, float64(c.refused()))
	// The bucket's state is asked of NATS: a scrape waits for it briefly,
	// and goes without it rather than hang.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if used, limit, err := c.usage(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(nonceBytes, prometheus.GaugeValue, float64(used))
		ch <- prometheus.MustNewConstMetric(nonceLimit, prometheus.GaugeValue, float64(limit))
	}
}
