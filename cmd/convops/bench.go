package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/bench"
	"github.com/convops/convops/sim"
)

// BenchCommand runs the benchmark against a server it starts in this process.
type BenchCommand struct {
	main *Main
}

func (c *BenchCommand) Run(ctx context.Context, args []string) error {
	now := time.Now().UTC().Truncate(time.Second)
	o := bench.Options{
		Sim:          sim.DefaultOptions(now.UnixMilli()),
		Clients:      4,
		BatchSize:    1000,
		Queries:      200,
		QPSDuration:  5 * time.Second,
		QPSClients:   16,
		IngestRate:   50_000,
		Postgres:     true,
		Account:      "bench",
		Token:        auth.NewSecret(),
		Now:          now.UnixMilli(),
		RestartCheck: true,
	}
	fs := c.main.newFlagSet("bench")
	quick := fs.Bool("quick", false, "a small run (50,000 events) that checks every step, for CI")
	out := fs.String("out", "", "write the Markdown report to this `file` as well as to standard output")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (server included) to this `file`")
	fs.IntVar(&o.Sim.Events, "events", o.Sim.Events, "conversations resolved over the 24 hours")
	fs.IntVar(&o.Sim.Agents, "agents", o.Sim.Agents, "agents")
	fs.IntVar(&o.Sim.Skills, "skills", o.Sim.Skills, "skills")
	fs.Uint64Var(&o.Sim.Seed, "seed", o.Sim.Seed, "simulator seed")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent ingest clients")
	fs.IntVar(&o.Queries, "queries", o.Queries, "requests per shape for the latency figures")
	fs.BoolVar(&o.Postgres, "pg", o.Postgres, "compare with PostgreSQL (started in a temporary directory)")
	fs.StringVar(&o.PostgresBin, "pg-bin", "", "`directory` of PostgreSQL's initdb and pg_ctl (default: the newest under /usr/lib/postgresql)")
	if err := c.main.parseWithEnv(fs, args); err != nil {
		return err
	}
	if *quick {
		o = bench.Quick(o)
	}
	o.Logger = slog.New(slog.NewTextHandler(c.main.Stderr, nil))
	o.Out = c.main.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Out = io.MultiWriter(c.main.Stdout, f)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	dir, err := os.MkdirTemp("", "convops-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keys := filepath.Join(dir, "keys.json")
	if err := auth.WriteFile(keys, &auth.File{Keys: []auth.Key{{Name: "bench", Accounts: []string{"*"}, Scopes: []string{"read", "write"}, BearerSHA256: auth.HashToken(o.Token)}}}); err != nil {
		return err
	}
	srv := &benchServer{main: c.main, args: []string{
		"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--keys", keys,
		"--now", now.Format(time.RFC3339), "--max-inflight-per-account", "1000",
	}}
	if _, err := srv.start(ctx); err != nil {
		return err
	}
	defer srv.Stop()
	return bench.Run(ctx, o, srv)
}

// benchServer is `convops serve` in this process, its log discarded.
type benchServer struct {
	main *Main
	args []string
	url  string
	stop func() error
}

func (s *benchServer) start(ctx context.Context) (time.Duration, error) {
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	cmd := NewServeCommand(m)
	if err := cmd.ParseFlags(s.args); err != nil {
		return 0, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- cmd.Run(runCtx) }()
	select {
	case <-cmd.Ready():
	case err := <-done:
		cancel()
		return 0, fmt.Errorf("server stopped before it was ready: %w", err)
	case <-ctx.Done():
		cancel()
		return 0, ctx.Err()
	}
	took := time.Since(started)
	s.url = "http://" + cmd.Addr().String()
	s.stop = func() error {
		cancel()
		return <-done
	}
	return took, nil
}

func (s *benchServer) URL() string { return s.url }

func (s *benchServer) Stop() error {
	if s.stop == nil {
		return errors.New("not running")
	}
	stop := s.stop
	s.stop = nil
	return stop()
}

func (s *benchServer) Restart(ctx context.Context) (time.Duration, error) {
	if err := s.Stop(); err != nil {
		return 0, err
	}
	return s.start(ctx)
}
