package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/convops/convops/client"
)

// QueryCommand asks a server for the metrics of an account and prints them
// as tables, or as the API's JSON with --json.
type QueryCommand struct {
	main *Main
	clientFlags
	Account     string
	Timeframe   string
	Interval    string
	SkillIDs    string
	AgentIDs    string
	Percentiles string
	Thresholds  string
	JSON        bool
	Timeout     time.Duration
}

const queryUsage = `Usage: convops query --account ID [--timeframe MINUTES] [--interval MINUTES]
                     [--skill-ids all|ID,…] [--agent-ids all|ID,…] [--percentiles P,…] [--thresholds SECONDS,…]
                     [--json] [--url URL] [--token TOKEN]

Asks the server for the Messaging Conversation metrics of an account and prints
them as tables (--json: the API's answer as it came). The flags mirror the API's
parameters. The key is --token (or CONVOPS_TOKEN), or an OAuth 1.0a key.

`

// Run parses args and runs the query.
func (c *QueryCommand) Run(ctx context.Context, args []string) error {
	fs := c.main.newFlagSet("query")
	fs.Usage = func() { fmt.Fprint(c.main.Stderr, queryUsage); fs.PrintDefaults() }
	c.register(fs)
	fs.StringVar(&c.Account, "account", "", "account `id`")
	fs.StringVar(&c.Timeframe, "timeframe", "60", "`minutes` back from now, 1 to 1440")
	fs.StringVar(&c.Interval, "interval", "", "`minutes` per interval (divides the timeframe); none: the whole range only")
	fs.StringVar(&c.SkillIDs, "skill-ids", "", "all, or comma-separated skill `ids`: per-skill metrics")
	fs.StringVar(&c.AgentIDs, "agent-ids", "", "all, or comma-separated agent `ids`: per-agent metrics")
	fs.StringVar(&c.Percentiles, "percentiles", "", "comma-separated `percentiles` of handling time, such as 50,90,99.9")
	fs.StringVar(&c.Thresholds, "thresholds", "", "comma-separated `seconds`: conversations handled within each, and the service level")
	fs.BoolVar(&c.JSON, "json", false, "print the API's JSON answer")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "how long to wait for the answer")
	if err := c.main.parseWithEnv(fs, args); err != nil {
		return err
	}
	if err := checkAccountFlag(c.Account); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	params := url.Values{"timeframe": {c.Timeframe}, "v": {"1"}}
	for name, v := range map[string]string{"interval": c.Interval, "skillIds": c.SkillIDs, "agentIds": c.AgentIDs,
		"percentiles": c.Percentiles, "thresholds": c.Thresholds} {
		if v != "" {
			params.Set(name, v)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	body, err := cl.QueryJSON(ctx, c.Account, params)
	if err != nil {
		return err
	}
	if c.JSON {
		_, err := c.main.Stdout.Write(append(body, '\n'))
		return err
	}
	var a client.Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("the server's answer cannot be read: %w", err)
	}
	return printAnswer(c.main.Stdout, c.Account, c.Timeframe, &a, tailColumnsOf(params))
}

// tailColumns are the percentiles and thresholds asked for, in their
// order, as the table shows them.
type tailColumns struct {
	percentiles []string
	thresholds  []int
}

func tailColumnsOf(params url.Values) tailColumns {
	var tc tailColumns
	for p := range strings.SplitSeq(params.Get("percentiles"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			tc.percentiles = append(tc.percentiles, p)
		}
	}
	for t := range strings.SplitSeq(params.Get("thresholds"), ",") {
		if secs, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
			tc.thresholds = append(tc.thresholds, secs)
		}
	}
	return tc
}

// headings are the columns' titles: "p90", "within 600s".
func (tc tailColumns) headings() []string {
	var h []string
	for _, p := range tc.percentiles {
		h = append(h, "p"+p)
	}
	for _, t := range tc.thresholds {
		h = append(h, fmt.Sprintf("within %ds", t))
	}
	return h
}

