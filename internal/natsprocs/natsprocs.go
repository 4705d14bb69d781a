// Package natsprocs runs a cluster of real nats-server processes on
// loopback, for the tests and the benchmark that must lose one the way a
// machine is lost: by SIGKILL, with no chance to hand its leaderships over
// (a server stopped in-process steps down first, which hides what a crash
// costs).
//
// The nats-server binary is built from the module this one requires, so it
// is the version convops is tested with.
package natsprocs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Build compiles nats-server into dir and returns its path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "nats-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nats-server: %w\n%s", err, out)
	}
	return bin, nil
}

// Cluster is a cluster of nats-server processes with JetStream.
type Cluster struct {
	bin     string
	servers []*serverProc
}

type serverProc struct {
	name                   string
	port, cluster, monitor int
	dir                    string
	args                   []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts size servers, their stores under dir, on ports outside the
// range the system gives outgoing connections (so that a server started
// again finds its ports free), and waits until each has JetStream.
func Start(ctx context.Context, bin, dir string, size int) (*Cluster, error) {
	ports := FreePorts(3 * size)
	var routes []string
	for i := range size {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[size+i]))
	}
	c := &Cluster{bin: bin}
	for i := range size {
		s := &serverProc{name: fmt.Sprintf("nats-%d", i), port: ports[i], cluster: ports[size+i], monitor: ports[2*size+i],
			dir: filepath.Join(dir, fmt.Sprintf("nats-%d", i))}
		s.args = []string{"-n", s.name, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-m", strconv.Itoa(s.monitor),
			"-js", "-sd", s.dir, "--cluster_name", "convops", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", s.cluster),
			"--routes", strings.Join(routes, ",")}
		c.servers = append(c.servers, s)
	}
	// All start before any is waited for: a server is healthy only once
	// the cluster has a meta leader.
	for i := range c.servers {
		if err := c.spawn(i); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for i := range c.servers {
		if err := c.waitHealthy(ctx, i); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// URLs are the servers' client URLs, comma-separated, as --nats-url takes them.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", s.port))
	}
	return strings.Join(urls, ",")
}

// Names are the servers' names, by index.
func (c *Cluster) Names() []string {
	var names []string
	for _, s := range c.servers {
		names = append(names, s.name)
	}
	return names
}

// Index is the index of the server named name, or -1.
func (c *Cluster) Index(name string) int {
	return slices.Index(c.Names(), name)
}

// StartServer starts server i again, and waits until it is healthy.
func (c *Cluster) StartServer(ctx context.Context, i int) error {
	if err := c.spawn(i); err != nil {
		return err
	}
	return c.waitHealthy(ctx, i)
}

// spawn starts server i's process.
func (c *Cluster) spawn(i int) error {
	s := c.servers[i]
	cmd := exec.Command(c.bin, s.args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	return nil
}

// waitHealthy waits until server i says it is healthy.
func (c *Cluster) waitHealthy(ctx context.Context, i int) error {
	s := c.servers[i]
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		// The health check answers 200 once the server's JetStream is up
		// and current: in a cluster, once there is a meta leader and its
		// replicas have caught up.
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.monitor))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not start: %w", s.name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill ends server i with SIGKILL and waits for it to be gone.
func (c *Cluster) Kill(i int) {
	s := c.servers[i]
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
}

// Stop kills every server.
func (c *Cluster) Stop() {
	for i := range c.servers {
		c.Kill(i)
	}
}

// MetaLeader is the name of the server that leads the cluster's JetStream
// (the meta leader), as a running server tells it.
func (c *Cluster) MetaLeader() (string, error) {
	for _, s := range c.servers {
		s.mu.Lock()
		running := s.cmd != nil
		s.mu.Unlock()
		if !running {
			continue
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", s.monitor))
		if err != nil {
			continue
		}
		var jsz struct {
			Meta *struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		err = json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if err == nil && jsz.Meta != nil && jsz.Meta.Leader != "" {
			return jsz.Meta.Leader, nil
		}
	}
	return "", errors.New("no running server names a meta leader")
}

// StreamLeader is the name of the server that leads stream.
func (c *Cluster) StreamLeader(ctx context.Context, stream string) (string, error) {
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		return "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", fmt.Errorf("the stream %s has no leader now", stream)
	}
	return info.Cluster.Leader, nil
}

// SeparateLeaders makes another server lead stream when the meta leader
// leads it too (asking its leader to step down), so that the loss of one
// can be measured without the other's.
func (c *Cluster) SeparateLeaders(ctx context.Context, stream string) error {
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		return err
	}
	defer nc.Close()
	for range 10 {
		meta, err := c.MetaLeader()
		if err != nil {
			return err
		}
		leader, err := c.StreamLeader(ctx, stream)
		if err == nil && leader != meta {
			return nil
		}
		if err == nil {
			nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the meta leader still leads the stream %s", stream)
}

// FreePorts returns n ports that are free now, between 20000 and 32000:
// outside the range the system hands out for outgoing connections
// (32768–60999), so that a server started again finds its port still free.
func FreePorts(n int) []int {
	var ports []int
	for len(ports) < n {
		port := 20000 + rand.IntN(12000)
		if slices.Contains(ports, port) {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, port)
	}
	return ports
}
