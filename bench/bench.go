// Package bench measures convops on a realistic account and compares its
// whole answers with those of the same API built on PostgreSQL: ingest over
// HTTP, the fold, query latency per response shape, queries per second while
// ingesting, memory, and restart time. It prints a Markdown report.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/sim"
	"github.com/convops/convops/store"
)

// Options configure a run.
type Options struct {
	Sim          sim.Options
	Clients      int           // concurrent ingest clients
	BatchSize    int           // events per ingest request
	Queries      int           // requests per shape for latency
	QPSDuration  time.Duration // length of the queries-while-ingesting test
	QPSClients   int
	IngestRate   int // events/s during the queries-while-ingesting test
	Postgres     bool
	PostgresBin  string
	Account      string
	Token        string
	Now          int64 // the data clock of the server
	Logger       *slog.Logger
	Out          io.Writer
	RestartCheck bool
}

// Server is a convops server the benchmark drives.
type Server interface {
	URL() string
	Stop() error
	// Restart stops the server and starts it again on the same data; it
	// returns how long the new one took to be ready.
	Restart(ctx context.Context) (time.Duration, error)
}

// Quick returns options for a small run (CI): the same steps on 50,000 events.
func Quick(o Options) Options {
	o.Sim.Events, o.Sim.Agents, o.Sim.Skills = 50_000, 200, 20
	o.Queries, o.QPSDuration, o.IngestRate = 20, time.Second, 10_000
	return o
}

type shape struct {
	name              string
	skills, agents    bool
	interval, tf      int
	convops, postgres []time.Duration
	size              int
}

func (s *shape) query(account string) convops.Query {
	q := convops.Query{Account: account, Timeframe: s.tf, Interval: s.interval}
	if s.skills {
		q.Skills = convops.IDFilter{Given: true, All: true}
	}
	if s.agents {
		q.Agents = convops.IDFilter{Given: true, All: true}
	}
	return q
}

func (s *shape) path(account string) string {
	v := fmt.Sprintf("timeframe=%d&v=1", s.tf)
	if s.skills {
		v += "&skillIds=all"
	}
	if s.agents {
		v += "&agentIds=all"
	}
	if s.interval > 0 {
		v += fmt.Sprintf("&interval=%d", s.interval)
	}
	return "/operations/api/account/" + account + "/msgconversation?" + v
}

func shapes() []*shape {
	var out []*shape
	for _, tf := range []int{60, 1440} {
		for _, iv := range []int{0, 60} {
			for _, kind := range []struct {
				name           string
				skills, agents bool
			}{{"account", false, false}, {"skillIds=all", true, false}, {"agentIds=all", false, true}, {"both all", true, true}} {
				name := kind.name
				if iv > 0 {
					name += ", interval=60"
				}
				out = append(out, &shape{name: name, skills: kind.skills, agents: kind.agents, interval: iv, tf: tf})
			}
		}
	}
	return out
}

