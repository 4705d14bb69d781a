// Command convops-bench measures a convops server and compares it with the
// same API built on PostgreSQL, on one large account and on many accounts of
// log-normal sizes. It runs `convops serve` as a process of its own, so that
// the server's memory is measured alone, and prints a Markdown report.
//
//	go run ./cmd/convops-bench                      both profiles, full size
//	go run ./cmd/convops-bench --profile tenants    many accounts only
//	go run ./cmd/convops-bench --quick              both, small: what CI runs
//	go run ./cmd/convops-bench --profile cluster    three NATS servers, shards: memory, forwarding, fail-over
//	go run ./cmd/convops-bench --compare OLD        answer latency of this server against the binary OLD
//
// Without --server it builds the server from the module it is run in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/bench"
	"github.com/convops/convops/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "convops-bench:", err)
		}
		os.Exit(1)
	}
}

// run is the command: its flags, then each profile in turn. It is long as a
// list of flags is, one after the other.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	now := time.Now().UTC().Truncate(time.Second)
	o := bench.Options{
		Clients: 4, Queries: 50, QPSDuration: 5 * time.Second, QPSClients: 16, IngestRate: 50_000,
		Postgres: true, Token: auth.NewSecret(), Now: now.UnixMilli(), Runaway: true,
	}
	single := sim.DefaultOptions(now.UnixMilli())
	tenants := sim.DefaultTenantOptions(now.UnixMilli())

	fs := flag.NewFlagSet("convops-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "all", "`which` workload: single (one large account), tenants (many accounts), all (both), or cluster (tenants on three NATS servers and shards)")
	quick := fs.Bool("quick", false, "small workloads (50,000 events) that check every step, for CI")
	server := fs.String("server", "", "the convops `binary` to measure (default: built from this module)")
	out := fs.String("out", "", "write the report to this `file` as well as to standard output")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the benchmark process (the in-process fold included) to this `file`")
	batch := fs.Int("batch", 1000, "events per ingest request (at most)")
	fs.IntVar(&single.Events, "events", single.Events, "events of the single account")
	fs.IntVar(&single.Agents, "agents", single.Agents, "agents of the single account")
	fs.IntVar(&single.Skills, "skills", single.Skills, "skills of the single account")
	fs.IntVar(&tenants.Events, "tenant-events", tenants.Events, "events of all accounts of the tenants profile")
	fs.IntVar(&tenants.Accounts, "accounts", tenants.Accounts, "accounts of the tenants profile")
	fs.Float64Var(&tenants.Sigma, "sigma", tenants.Sigma, "spread of the log-normal account sizes (0: all equal)")
	fs.IntVar(&tenants.EventsPerAgent, "events-per-agent", tenants.EventsPerAgent, "an account has one agent per this many of its events")
	fs.IntVar(&tenants.MinAgents, "min-agents", tenants.MinAgents, "agents of the smallest accounts")
	fs.IntVar(&tenants.AgentsPerSkill, "agents-per-skill", tenants.AgentsPerSkill, "an account has one skill per this many of its agents")
	fs.IntVar(&tenants.MinSkills, "min-skills", tenants.MinSkills, "skills of the smallest accounts")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent ingest clients")
	fs.IntVar(&o.Queries, "queries", o.Queries, "requests per shape for the latency figures")
	fs.BoolVar(&o.Postgres, "pg", o.Postgres, "compare with PostgreSQL (started in a temporary directory)")
	fs.StringVar(&o.PostgresBin, "pg-bin", "", "`directory` of PostgreSQL's initdb and pg_ctl (default: the newest under /usr/lib/postgresql)")
	fs.BoolVar(&o.Runaway, "runaway", o.Runaway, "send a request of 100,000 events, each a new agent and skill")
	compare := fs.String("compare", "", "instead of the benchmark, time every answer shape of this convops `binary` and of the server, request by request in turn")
	rounds := fs.Int("rounds", 2, "with --compare, rounds of --queries requests per shape to each server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *quick {
		single.Events, single.Agents, single.Skills = 50_000, 200, 20
		tenants.Events, tenants.Accounts = 50_000, 200
		o.Queries, o.QPSDuration, o.IngestRate = 10, time.Second, 10_000
	}
	var workloads []func() *bench.Workload
	if *profile == "single" || *profile == "all" {
		workloads = append(workloads, func() *bench.Workload { return bench.SingleAccount(single, "bench", *batch) })
	}
	if *profile == "tenants" || *profile == "all" {
		workloads = append(workloads, func() *bench.Workload { return bench.Tenants(tenants, *batch) })
	}
	if len(workloads) == 0 && *profile != "cluster" {
		return fmt.Errorf("--profile must be single, tenants or all, not %q", *profile)
	}

	o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	o.Out = stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Out = io.MultiWriter(stdout, f)
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
	binary := *server
	if binary == "" {
		o.Logger.Info("building the server")
		if binary, err = buildServer(ctx, dir); err != nil {
			return err
		}
	}
	keys := filepath.Join(dir, "keys.json")
	if err := auth.WriteFile(keys, &auth.File{Keys: []auth.Key{{Name: "bench", Accounts: []string{"*"}, Scopes: []string{"read", "write"}, BearerSHA256: auth.HashToken(o.Token)}}}); err != nil {
		return err
	}
	newServer := func(binary, data string) *serverProcess {
		return &serverProcess{binary: binary, logger: o.Logger, args: []string{
			"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, data), "--keys", keys,
			"--now", now.Format(time.RFC3339), "--max-inflight-per-account", "1000",
		}}
	}
	if *profile == "cluster" {
		return runCluster(ctx, o, bench.Tenants(tenants, *batch), dir, newServer, binary)
	}
	for i, workload := range workloads {
		w := workload()
		var err error
		if *compare != "" {
			servers := [2]*serverProcess{newServer(*compare, fmt.Sprint("base", i)), newServer(binary, fmt.Sprint("data", i))}
			for _, srv := range servers {
				if _, err := srv.start(ctx); err != nil {
					return err
				}
				defer srv.stop()
			}
			names := [2]string{filepath.Base(*compare), "this server"}
			err = bench.Compare(ctx, o, w, [2]bench.Server{servers[0], servers[1]}, names, *rounds)
		} else {
			srv := newServer(binary, fmt.Sprint("data", i))
			if _, err := srv.start(ctx); err != nil {
				return err
			}
			err = bench.Run(ctx, o, w, srv)
			if stopErr := srv.stop(); err == nil {
				err = stopErr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
