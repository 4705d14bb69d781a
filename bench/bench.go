// Package bench measures a convops server on a workload — one large account,
// or many accounts of log-normal sizes — and compares its whole answers with
// those of the same API built on PostgreSQL: ingest over HTTP, the fold,
// query latency per response shape, queries per second while ingesting,
// memory, restart time, and a runaway request. It prints a Markdown report.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
)

// Options configure a run.
type Options struct {
	Clients     int           // concurrent ingest clients
	Queries     int           // requests per shape for latency
	QPSDuration time.Duration // length of the queries-while-ingesting test
	QPSClients  int
	IngestRate  int // events/s during the queries-while-ingesting test
	Postgres    bool
	PostgresBin string
	Token       string
	Now         int64 // the data clock of the server
	Runaway     bool  // send the runaway request
	Logger      *slog.Logger
	Out         io.Writer
}

// Server is a convops server the benchmark drives.
type Server interface {
	URL() string
	// Restart stops the server and starts it again on the same data; it
	// returns how long the new one took to be ready. With crash, the
	// server is killed (SIGKILL) instead of stopped.
	Restart(ctx context.Context, crash bool) (time.Duration, error)
	// Memory reports the server process's memory.
	Memory(ctx context.Context) (Memory, error)
	// Snapshot asks the server for a snapshot and waits until it is
	// written.
	Snapshot(ctx context.Context) (SnapshotInfo, error)
}

// SnapshotInfo is what the server said of a snapshot it wrote.
type SnapshotInfo struct {
	Began, Ended time.Time // as the benchmark saw them
	Bytes        int64
	Took         time.Duration // as the server measured it
	// LongestHold is the longest the server said the snapshot held a lock
	// an ingest or a query waits for.
	LongestHold time.Duration
}

// Memory is what a server process holds.
type Memory struct {
	RSS      int64 // resident set
	LiveHeap int64 // the Go heap live at the last collection; 0 when unknown
}

type shape struct {
	name           string
	skills, agents bool
	interval, tf   int
	tail           bool // with the benchmark's percentiles and thresholds
}

func (s *shape) query(account string) convops.Query {
	q := convops.Query{Account: account, Timeframe: s.tf, Interval: s.interval}
	if s.skills {
		q.Skills = convops.IDFilter{Given: true, All: true}
	}
	if s.agents {
		q.Agents = convops.IDFilter{Given: true, All: true}
	}
	if s.tail {
		q = withTail(q)
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
	if s.tail {
		v += "&" + tailParams
	}
	return "/operations/api/account/" + account + "/msgconversation?" + v
}

func shapes() []shape {
	var out []shape
	for _, iv := range []int{0, 60} {
		for _, kind := range []struct {
			name           string
			skills, agents bool
		}{{"account", false, false}, {"skillIds=all", true, false}, {"agentIds=all", false, true}, {"both all", true, true}} {
			for _, tf := range []int{60, 1440} {
				name := kind.name
				if iv > 0 {
					name += ", interval=60"
				}
				out = append(out, shape{name: name, skills: kind.skills, agents: kind.agents, interval: iv, tf: tf})
			}
		}
	}
	return out
}

// result is one measurement of the report.
type result struct {
	label, value string
}

// table is the rows of a report's table.
type table []result

func (rs *table) add(label, format string, args ...any) {
	*rs = append(*rs, result{label, fmt.Sprintf(format, args...)})
}

// write writes the table, headed with the name of its values' column.
func (rs table) write(w io.Writer, column string) {
	fmt.Fprintf(w, "\n| measure | %s |\n|---|---|\n", column)
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %s |\n", r.label, r.value)
	}
}