// Run runs the benchmark against srv and writes the report.
func Run(ctx context.Context, o Options, srv Server) error {
	log := o.Logger
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	report := &strings.Builder{}
	fmt.Fprintf(report, "## convops benchmark\n\n%d events, %d agents, %d skills (seed %d), %s, %d cores\n\n",
		o.Sim.Events, o.Sim.Agents, o.Sim.Skills, o.Sim.Seed, runtime.Version(), runtime.NumCPU())

	log.Info("generating events", "events", o.Sim.Events)
	events := sim.Generate(o.Sim)

	// Ingest over HTTP, durable as in production.
	log.Info("ingesting over HTTP", "clients", o.Clients, "batch", o.BatchSize)
	took, err := ingestHTTP(ctx, client, srv.URL(), o, events)
	if err != nil {
		return err
	}
	ingestRate := float64(len(events)) / took.Seconds()

	// The fold alone, in-process.
	start := time.Now()
	st := store.New(store.Options{})
	for i := 0; i < len(events); i += o.BatchSize {
		st.Apply(convops.Batch{Account: o.Account, Now: o.Now, Events: events[i:min(len(events), i+o.BatchSize)]})
	}
	foldRate := float64(len(events)) / time.Since(start).Seconds()
	st = nil

	var pg *postgres
	var pgIngestRate float64
	if o.Postgres {
		log.Info("starting PostgreSQL")
		if pg, err = startPostgres(ctx, o.PostgresBin); err != nil {
			return err
		}
		defer pg.stop()
		log.Info("ingesting into PostgreSQL (upserts)")
		if took, err = ingestPostgres(ctx, pg, o, events); err != nil {
			return err
		}
		pgIngestRate = float64(len(events)) / took.Seconds()
		if _, err := pg.pool.Exec(ctx, "VACUUM ANALYZE rollup"); err != nil {
			return err
		}
	}
	events = nil
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	rss := readRSS()

	// Latency of whole answers, and the check that both give the same bytes.
	all := shapes()
	for _, s := range all {
		log.Info("measuring", "shape", s.name, "timeframe", s.tf)
		var buf bytes.Buffer
		for i := range o.Queries + 2 {
			t0 := time.Now()
			if err := get(ctx, client, srv.URL()+s.path(o.Account), o.Token, &buf); err != nil {
				return err
			}
			if i >= 2 { // two warm-up requests
				s.convops = append(s.convops, time.Since(t0))
			}
		}
		want := buf.Bytes()
		s.size = len(want)
		if pg == nil {
			continue
		}
		q := s.query(o.Account)
		for i := range o.Queries + 2 {
			t0 := time.Now()
			body, err := pg.answer(ctx, &q, o.Now)
			if err != nil {
				return fmt.Errorf("postgres %s: %w", s.name, err)
			}
			if i >= 2 {
				s.postgres = append(s.postgres, time.Since(t0))
			}
			if i == 0 && !bytes.Equal(body, want) {
				return fmt.Errorf("%s, timeframe %d: PostgreSQL's answer differs from convops's (%d and %d bytes)", s.name, s.tf, len(body), len(want))
			}
		}
	}

	fmt.Fprintf(report, "| shape | timeframe | answer bytes | convops p50 | convops p99 | PostgreSQL p50 | PostgreSQL p99 | ratio p50 | convops MB/s |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range all {
		p50, p99 := percentile(s.convops, 50), percentile(s.convops, 99)
		row := fmt.Sprintf("| %s | %d | %d | %s | %s |", s.name, s.tf, s.size, ms(p50), ms(p99))
		if pg != nil {
			q50 := percentile(s.postgres, 50)
			row += fmt.Sprintf(" %s | %s | %.0f× |", ms(q50), ms(percentile(s.postgres, 99)), q50.Seconds()/p50.Seconds())
		} else {
			row += " – | – | – |"
		}
		fmt.Fprintf(report, "%s %.0f |\n", row, float64(s.size)/p50.Seconds()/1e6)
	}
	if pg != nil {
		fmt.Fprintf(report, "\nEvery answer of PostgreSQL was byte-identical to convops's.\n")
	}

	// Queries per second while ingesting: account level, then one skill.
	qps := map[string]float64{}
	achieved := map[string]float64{}
	var refused int64
	for i, kind := range []string{"account", "skill"} {
		log.Info("queries while ingesting", "kind", kind, "rate", o.IngestRate, "clients", o.QPSClients)
		n, rate, r, err := queriesWhileIngesting(ctx, client, srv.URL(), o, kind, o.Sim.Seed+uint64(i)+1)
		if err != nil {
			return err
		}
		qps[kind], achieved[kind], refused = n, rate, refused+r
	}

	fmt.Fprintf(report, "\n| measure | convops | PostgreSQL |\n|---|---|---|\n")
	pgIngest := "–"
	if pg != nil {
		pgIngest = fmt.Sprintf("%.0f events/s", pgIngestRate)
	}
	fmt.Fprintf(report, "| ingest over HTTP (%d clients, batches of %d, durable) | %.0f events/s | %s |\n", o.Clients, o.BatchSize, ingestRate, pgIngest)
	fmt.Fprintf(report, "| fold in-process | %.0f events/s | |\n", foldRate)
	for _, k := range []string{"account", "skill"} {
		fmt.Fprintf(report, "| %s-level queries/s, %d clients, while ingesting %.0f events/s | %.0f | |\n", k, o.QPSClients, achieved[k], qps[k])
	}
	if refused > 0 {
		fmt.Fprintf(report, "| requests refused with 429 during that test | %d | |\n", refused)
	}
	fmt.Fprintf(report, "| heap after loading (this process: the server and the benchmark's client) | %.0f MB (%.0f bytes per event) | |\n",
		float64(m.HeapAlloc)/1e6, float64(m.HeapAlloc)/float64(o.Sim.Events))
	fmt.Fprintf(report, "| RSS | %.0f MB | |\n", float64(rss)/1e6)
	if o.RestartCheck {
		log.Info("restarting")
		took, err := srv.Restart(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(report, "| restart to ready | %s | |\n", took.Round(time.Millisecond))
	}
	_, err = io.WriteString(o.Out, report.String())
	return err
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds()*1000, 'f', 3, 64) + " ms"
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func readRSS() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// get reads a whole answer into buf, which keeps its capacity from one
// request to the next, as a client polling the same query would.
func get(ctx context.Context, client *http.Client, url, token string, buf *bytes.Buffer) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, buf.Bytes())
	}
	return err
}

