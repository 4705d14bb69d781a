package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/convops/convops/bench"
	"github.com/convops/convops/eventlog"
)

// natsCluster is three real NATS servers with JetStream, clustered on
// loopback, run inside the benchmark's process.
type natsCluster struct {
	opts    []*server.Options
	servers []*server.Server
}

// startNATSCluster starts three servers with their stores under dir, on
// ports outside the range the system gives outgoing connections, so that a
// stopped server finds its ports free again.
func startNATSCluster(dir string) (*natsCluster, error) {
	var ports []int
	for len(ports) < 6 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, port)
	}
	routes := fmt.Sprintf("nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", ports[3], ports[4], ports[5])
	c := &natsCluster{}
	for i := range 3 {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("nats-%d", i)), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "convops-bench", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:  server.RoutesFromStr(routes),
		})
		c.servers = append(c.servers, nil)
	}
	for i := range 3 {
		if err := c.start(i); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

func (c *natsCluster) start(i int) error {
	o := *c.opts[i]
	ns, err := server.NewServer(&o)
	if err != nil {
		return err
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		return fmt.Errorf("nats server %d did not start", i)
	}
	c.servers[i] = ns
	return nil
}

func (c *natsCluster) stop() {
	for i, ns := range c.servers {
		if ns != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
			c.servers[i] = nil
		}
	}
}

func (c *natsCluster) urls() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// stopLeader stops the server that leads the event stream.
func (c *natsCluster) stopLeader(ctx context.Context) (func() error, error) {
	nc, err := nats.Connect(c.urls())
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, eventlog.StreamName)
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx)
	if err != nil || info.Cluster == nil {
		return nil, fmt.Errorf("the event stream's leader is unknown: %v", err)
	}
	for i, o := range c.opts {
		if o.ServerName == info.Cluster.Leader {
			c.servers[i].Shutdown()
			c.servers[i].WaitForShutdown()
			c.servers[i] = nil
			return func() error { return c.start(i) }, nil
		}
	}
	return nil, fmt.Errorf("the event stream's leader %q is not one of the benchmark's servers", info.Cluster.Leader)
}

// runCluster runs the cluster profile: three NATS servers, a node of every
// account and a node of each of two shards, as processes of their own.
func runCluster(ctx context.Context, o bench.Options, w *bench.Workload, dir string, newServer func(binary, data string) *serverProcess, binary string) error {
	natsDir := filepath.Join(dir, "nats")
	if err := os.MkdirAll(natsDir, 0o700); err != nil {
		return err
	}
	cl, err := startNATSCluster(natsDir)
	if err != nil {
		return err
	}
	defer cl.stop()
	var procs []*serverProcess
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i, shard := range []string{"0/1", "0/2", "1/2"} {
		p := newServer(binary, fmt.Sprint("cluster", i))
		p.args = append(p.args, "--nats-url", cl.urls(), "--shard", shard)
		if _, err := p.start(ctx); err != nil {
			return err
		}
		procs = append(procs, p)
	}
	return bench.RunCluster(ctx, o, w, bench.ClusterNodes{Whole: procs[0], Shards: [2]bench.Server{procs[1], procs[2]}, StopLeader: cl.stopLeader})
}