// cells are m's values of the columns: a percentile as a duration ("–"
// when there is none), a threshold as its service level in percent.
func (tc tailColumns) cells(m client.Metrics) []string {
	var c []string
	for _, p := range tc.percentiles {
		if v, ok := m.Percentiles[p]; ok && v.All >= 0 {
			c = append(c, formatMs(float64(v.All)))
		} else {
			c = append(c, "–")
		}
	}
	for _, t := range tc.thresholds {
		if w, ok := m.Within[t]; ok && w.ServiceLevel >= 0 {
			c = append(c, fmt.Sprintf("%.1f%%", 100*w.ServiceLevel))
		} else {
			c = append(c, "–")
		}
	}
	return c
}

// totals are the totals the elements of d give, whatever the answer's
// shape.
func totals(d *client.MetricsData) client.Metrics {
	switch {
	case d.MetricsTotals != nil:
		return *d.MetricsTotals
	case d.SkillsMetricsPerAgent != nil:
		return d.SkillsMetricsPerAgent.MetricsTotals
	case d.AgentsMetrics != nil:
		return d.AgentsMetrics.MetricsTotals
	}
	return client.Metrics{}
}

func printAnswer(w io.Writer, account, timeframe string, a *client.Answer, tc tailColumns) error {
	t := &textTable{}
	t.add(append([]string{"", "resolved", "by agent", "by consumer", "by system", "avg handling"}, tc.headings()...)...)
	row := func(name string, m client.Metrics) {
		t.add(append([]string{name, strconv.FormatInt(m.Resolved, 10), strconv.FormatInt(m.ResolvedByCCP, 10), strconv.FormatInt(m.ResolvedByConsumer, 10),
			strconv.FormatInt(m.ResolvedBySystem, 10), formatMs(m.AvgTime)}, tc.cells(m)...)...)
	}
	label := "account"
	switch {
	case a.MetricsTotals != nil:
	case a.SkillsMetricsPerAgent != nil:
		label = "listed skills"
	default:
		label = "listed agents"
	}
	row(label, totals(&a.MetricsData))
	if skills := a.SkillsMetricsPerAgent; skills != nil {
		t.add()
		if len(skills.MetricsPerSkill) == 0 {
			t.add("no skill with data")
		}
		for _, s := range skills.Skills() {
			name := "skill " + strconv.FormatInt(s.ID, 10)
			if s.ID == -1 {
				name = "skill -1 (unassigned)"
			}
			row(name, s.Metrics.MetricsTotals)
			for _, agent := range s.Metrics.Agents() {
				row("  agent "+strconv.FormatInt(agent.ID, 10), agent.Metrics)
			}
		}
	}
	if agents := a.AgentsMetrics; agents != nil {
		t.add()
		if len(agents.MetricsPerAgent) == 0 {
			t.add("no agent with data")
		}
		for _, agent := range agents.Agents() {
			row("agent "+strconv.FormatInt(agent.ID, 10), agent.Metrics)
		}
	}
	if len(a.MetricsByIntervals) > 0 {
		t.add()
		t.add("interval ending (UTC)")
		for _, iv := range a.MetricsByIntervals {
			row(iv.End().Format("2006-01-02 15:04"), totals(&iv.MetricsData))
		}
	}
	fmt.Fprintf(w, "account %s, last %s minutes\n\n", account, timeframe)
	return t.write(w)
}

// textTable lays rows out in columns: the first left-aligned, the others
// (numbers) right-aligned.
type textTable struct {
	rows [][]string
}

func (t *textTable) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *textTable) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		if len(r) == 1 {
			continue // a heading: it may pass the first column
		}
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			switch {
			case i == 0 && len(r) > 1:
				fmt.Fprintf(&b, "%-*s", widths[0], c)
			case i == 0:
				b.WriteString(c)
			default:
				fmt.Fprintf(&b, "  %*s", widths[i], c)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatMs writes a duration in milliseconds as "1h 02m", "7m 06s" or "42s",
// as the wallboard does.
func formatMs(ms float64) string {
	s := int64(ms/1000 + 0.5)
	switch {
	case s >= 3600:
		return fmt.Sprintf("%dh %02dm", s/3600, s/60%60)
	case s >= 60:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}
