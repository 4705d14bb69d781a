package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convops/convops"
	"github.com/convops/convops/answerjson"
)

// postgres is the peer: a real PostgreSQL server in a temporary directory on
// loopback, holding the same events in a 5-minute rollup table.
type postgres struct {
	dir  string
	bin  string
	port int
	pool *pgxpool.Pool
	// asUser runs the server's commands as this user: PostgreSQL refuses to
	// run as root.
	asUser string
}

// findPostgres returns the directory of initdb and pg_ctl.
func findPostgres(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Sort(dirs)
	if len(dirs) == 0 {
		return "", errors.New("PostgreSQL is not installed (apt-get install postgresql), or pass --pg-bin, or --pg=false")
	}
	return dirs[len(dirs)-1], nil
}

func (p *postgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if p.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", p.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// startPostgres initialises and starts a server, tuned as a fair peer: work_mem
// large enough that the 24-hour sorts do not spill, durable commits as ours.
func startPostgres(ctx context.Context, bin string) (*postgres, error) {
	bin, err := findPostgres(bin)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "convops-bench-pg-")
	if err != nil {
		return nil, err
	}
	p := &postgres{dir: dir, bin: bin}
	if u, _ := user.Current(); u != nil && u.Uid == "0" {
		p.asUser = "postgres"
		pgUser, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user to run PostgreSQL: %w", err)
		}
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := p.command("initdb", "-D", data, "-A", "trust", "-U", "bench", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if p.port, err = freePort(); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c shared_buffers=512MB -c work_mem=256MB "+
		"-c max_wal_size=4GB -c synchronous_commit=on -c fsync=on", p.port, dir)
	if out, err := p.command("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=bench dbname=postgres", p.port))
	if err != nil {
		p.stop()
		return nil, err
	}
	// The default cached statements switch to a generic plan after a few runs,
	// 2–4× slower on 24-hour ranges: plan every query for its values.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.MaxConns = 16
	if p.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		p.stop()
		return nil, err
	}
	_, err = p.pool.Exec(ctx, `CREATE TABLE rollup (
		account text NOT NULL, bucket bigint NOT NULL, skill bigint NOT NULL,
		agent bigint NOT NULL, has_agent boolean NOT NULL,
		ccp_n bigint NOT NULL, cons_n bigint NOT NULL, sys_n bigint NOT NULL,
		ccp_ms bigint NOT NULL, cons_ms bigint NOT NULL, sys_ms bigint NOT NULL,
		PRIMARY KEY (account, bucket, skill, agent, has_agent))`)
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *postgres) stop() {
	if p.pool != nil {
		p.pool.Close()
	}
	p.command("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "stop").Run()
	os.RemoveAll(p.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type rollupKey struct {
	bucket, skill, agent int64
	hasAgent             bool
}

// upsert adds a batch of events with one statement and one commit: the
// events are first summed per row, as one statement cannot update a row twice.
// Rows are written in key order so that concurrent writers lock them in the
// same order; a deadlock that happens anyway is retried, as a service would.
func (p *postgres) upsert(ctx context.Context, account string, events []convops.Event) error {
	for {
		err := p.upsertOnce(ctx, account, events)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "40P01" {
			continue
		}
		return err
	}
}

func (p *postgres) upsertOnce(ctx context.Context, account string, events []convops.Event) error {
	rows := map[rollupKey]*convops.Counters{}
	for i := range events {
		e := &events[i]
		k := rollupKey{convops.BucketIndex(e.ResolvedAt), e.SkillID, e.AgentID, e.HasAgent}
		if rows[k] == nil {
			rows[k] = new(convops.Counters)
		}
		rows[k].AddEvent(e.ResolvedBy, e.HandlingTimeMs)
	}
	n := len(rows)
	cols := make([][]int64, 9)
	for i := range cols {
		cols[i] = make([]int64, 0, n)
	}
	hasAgent := make([]bool, 0, n)
	for k, c := range rows {
		for i, v := range []int64{k.bucket, k.skill, k.agent, c.Count[0], c.Count[1], c.Count[2], c.Handling[0], c.Handling[1], c.Handling[2]} {
			cols[i] = append(cols[i], v)
		}
		hasAgent = append(hasAgent, k.hasAgent)
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO rollup AS r
		SELECT $1, b, s, a, h, c1, c2, c3, m1, m2, m3
		FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::boolean[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
			AS t(b, s, a, h, c1, c2, c3, m1, m2, m3)
		ORDER BY b, s, a, h
		ON CONFLICT (account, bucket, skill, agent, has_agent) DO UPDATE SET
			ccp_n = r.ccp_n + excluded.ccp_n, cons_n = r.cons_n + excluded.cons_n, sys_n = r.sys_n + excluded.sys_n,
			ccp_ms = r.ccp_ms + excluded.ccp_ms, cons_ms = r.cons_ms + excluded.cons_ms, sys_ms = r.sys_ms + excluded.sys_ms`,
		account, cols[0], cols[1], cols[2], hasAgent, cols[3], cols[4], cols[5], cols[6], cols[7], cols[8])
	return err
}

// answer computes the whole answer of q at now from the rollup table: the
// same SQL a service built on the database would run, rows fetched into Go,
// and the same JSON written from them.
func (p *postgres) answer(ctx context.Context, q *convops.Query, now int64) ([]byte, error) {
	w := convops.Layout(now, q.Timeframe, q.Interval)
	width := w.Whole.End - w.Whole.First // buckets per interval: one interval without
	if q.Interval > 0 {
		width = int64((q.Interval + 4) / 5)
	}
	// Interval j = 0 is the newest; rows are grouped by it in SQL.
	const sums = `sum(ccp_n)::bigint, sum(cons_n)::bigint, sum(sys_n)::bigint, sum(ccp_ms)::bigint, sum(cons_ms)::bigint, sum(sys_ms)::bigint`
	var sql string
	switch {
	case q.Skills.Given:
		sql = `SELECT ($3 - 1 - bucket) / $4, skill, agent, has_agent, ` + sums + ` FROM rollup
			WHERE account = $1 AND bucket >= $2 AND bucket < $3 GROUP BY 1, 2, 3, 4`
	case q.Agents.Given:
		sql = `SELECT ($3 - 1 - bucket) / $4, 0::bigint, agent, true, ` + sums + ` FROM rollup
			WHERE account = $1 AND bucket >= $2 AND bucket < $3 AND has_agent GROUP BY 1, 3`
	default:
		sql = `SELECT ($3 - 1 - bucket) / $4, 0::bigint, 0::bigint, false, ` + sums + ` FROM rollup
			WHERE account = $1 AND bucket >= $2 AND bucket < $3 GROUP BY 1`
	}
	rows, err := p.pool.Query(ctx, sql, q.Account, w.Whole.First, w.Whole.End, width)
	if err != nil {
		return nil, err
	}
	spans := w.Intervals
	if spans == nil {
		spans = []convops.Span{w.Whole}
	}
	acc := make([]*reportBuilder, len(spans))
	for i := range acc {
		acc[i] = newReportBuilder()
	}
	for rows.Next() {
		var j, skill, agent int64
		var hasAgent bool
		var c convops.Counters
		if err := rows.Scan(&j, &skill, &agent, &hasAgent, &c.Count[0], &c.Count[1], &c.Count[2], &c.Handling[0], &c.Handling[1], &c.Handling[2]); err != nil {
			rows.Close()
			return nil, err
		}
		acc[j].add(q, skill, agent, hasAgent, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var res convops.Result
	whole := newReportBuilder()
	for i, b := range acc {
		whole.merge(b)
		if q.Interval > 0 {
			res.Intervals = append(res.Intervals, convops.IntervalReport{TimestampMs: spans[i].EndMs(), Report: b.report(q)})
		}
	}
	res.Whole = whole.report(q)
	return answerjson.Append(make([]byte, 0, 1024), q, &res), nil
}

// reportBuilder sums rows into the elements of one report.
type reportBuilder struct {
	totals      convops.Counters
	skills      map[int64]*convops.Counters
	skillAgents map[int64]map[int64]*convops.Counters
	agents      map[int64]*convops.Counters
}

func newReportBuilder() *reportBuilder {
	return &reportBuilder{skills: map[int64]*convops.Counters{}, skillAgents: map[int64]map[int64]*convops.Counters{}, agents: map[int64]*convops.Counters{}}
}

func addTo(m map[int64]*convops.Counters, id int64, c *convops.Counters) {
	if m[id] == nil {
		m[id] = new(convops.Counters)
	}
	m[id].Add(c)
}

func (b *reportBuilder) add(q *convops.Query, skill, agent int64, hasAgent bool, c *convops.Counters) {
	b.totals.Add(c)
	if q.Skills.Given && q.Skills.Contains(skill) {
		addTo(b.skills, skill, c)
		if hasAgent {
			if b.skillAgents[skill] == nil {
				b.skillAgents[skill] = map[int64]*convops.Counters{}
			}
			addTo(b.skillAgents[skill], agent, c)
		}
	}
	if q.Agents.Given && hasAgent && q.Agents.Contains(agent) {
		addTo(b.agents, agent, c)
	}
}

func (b *reportBuilder) merge(o *reportBuilder) {
	b.totals.Add(&o.totals)
	for id, c := range o.skills {
		addTo(b.skills, id, c)
	}
	for skill, agents := range o.skillAgents {
		if b.skillAgents[skill] == nil {
			b.skillAgents[skill] = map[int64]*convops.Counters{}
		}
		for id, c := range agents {
			addTo(b.skillAgents[skill], id, c)
		}
	}
	for id, c := range o.agents {
		addTo(b.agents, id, c)
	}
}

func sortedIDs(m map[int64]*convops.Counters) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (b *reportBuilder) report(q *convops.Query) convops.Report {
	r := convops.Report{Totals: b.totals}
	for _, id := range sortedIDs(b.skills) {
		sk := convops.SkillMetrics{SkillID: id, Totals: *b.skills[id]}
		for _, aid := range sortedIDs(b.skillAgents[id]) {
			sk.Agents = append(sk.Agents, convops.AgentMetrics{AgentID: aid, Counters: *b.skillAgents[id][aid]})
		}
		r.SkillTotals.Add(&sk.Totals)
		r.Skills = append(r.Skills, sk)
	}
	for _, id := range sortedIDs(b.agents) {
		r.Agents = append(r.Agents, convops.AgentMetrics{AgentID: id, Counters: *b.agents[id]})
		r.AgentTotals.Add(b.agents[id])
	}
	return r
}