// encodeBatch writes events as an ingest body.
func encodeBatch(buf []byte, events []convops.Event) []byte {
	buf = append(buf, '[')
	for i := range events {
		e := &events[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"conversationId":`...)
		buf = strconv.AppendQuote(buf, e.ConversationID)
		buf = append(buf, `,"skillId":`...)
		buf = strconv.AppendInt(buf, e.SkillID, 10)
		if e.HasAgent {
			buf = append(buf, `,"agentId":`...)
			buf = strconv.AppendInt(buf, e.AgentID, 10)
		}
		buf = append(buf, `,"resolvedBy":"`...)
		buf = append(buf, e.ResolvedBy.String()...)
		buf = append(buf, `","resolvedAt":`...)
		buf = strconv.AppendInt(buf, e.ResolvedAt, 10)
		buf = append(buf, `,"handlingTimeMs":`...)
		buf = strconv.AppendInt(buf, e.HandlingTimeMs, 10)
		buf = append(buf, '}')
	}
	return append(buf, ']')
}

// ingestHTTP posts the events in batches from o.Clients clients; bodies are
// encoded before the clock starts.
func ingestHTTP(ctx context.Context, client *http.Client, url string, o Options, events []convops.Event) (time.Duration, error) {
	var bodies [][]byte
	for i := 0; i < len(events); i += o.BatchSize {
		bodies = append(bodies, encodeBatch(nil, events[i:min(len(events), i+o.BatchSize)]))
	}
	start := time.Now()
	err := inParallel(o.Clients, len(bodies), func(i int) error {
		return post(ctx, client, url+"/ingest/account/"+o.Account+"/events", o.Token, bodies[i])
	})
	return time.Since(start), err
}

// inParallel calls fn(0) … fn(count−1) from workers goroutines and returns
// the first error; after an error no new call starts.
func inParallel(workers, count int, fn func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func post(ctx context.Context, client *http.Client, url, token string, body []byte) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("ingest: %d %s", resp.StatusCode, out)
	}
	var o convops.Outcome
	return json.Unmarshal(out, &o)
}

func ingestPostgres(ctx context.Context, pg *postgres, o Options, events []convops.Event) (time.Duration, error) {
	start := time.Now()
	batches := (len(events) + o.BatchSize - 1) / o.BatchSize
	err := inParallel(o.Clients, batches, func(i int) error {
		return pg.upsert(ctx, o.Account, events[i*o.BatchSize:min(len(events), (i+1)*o.BatchSize)])
	})
	return time.Since(start), err
}

// queriesWhileIngesting runs o.QPSClients clients asking one kind of query
// ("account": account level; "skill": one skill each) for o.QPSDuration while
// new events are ingested at o.IngestRate. It returns queries/s, the ingest
// rate reached, and how many requests were refused.
func queriesWhileIngesting(ctx context.Context, client *http.Client, url string, o Options, kind string, seed uint64) (qps, ingested float64, refused int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, o.QPSDuration)
	defer cancel()
	live := o.Sim
	live.Prefix, live.Seed, live.Events = fmt.Sprintf("live%d", seed), seed, int(float64(o.IngestRate)*o.QPSDuration.Seconds())+o.BatchSize
	events := sim.Generate(live)

	var ingestedEvents, answered, refusedN atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(1)
	go func() { // paced ingest
		defer wg.Done()
		per := time.Duration(float64(time.Second) * float64(o.BatchSize) / float64(o.IngestRate))
		tick := time.NewTicker(per)
		defer tick.Stop()
		for i := 0; i+o.BatchSize <= len(events); i += o.BatchSize {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if post(ctx, client, url+"/ingest/account/"+o.Account+"/events", o.Token, encodeBatch(nil, events[i:i+o.BatchSize])) == nil {
				ingestedEvents.Add(int64(o.BatchSize))
			}
		}
	}()
	for c := range o.QPSClients {
		path := fmt.Sprintf("/operations/api/account/%s/msgconversation?timeframe=60&v=1", o.Account)
		if kind == "skill" {
			path += fmt.Sprintf("&skillIds=%d", 1+c%max(1, o.Sim.Skills))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url+path, nil)
				req.Header.Set("Authorization", "Bearer "+o.Token)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					answered.Add(1)
				case 429:
					refusedN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return float64(answered.Load()) / secs, float64(ingestedEvents.Load()) / secs, refusedN.Load(), nil
}
