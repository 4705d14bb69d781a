package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/convops/convops/bench"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/internal/natsprocs"
)

// runCluster runs the cluster profile: three nats-server processes, a node
// of every account and a node of each of two shards, as processes of their
// own. The fail-over it measures kills NATS servers with SIGKILL, as the
// loss of a machine would.
func runCluster(ctx context.Context, o bench.Options, w *bench.Workload, dir string, newServer func(binary, data string) *serverProcess, binary string) error {
	natsDir := filepath.Join(dir, "nats")
	if err := os.MkdirAll(natsDir, 0o700); err != nil {
		return err
	}
	o.Logger.Info("building nats-server")
	bin, err := natsprocs.Build(ctx, natsDir)
	if err != nil {
		return err
	}
	cl, err := natsprocs.Start(ctx, bin, natsDir, 3)
	if err != nil {
		return err
	}
	defer cl.Stop()
	var procs []*serverProcess
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i, shard := range []string{"0/1", "0/2", "1/2"} {
		p := newServer(binary, fmt.Sprint("cluster", i))
		p.args = append(p.args, "--nats-url", cl.URLs(), "--shard", shard)
		if _, err := p.start(ctx); err != nil {
			return err
		}
		procs = append(procs, p)
	}
	// kill kills the server a leader function names, and returns how to
	// start it again.
	kill := func(leader func() (string, error)) func(ctx context.Context) (func() error, string, error) {
		return func(ctx context.Context) (func() error, string, error) {
			name, err := leader()
			if err != nil {
				return nil, "", err
			}
			i := cl.Index(name)
			if i < 0 {
				return nil, "", fmt.Errorf("the leader %q is not one of the benchmark's servers", name)
			}
			// What it led is said with its name: the meta leader may lead
			// the stream too, whose loss costs the stream an election.
			var led []string
			if meta, _ := cl.MetaLeader(); meta == name {
				led = append(led, "the meta leader")
			}
			if stream, _ := cl.StreamLeader(ctx, eventlog.StreamName); stream == name {
				led = append(led, "the stream's leader")
			}
			cl.Kill(i)
			return func() error { return cl.StartServer(ctx, i) }, name + ", " + strings.Join(led, " and "), nil
		}
	}
	return bench.RunCluster(ctx, o, w, bench.ClusterNodes{Whole: procs[0], Shards: [2]bench.Server{procs[1], procs[2]},
		KillMetaLeader: kill(func() (string, error) {
			// The meta leader alone: the stream's leader is lost next.
			if err := cl.SeparateLeaders(ctx, eventlog.StreamName); err != nil {
				return "", err
			}
			return cl.MetaLeader()
		}),
		KillStreamLeader: kill(func() (string, error) { return cl.StreamLeader(ctx, eventlog.StreamName) }),
	})
}
