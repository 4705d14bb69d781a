package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/auth"
	"github.com/convops/convops/client"
	"github.com/convops/convops/eventjson"
	"github.com/convops/convops/sim"
)

// DemoCommand runs the real server (embedded log, the same code as serve)
// with one account backfilled with a simulated day and then fed live, and
// prints how to look at it.
type DemoCommand struct {
	main *Main

	Listen  string
	DataDir string
	Account string
	// Backfill conversations over the last 24 hours; then PerHour an hour,
	// on average over the day (more at busy hours).
	Backfill int
	PerHour  float64
	Agents   int
	Skills   int
	Seed     uint64

	// ready, when set, is told the dashboard URL and the read token once
	// the backfill is in (tests).
	ready func(dashboard, token string)
}

const demoUsage = `Usage: convops demo [--listen ADDR] [--data-dir DIR] [--account ID] [--backfill N] [--per-hour N]

Runs a convops server with one account filled with a simulated contact-centre
day and fed live by the simulator, and prints the wallboard's address, the
account id, a read-only token and curl lines to try. Ctrl-C stops it; without
--data-dir its data is in a temporary directory, removed at the end.

`

// Run parses args and runs the demo until ctx is done.
func (c *DemoCommand) Run(ctx context.Context, args []string) error {
	fs := c.main.newFlagSet("demo")
	fs.Usage = func() { fmt.Fprint(c.main.Stderr, demoUsage); fs.PrintDefaults() }
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "`address` to serve HTTP on")
	fs.StringVar(&c.DataDir, "data-dir", "", "`directory` of the demo's data (default: a temporary one, removed at the end)")
	fs.StringVar(&c.Account, "account", "demo", "the simulated account's `id`")
	fs.IntVar(&c.Backfill, "backfill", 40000, "conversations resolved over the last 24 hours before the demo starts")
	fs.Float64Var(&c.PerHour, "per-hour", 4000, "conversations resolved live an hour, on average over the day")
	fs.IntVar(&c.Agents, "agents", 60, "agents of the simulated contact centre")
	fs.IntVar(&c.Skills, "skills", 8, "skills of the simulated contact centre")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the simulation")
	if err := c.main.parseWithEnv(fs, args); err != nil {
		return err
	}
	if err := convops.ValidateAccountID(c.Account); err != nil {
		return fmt.Errorf("--account: %w", err)
	}
	if c.Agents < 1 || c.Skills < 1 || c.Backfill < 0 || c.PerHour < 0 {
		return errors.New("--agents and --skills must be at least 1, --backfill and --per-hour at least 0")
	}

	dir := c.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "convops-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The demo's keys are its own, made anew at each start: one to read
	// (shown) and one for the simulator to write.
	readKey, readToken := auth.NewBearerKey("demo-wallboard", []string{c.Account}, []string{convops.ScopeRead})
	writeKey, writeToken := auth.NewBearerKey("demo-simulator", []string{c.Account}, []string{convops.ScopeWrite})
	keysPath := filepath.Join(dir, "demo-keys.json")
	if err := auth.WriteFile(keysPath, &auth.File{Keys: []auth.Key{readKey, writeKey}}); err != nil {
		return err
	}

	serve := NewServeCommand(c.main)
	if err := serve.ParseFlags([]string{"--listen", c.Listen, "--data-dir", dir, "--keys", keysPath}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serve.Run(ctx) }()
	select {
	case <-serve.Ready():
	case err := <-served:
		return err
	}
	base := "http://" + serve.Addr().String()
	writer := &client.Client{BaseURL: base, Token: writeToken}

	o := sim.Options{Seed: c.Seed, Agents: c.Agents, Skills: c.Skills, MaxSkillsPerAgent: 3,
		CCPPercent: 60, ConsumerPercent: 25, NoAgentPercent: 3}
	now := time.Now().UnixMilli()
	if err := c.backfill(ctx, writer, o, now); err != nil {
		cancel()
		<-served
		return err
	}
	dashboard := base + "/dashboard/#" + url.Values{"account": {c.Account}, "token": {readToken}}.Encode()
	c.printWelcome(base, dashboard, readToken)
	if c.ready != nil {
		c.ready(dashboard, readToken)
	}

	live := sim.NewLive(sim.Options{Seed: o.Seed, Agents: o.Agents, Skills: o.Skills, MaxSkillsPerAgent: o.MaxSkillsPerAgent,
		CCPPercent: o.CCPPercent, ConsumerPercent: o.ConsumerPercent, NoAgentPercent: o.NoAgentPercent, Prefix: "live"})
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := now
	for {
		select {
		case <-ctx.Done():
			return <-served
		case err := <-served:
			return err
		case t := <-tick.C:
			end := t.UnixMilli()
			events := live.Between(last, end, c.PerHour)
			last = end
			if len(events) == 0 {
				continue
			}
			if _, err := writer.Ingest(ctx, c.Account, encodeEvents(events), true); err != nil && ctx.Err() == nil {
				fmt.Fprintln(c.main.Stderr, "demo: live events not sent:", err)
			}
		}
	}
}

// backfill sends the simulated day before now, in batches.
func (c *DemoCommand) backfill(ctx context.Context, w *client.Client, o sim.Options, now int64) error {
	if c.Backfill == 0 {
		return nil
	}
	o.Events = c.Backfill
	o.Start = now - int64(convops.MaxTimeframeMinutes)*convops.MinuteMs + convops.MinuteMs
	o.End = now
	o.Prefix = fmt.Sprintf("day-%d", now)
	events := sim.Generate(o)
	fmt.Fprintf(c.main.Stderr, "demo: sending %d simulated conversations of the last 24 hours…\n", len(events))
	for start := 0; start < len(events); start += 5000 {
		batch := events[start:min(len(events), start+5000)]
		if _, err := w.Ingest(ctx, c.Account, encodeEvents(batch), true); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
	}
	return nil
}

func (c *DemoCommand) printWelcome(base, dashboard, token string) {
	q := base + "/operations/api/account/" + c.Account + "/msgconversation"
	fmt.Fprintf(c.main.Stdout, `
convops demo is running: account %[1]q, a simulated day, and live traffic.

  Wallboard:        %[2]s
  Account:          %[1]s
  Read-only token:  %[3]s

Try the API:

  export TOKEN=%[3]s
  curl -s -H "Authorization: Bearer $TOKEN" '%[4]s?v=1&timeframe=60'
  curl -s -H "Authorization: Bearer $TOKEN" '%[4]s?v=1&timeframe=240&interval=60&skillIds=all'
  curl -s -N -H "Authorization: Bearer $TOKEN" '%[4]s/stream?v=1&timeframe=60'
  go run ./cmd/convops query --url %[5]s --token $TOKEN --account %[1]s --timeframe 60 --skill-ids all

Metrics: %[5]s/metrics   API description: %[5]s/openapi.json
Ctrl-C stops the demo.

`, c.Account, dashboard, token, q, base)
}

// encodeEvents writes events as an NDJSON ingest body.
func encodeEvents(events []convops.Event) []byte {
	var b []byte
	for i := range events {
		b = append(eventjson.AppendEvent(b, &events[i]), '\n')
	}
	return b
}
