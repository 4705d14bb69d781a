package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convops/convops"
	"github.com/convops/convops/client"
)

// The percentiles and thresholds the benchmark asks for: the supervisor's
// questions (the median, the slow tenth, the slowest hundredth; handled
// within 5 and within 10 minutes).
var (
	tailPercentiles = []int64{500, 900, 990} // tenths of a percent
	tailThresholds  = []int64{300, 600}      // seconds
)

const tailParams = "percentiles=50,90,99&thresholds=300,600"

// tailShapes are the shapes timed with percentiles and thresholds, each
// beside the same shape without them.
func tailShapes() []shape {
	var out []shape
	for _, s := range []shape{
		{name: "account", tf: 60},
		{name: "account", tf: 1440},
		{name: "account, interval=60", interval: 60, tf: 1440},
		{name: "skillIds=all", skills: true, tf: 1440},
		{name: "agentIds=all", agents: true, tf: 1440},
		{name: "both all", skills: true, agents: true, tf: 1440},
	} {
		s.tail = true
		out = append(out, s)
	}
	return out
}

// withTail returns q asking for the benchmark's percentiles and thresholds.
func withTail(q convops.Query) convops.Query {
	for _, p := range tailPercentiles {
		q.Percentiles = append(q.Percentiles, convops.Percentile{Tenths: p, Text: strconv.FormatInt(p/10, 10)})
	}
	q.Thresholds = tailThresholds
	return q
}

// loadEvents copies the workload's events into a table of raw events, as a
// team answering percentiles with SQL keeps them: one row per
// conversation, indexed by account and bucket.
func (p *postgres) loadEvents(ctx context.Context, batches []Batch) error {
	_, err := p.pool.Exec(ctx, `CREATE TABLE events (
		account text NOT NULL, bucket bigint NOT NULL, skill bigint NOT NULL,
		agent bigint, resolver smallint NOT NULL, handling_ms bigint NOT NULL)`)
	if err != nil {
		return err
	}
	rows := make([][]any, 0, 1024)
	for _, b := range batches {
		for i := range b.Events {
			e := &b.Events[i]
			var agent any
			if e.HasAgent {
				agent = e.AgentID
			}
			rows = append(rows, []any{b.Account, convops.BucketIndex(e.ResolvedAt), e.SkillID, agent, int16(e.ResolvedBy), e.HandlingTimeMs})
		}
		if len(rows) >= 50_000 {
			if _, err := p.pool.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"account", "bucket", "skill", "agent", "resolver", "handling_ms"}, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	if _, err := p.pool.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"account", "bucket", "skill", "agent", "resolver", "handling_ms"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if _, err := p.pool.Exec(ctx, `CREATE INDEX ON events (account, bucket)`); err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `VACUUM ANALYZE events`)
	return err
}

// cellKey names a metrics object of an answer: its interval's end (0 for
// the whole range), its element, and its skill and agent when it has one.
type cellKey struct {
	interval     int64
	element      string
	skill, agent int64
	hasSkill     bool
	hasAgent     bool
}

// exactTail is the exact tail of one object: per percentile the
// nearest-rank handling time by CCP, consumer, system and all (−1 for
// none); per threshold and resolver how many conversations surely count as
// within (handled within it, and not within 1% of it) and how many may (handled within
// 101% of it).
type exactTail struct {
	percentiles [][4]int64
	must, may   [][3]int64
}