// Run runs the benchmark of w against srv and writes the report. It is
// long because it is the benchmark's script: each measure in the order the
// report gives them, each adding its row, read from top to bottom.
func Run(ctx context.Context, o Options, w *Workload, srv Server) error {
	log := o.Logger
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var results table
	add := results.add

	// Ingest over HTTP, durable as in production.
	log.Info("ingesting over HTTP", "workload", w.Name, "events", w.Events, "requests", len(w.Batches), "clients", o.Clients)
	took, err := ingestHTTP(ctx, client, srv.URL(), o, w.Batches)
	if err != nil {
		return err
	}
	add(fmt.Sprintf("ingest over HTTP (%d clients, %d requests, durable)", o.Clients, len(w.Batches)), "%.0f events/s", float64(w.Events)/took.Seconds())

	mem, err := srv.Memory(ctx)
	if err != nil {
		return err
	}
	add("server resident memory after ingest", "%s (%.0f bytes per event)", mb(mem.RSS), float64(mem.RSS)/float64(w.Events))
	if mem.LiveHeap > 0 {
		add("server live heap after ingest", "%s (%.0f bytes per event)", mb(mem.LiveHeap), float64(mem.LiveHeap)/float64(w.Events))
	}

	// A restart replays the log, which holds the workload and nothing else
	// yet; it must give the same answers: the largest shape of each timed
	// account is compared byte for byte.
	largest := shape{name: "both all, interval=60", skills: true, agents: true, interval: 60, tf: 1440}
	before := map[string]string{}
	for _, m := range w.Measured {
		var buf bytes.Buffer
		if err := get(ctx, client, srv.URL()+largest.path(m.Account), o.Token, &buf); err != nil {
			return err
		}
		before[m.Account] = buf.String()
	}
	log.Info("restarting")
	restart, err := srv.Restart(ctx, false)
	if err != nil {
		return err
	}
	for _, m := range w.Measured {
		var buf bytes.Buffer
		if err := get(ctx, client, srv.URL()+largest.path(m.Account), o.Token, &buf); err != nil {
			return err
		}
		if buf.String() != before[m.Account] {
			return fmt.Errorf("account %s: the answer after the restart differs from the one before", m.Account)
		}
	}
	add(fmt.Sprintf("restart to ready after a graceful stop (%d events in the log; answers identical before and after)", w.Events), "%s", restart.Round(time.Millisecond))
	if mem, err = srv.Memory(ctx); err != nil {
		return err
	}
	add("server resident memory after restart", "%s (%.0f bytes per event)", mb(mem.RSS), float64(mem.RSS)/float64(w.Events))
	if mem.LiveHeap > 0 {
		add("server live heap after restart", "%s (%.0f bytes per event)", mb(mem.LiveHeap), float64(mem.LiveHeap)/float64(w.Events))
	}

	// The fold alone, in this process, and what the store holds.
	fold, stats, storeHeap := foldInProcess(w)
	add("fold in-process (one goroutine)", "%.0f events/s", fold)
	add("store in-process: heap", "%s (%.0f bytes per event): %d series, %d buckets with data, %d dedupe keys",
		mb(storeHeap), float64(storeHeap)/float64(w.Events), stats.Series, stats.Buckets, stats.DedupeKeys)

	var pg *postgres
	if o.Postgres {
		log.Info("starting PostgreSQL")
		if pg, err = startPostgres(ctx, o.PostgresBin); err != nil {
			return err
		}
		defer pg.stop()
		log.Info("ingesting into PostgreSQL (upserts)")
		start := time.Now()
		if err := inParallel(o.Clients, len(w.Batches), func(i int) error {
			return pg.upsert(ctx, w.Batches[i].Account, w.Batches[i].Events)
		}); err != nil {
			return err
		}
		add("PostgreSQL: ingest (upserts, same clients and batches)", "%.0f events/s", float64(w.Events)/time.Since(start).Seconds())
		if _, err := pg.pool.Exec(ctx, "VACUUM ANALYZE rollup"); err != nil {
			return err
		}
		log.Info("loading the raw events into PostgreSQL, for percentiles")
		start = time.Now()
		if err := pg.loadEvents(ctx, w.Batches); err != nil {
			return err
		}
		add("PostgreSQL: raw events for percentiles (COPY, index, analyze)", "%s", time.Since(start).Round(time.Millisecond))
	}

	// Latency of whole answers, and the check that both give the same bytes.
	report := &strings.Builder{}
	fmt.Fprintf(report, "## %s\n\n%s; %s, %d cores (%s)\n\n", w.Name, w.Describe, runtime.Version(), runtime.NumCPU(), cpuModel())
	fmt.Fprintf(report, "| account | shape | timeframe | answer bytes | convops p50 | convops p99 | PostgreSQL p50 | ratio p50 |\n|---|---|---|---|---|---|---|---|\n")
	for _, m := range w.Measured {
		for _, s := range shapes() {
			log.Info("measuring", "account", m.Label, "shape", s.name, "timeframe", s.tf)
			var times []time.Duration
			var buf bytes.Buffer
			for i := range o.Queries + 2 {
				t0 := time.Now()
				if err := get(ctx, client, srv.URL()+s.path(m.Account), o.Token, &buf); err != nil {
					return err
				}
				if i >= 2 { // two warm-up requests
					times = append(times, time.Since(t0))
				}
			}
			want := buf.Bytes()
			p50 := percentile(times, 50)
			row := fmt.Sprintf("| %s | %s | %d | %d | %s | %s |", m.Label, s.name, s.tf, len(want), ms(p50), ms(percentile(times, 99)))
			if pg == nil {
				fmt.Fprintf(report, "%s – | – |\n", row)
				continue
			}
			q := s.query(m.Account)
			var pgTimes []time.Duration
			for i := range max(3, o.Queries/4) + 1 {
				t0 := time.Now()
				body, err := pg.answer(ctx, &q, o.Now)
				if err != nil {
					return fmt.Errorf("postgres %s: %w", s.name, err)
				}
				if i > 0 {
					pgTimes = append(pgTimes, time.Since(t0))
				} else if !bytes.Equal(body, want) {
					return fmt.Errorf("account %s, %s, timeframe %d: PostgreSQL's answer differs from convops's (%d and %d bytes)", m.Account, s.name, s.tf, len(body), len(want))
				}
			}
			q50 := percentile(pgTimes, 50)
			fmt.Fprintf(report, "%s %s | %.0f× |\n", row, ms(q50), q50.Seconds()/p50.Seconds())
		}
	}
	if pg != nil {
		fmt.Fprintf(report, "\nEvery answer of PostgreSQL was byte-identical to convops's.\n")
	}
	if err := measureTails(ctx, o, w, client, srv, pg, report); err != nil {
		return err
	}

	// A snapshot written while events are ingested and queries answered,
	// then a crash: the restart loads it and replays the log after it.
	// After the comparison with PostgreSQL, which holds only the workload.
	log.Info("snapshot under load")
	rs, err := duringSnapshot(ctx, client, srv, o, w)
	if err != nil {
		return err
	}
	results = append(results, rs...)
	log.Info("crash and restart")
	crash, err := srv.Restart(ctx, true)
	if err != nil {
		return err
	}
	add("restart to ready after kill -9 (the snapshot above and the log after it)", "%s", crash.Round(time.Millisecond))

	// Queries per second while ingesting: account level, then one skill.
	for i, kind := range []string{"account", "skill"} {
		log.Info("queries while ingesting", "kind", kind, "rate", o.IngestRate, "clients", o.QPSClients)
		qps, rate, refused, err := queriesWhileIngesting(ctx, client, srv.URL(), o, w, kind, uint64(i)+2)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("%s-level queries/s, %d clients, while ingesting", kind, o.QPSClients), "%.0f (ingest reached %.0f events/s; %d refused with 429)", qps, rate, refused)
	}

	if o.Runaway {
		log.Info("runaway request")
		rs, err := runaway(ctx, client, srv, o)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}

	results.write(report, "result")
	fmt.Fprintln(report)
	_, err = io.WriteString(o.Out, report.String())
	return err
}

// foldInProcess applies the workload's batches to a new store in this
// process, as the server's fold does, and measures its speed and the heap
// the store takes.
func foldInProcess(w *Workload) (eventsPerSecond float64, stats store.Stats, heap int64) {
	before := liveHeap()
	st := store.New(store.Options{})
	start := time.Now()
	var now int64
	for _, b := range w.Batches {
		now = max(now, b.Events[len(b.Events)-1].ResolvedAt)
	}
	for _, b := range w.Batches {
		st.Apply(convops.Batch{Account: b.Account, Now: now, Events: b.Events})
	}
	eventsPerSecond = float64(w.Events) / time.Since(start).Seconds()
	heap = liveHeap() - before
	stats = st.Stats()
	runtime.KeepAlive(st)
	return eventsPerSecond, stats, heap
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

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

// cpuModel names the processor, as the kernel does.
func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimLeft(rest, " \t:"))
		}
	}
	return runtime.GOARCH
}
