package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/convops/convops/connlimit"
	"github.com/convops/convops/telemetry"
)

// metricsOnAPI is the /metrics handler of the API's listener: none with
// --metrics-listen.
func (c *ServeCommand) metricsOnAPI(metrics *telemetry.Registry) http.Handler {
	if c.MetricsListen != "" {
		return nil
	}
	return metrics.Handler()
}

// serveMetrics serves /metrics on --metrics-listen, when it is set, until
// stop.
func (c *ServeCommand) serveMetrics(metrics *telemetry.Registry) (stop func(), err error) {
	if c.MetricsListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", c.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	c.mu.Lock()
	c.metricsAddr = ln.Addr()
	c.mu.Unlock()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: c.ReadHeaderTimeout, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(c.logger.Handler(), slog.LevelWarn)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			c.logger.Error("serving /metrics stopped", "err", err)
		}
	}()
	c.logger.Info("serving /metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) // a scrape in flight finishes
		<-served
	}, nil
}

// listen opens the listener, within the bounds of --max-connections and
// --max-connections-per-address. The open-files limit is raised to its
// hard limit first (the Go runtime raises it as the process starts, to one
// short of it) and said in the log, with the bound it gives.
func (c *ServeCommand) listen() (*connlimit.Listener, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	most := c.MaxConnections
	if most == 0 {
		// A quarter of the descriptors stay for the event log's files, the
		// NATS connections and snapshots.
		most = max(int(min(rl.Cur, 1<<30))*3/4, 64)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	opts := connlimit.Options{Max: most, PerAddress: c.MaxConnectionsPerAddress}
	if c.TLSCert == "" {
		opts.Refusal = connectionRefusal
	}
	c.logger.Info("connections", "max", most, "perAddress", c.MaxConnectionsPerAddress, "openFilesLimit", rl.Cur)
	return connlimit.New(ln, opts), nil
}

// connectionRefusal is what a plain HTTP client whose connection is past
// the bounds reads before it is closed.
var connectionRefusal = func() []byte {
	body := `{"code":503,"message":"the server holds as many connections as it allows (--max-connections, --max-connections-per-address); retry in a moment, or reuse a connection"}`
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}()

// certificateHosts are the names and addresses the TLS certificate is for:
// the hosts its clients use.
func (c *ServeCommand) certificateHosts() []string {
	if c.TLSCert == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil || len(pair.Certificate) == 0 {
		return nil // ServeTLS says why
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil
	}
	hosts := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return hosts
}