// exactTails answers q's percentiles and thresholds from the raw events,
// with percentile_disc and count(*) filter, one group per metrics object
// (grouping sets), as a team would.
func (p *postgres) exactTails(ctx context.Context, q *convops.Query, now int64) (map[cellKey]*exactTail, error) {
	w := convops.Layout(now, q.Timeframe, q.Interval)
	width := w.Whole.End - w.Whole.First
	if q.Interval > 0 {
		width = int64((q.Interval + 4) / 5)
	}
	// One group per metrics object: the totals, each skill, each agent
	// within a skill, the listed agents' totals, each agent; each of the
	// whole range and (with intervals) of each interval j. Without
	// intervals j is 0 for every row, and the groups with j are the whole
	// range's.
	groups := [][]string{{}}
	if q.Skills.Given {
		groups = append(groups, []string{"skill"}, []string{"skill", "agent"})
	}
	if q.Agents.Given {
		groups = append(groups, []string{"has_agent"}, []string{"agent"})
	}
	var sets []string
	for _, g := range groups {
		sets = append(sets, "("+strings.Join(append([]string{"j"}, g...), ", ")+")")
		if q.Interval > 0 {
			sets = append(sets, "("+strings.Join(g, ", ")+")")
		}
	}
	grouping := []string{"j"} // the columns GROUPING() reports on, in its bits' order
	if q.Skills.Given {
		grouping = append(grouping, "skill")
	}
	if q.Skills.Given || q.Agents.Given {
		grouping = append(grouping, "agent")
	}
	if q.Agents.Given {
		grouping = append(grouping, "has_agent")
	}
	// percentile_disc(f) is the first value whose position reaches
	// f·n, computed in floating point: f is taken a billionth lower, so
	// that 0.9·n just above a whole number does not pass it (f·n has
	// thousandths at most, so this changes nothing else).
	var fr []string
	for _, t := range q.Percentiles {
		fr = append(fr, fmt.Sprintf("%g", float64(t.Tenths)/1000-1e-9))
	}
	fractions := "ARRAY[" + strings.Join(fr, ",") + "]::float8[]"
	// The columns of no group are NULL in every row.
	column := func(name, null string) string {
		if slices.Contains(grouping, name) {
			return name
		}
		return null
	}
	cols := []string{"GROUPING(" + strings.Join(grouping, ", ") + ")", "j", column("skill", "NULL::bigint"), column("agent", "NULL::bigint"), column("has_agent", "NULL::boolean")}
	for by := range 3 {
		cols = append(cols, fmt.Sprintf("percentile_disc(%s) WITHIN GROUP (ORDER BY handling_ms) FILTER (WHERE resolver = %d)", fractions, by))
	}
	cols = append(cols, fmt.Sprintf("percentile_disc(%s) WITHIN GROUP (ORDER BY handling_ms)", fractions))
	for _, secs := range q.Thresholds {
		limit := secs * 1000
		for by := range 3 {
			cols = append(cols,
				fmt.Sprintf("count(*) FILTER (WHERE resolver = %d AND handling_ms <= %d AND 100 * handling_ms < %d)", by, limit, 99*limit),
				fmt.Sprintf("count(*) FILTER (WHERE resolver = %d AND 100 * handling_ms <= %d)", by, 101*limit))
		}
	}
	sql := `SELECT ` + strings.Join(cols, ", ") + ` FROM (
			SELECT ($3 - 1 - bucket) / $4 AS j, skill, agent, agent IS NOT NULL AS has_agent, resolver, handling_ms
			FROM events WHERE account = $1 AND bucket >= $2 AND bucket < $3) e
		GROUP BY GROUPING SETS (` + strings.Join(sets, ", ") + `)`
	rows, err := p.pool.Query(ctx, sql, q.Account, w.Whole.First, w.Whole.End, width)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[cellKey]*exactTail{}
	np, nt := len(q.Percentiles), len(q.Thresholds)
	for rows.Next() {
		var bits int32
		var j, skill, agent *int64
		var hasAgent *bool
		var byP [4][]*int64
		counts := make([]int64, 6*nt)
		dest := []any{&bits, &j, &skill, &agent, &hasAgent, &byP[0], &byP[1], &byP[2], &byP[3]}
		for i := range counts {
			dest = append(dest, &counts[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		// GROUPING's bits, the first column's highest: 1 where the
		// column is not grouped by.
		grouped := func(col string) bool {
			for i, c := range grouping {
				if c == col {
					return bits&(1<<(len(grouping)-1-i)) == 0
				}
			}
			return false
		}
		key := cellKey{element: "metricsTotals"}
		if grouped("j") && q.Interval > 0 {
			key.interval = w.Intervals[*j].EndMs()
		}
		switch {
		case grouped("has_agent"): // the listed agents' totals
			if !*hasAgent {
				continue
			}
			key.element = "agentsMetrics"
		case grouped("skill") && grouped("agent"): // an agent within a skill
			if agent == nil {
				continue // the skill's conversations without an agent
			}
			key = cellKey{interval: key.interval, element: "skillsMetricsPerAgent", skill: *skill, hasSkill: true, agent: *agent, hasAgent: true}
		case grouped("skill"):
			key = cellKey{interval: key.interval, element: "skillsMetricsPerAgent", skill: *skill, hasSkill: true}
		case grouped("agent"):
			if agent == nil {
				continue
			}
			key = cellKey{interval: key.interval, element: "agentsMetrics", agent: *agent, hasAgent: true}
		}
		ex := &exactTail{percentiles: make([][4]int64, np), must: make([][3]int64, nt), may: make([][3]int64, nt)}
		for i := range np {
			for by := range 4 {
				ex.percentiles[i][by] = -1
				if i < len(byP[by]) && byP[by][i] != nil {
					ex.percentiles[i][by] = *byP[by][i]
				}
			}
		}
		for i := range nt {
			for by := range 3 {
				ex.must[i][by], ex.may[i][by] = counts[6*i+2*by], counts[6*i+2*by+1]
			}
		}
		out[key] = ex
		if key.element == "metricsTotals" && q.Skills.All {
			// With every skill listed, the skills' totals are the account's.
			sk := key
			sk.element = "skillsMetricsPerAgent"
			out[sk] = ex
		}
	}
	return out, rows.Err()
}

// tailCheck is what the accuracy check of one answer found.
type tailCheck struct {
	percentiles, counts int     // values checked
	worst               float64 // the largest error of a percentile of a second or more, relative to its exact value
	worstMs             int64   // and in milliseconds
	outside             []string
}

// check compares the tails of convops's answer with the exact ones: each
// percentile within 1% + 1 ms of the exact value, each count within a
// threshold between the conversations that surely count and those that
// may. Every object of the answer must have its exact counterpart.
func (c *tailCheck) check(body []byte, q *convops.Query, exact map[cellKey]*exactTail) error {
	var a client.Answer
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&a); err != nil {
		return err
	}
	for _, cell := range a.Cells() {
		key := cellKey{element: cell.Element}
		if cell.Interval != nil {
			key.interval = cell.Interval.Timestamp
		}
		if cell.Skill != nil {
			key.skill, key.hasSkill = *cell.Skill, true
		}
		if cell.Agent != nil {
			key.agent, key.hasAgent = *cell.Agent, true
		}
		ex := exact[key]
		if ex == nil {
			if cell.Metrics.Resolved == 0 {
				continue // an empty total: nothing to check
			}
			return fmt.Errorf("no exact tail for %+v", key)
		}
		for i, p := range q.Percentiles {
			got := cell.Metrics.Percentiles[strconv.FormatInt(p.Tenths/10, 10)]
			for by, v := range [4]int64{got.ByCCP, got.ByConsumer, got.BySystem, got.All} {
				want := ex.percentiles[i][by]
				c.percentiles++
				d := math.Abs(float64(v - want))
				if want < 0 || v < 0 {
					if v != want {
						c.outside = append(c.outside, fmt.Sprintf("%+v p%d resolver %d: %d, exactly %d", key, p.Tenths/10, by, v, want))
					}
					continue
				}
				if d > 0.01*float64(want)+1 {
					c.outside = append(c.outside, fmt.Sprintf("%+v p%d resolver %d: %d, exactly %d", key, p.Tenths/10, by, v, want))
				}
				if want >= 1000 && d/float64(want) > c.worst { // below a second the 1 ms of rounding dominates
					c.worst = d / float64(want)
				}
				c.worstMs = max(c.worstMs, int64(d))
			}
		}
		for i, secs := range q.Thresholds {
			got := cell.Metrics.Within[int(secs)]
			for by, v := range [3]int64{got.ByCCP, got.ByConsumer, got.BySystem} {
				c.counts++
				if v < ex.must[i][by] || v > ex.may[i][by] {
					c.outside = append(c.outside, fmt.Sprintf("%+v within %d s resolver %d: %d, exactly %d to %d", key, secs, by, v, ex.must[i][by], ex.may[i][by]))
				}
			}
		}
	}
	return nil
}

// timeTails times q's tails in PostgreSQL: the exact answer of its first
// run and the median of the others.
func (p *postgres) timeTails(ctx context.Context, q *convops.Query, now int64, runs int) (map[cellKey]*exactTail, time.Duration, error) {
	var exact map[cellKey]*exactTail
	var times []time.Duration
	for i := range runs + 1 {
		t0 := time.Now()
		ex, err := p.exactTails(ctx, q, now)
		if err != nil {
			return nil, 0, err
		}
		if i == 0 {
			exact = ex
		} else {
			times = append(times, time.Since(t0))
		}
	}
	return exact, percentile(times, 50), nil
}

// measureTails times the shapes with percentiles and thresholds beside the
// same shapes without them, and, with PostgreSQL, times its exact answer
// and checks every percentile and count of convops's against it.
func measureTails(ctx context.Context, o Options, w *Workload, hc *http.Client, srv Server, pg *postgres, report io.Writer) error {
	fmt.Fprintf(report, "\n### Percentiles and service levels (%s)\n\n", tailParams)
	fmt.Fprintf(report, "| account | shape | timeframe | answer bytes | convops p50 | convops p99 | without them p50 | ratio to without | PostgreSQL p50 | ratio p50 | largest percentile error |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var all tailCheck
	for _, m := range w.Measured {
		for _, s := range tailShapes() {
			o.Logger.Info("measuring", "account", m.Label, "shape", s.name+" with "+tailParams, "timeframe", s.tf)
			plain := s
			plain.tail = false
			var with, without []time.Duration
			var buf bytes.Buffer
			for i := range o.Queries + 2 {
				// Alternated, so that both see the same machine.
				for _, sh := range []*shape{&plain, &s} {
					t0 := time.Now()
					if err := get(ctx, hc, srv.URL()+sh.path(m.Account), o.Token, &buf); err != nil {
						return err
					}
					if i < 2 {
						continue // two warm-up requests
					}
					if sh.tail {
						with = append(with, time.Since(t0))
					} else {
						without = append(without, time.Since(t0))
					}
				}
			}
			body := buf.Bytes() // the last answer, with the tail
			p50, w50 := percentile(with, 50), percentile(without, 50)
			row := fmt.Sprintf("| %s | %s | %d | %d | %s | %s | %s | %.2f× |", m.Label, s.name, s.tf, len(body), ms(p50), ms(percentile(with, 99)), ms(w50), p50.Seconds()/w50.Seconds())
			if pg == nil {
				fmt.Fprintf(report, "%s – | – | – |\n", row)
				continue
			}
			q := s.query(m.Account)
			exact, q50, err := pg.timeTails(ctx, &q, o.Now, max(3, o.Queries/4))
			if err != nil {
				return fmt.Errorf("postgres %s with tails: %w", s.name, err)
			}
			var c tailCheck
			if err := c.check(body, &q, exact); err != nil {
				return fmt.Errorf("account %s, %s with tails: %w", m.Account, s.name, err)
			}
			all.percentiles += c.percentiles
			all.counts += c.counts
			all.outside = append(all.outside, c.outside...)
			if c.worst > all.worst {
				all.worst = c.worst
			}
			all.worstMs = max(all.worstMs, c.worstMs)
			fmt.Fprintf(report, "%s %s | %.0f× | %.3f%% (%d ms) |\n", row, ms(q50), q50.Seconds()/p50.Seconds(), 100*c.worst, c.worstMs)
		}
	}
	if pg == nil {
		return nil
	}
	if len(all.outside) > 0 {
		return fmt.Errorf("%d values outside their bound, the first: %s", len(all.outside), all.outside[0])
	}
	fmt.Fprintf(report, "\nPostgreSQL answered from a table of raw events with percentile_disc and count(*) filter, exactly. "+
		"Every one of convops's %d percentiles was within 0.01·v + 1 ms of the exact value (the largest error %.3f%%, %d ms), "+
		"and every one of its %d counts within a threshold was exact but for conversations within 1%% of it.\n",
		all.percentiles, 100*all.worst, all.worstMs, all.counts)
	return nil
}
