package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// QueryCommand asks a server for the metrics of an account and prints them
// as tables, or as the API's JSON with --json.
type QueryCommand struct {
	main *Main
	clientFlags
	Account   string
	Timeframe string
	Interval  string
	SkillIDs  string
	AgentIDs  string
	JSON      bool
	Timeout   time.Duration
}

const queryUsage = `Usage: convops query --account ID [--timeframe MINUTES] [--interval MINUTES]
                     [--skill-ids all|ID,…] [--agent-ids all|ID,…] [--json] [--url URL] [--token TOKEN]

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
	fs.BoolVar(&c.JSON, "json", false, "print the API's JSON answer")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "how long to wait for the answer")
	if err := c.main.parseWithEnv(fs, args); err != nil {
		return err
	}
	if c.Account == "" {
		return errors.New("--account is required")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	params := url.Values{"timeframe": {c.Timeframe}, "v": {"1"}}
	for name, v := range map[string]string{"interval": c.Interval, "skillIds": c.SkillIDs, "agentIds": c.AgentIDs} {
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
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("the server's answer cannot be read: %w", err)
	}
	return printAnswer(c.main.Stdout, c.Account, c.Timeframe, &a)
}

// metrics is the API's metrics object.
type metrics struct {
	ByCCP        int64   `json:"resolvedConversations_byCCP"`
	ByConsumer   int64   `json:"resolvedConversations_byConsumer"`
	BySystem     int64   `json:"resolvedConversations_bySystem"`
	Total        int64   `json:"totalResolvedConversations"`
	HandlingTime int64   `json:"totalHandlingTime_resolvedConversations"`
	AvgTime      float64 `json:"avgTime_resolvedConversations"`
}

type skillMetrics struct {
	PerAgent map[string]metrics `json:"metricsPerAgent"`
	Totals   metrics            `json:"metricsTotals"`
}

type elements struct {
	Totals *metrics `json:"metricsTotals"`
	Skills *struct {
		PerSkill map[string]skillMetrics `json:"metricsPerSkill"`
		Totals   metrics                 `json:"metricsTotals"`
	} `json:"skillsMetricsPerAgent"`
	Agents *struct {
		PerAgent map[string]metrics `json:"metricsPerAgent"`
		Totals   metrics            `json:"metricsTotals"`
	} `json:"agentsMetrics"`
}

// totals are the totals an answer's elements give, whatever its shape.
func (e *elements) totals() metrics {
	switch {
	case e.Totals != nil:
		return *e.Totals
	case e.Skills != nil:
		return e.Skills.Totals
	case e.Agents != nil:
		return e.Agents.Totals
	}
	return metrics{}
}

type answer struct {
	elements
	Intervals []struct {
		Timestamp int64    `json:"timestamp"`
		Data      elements `json:"metricsData"`
	} `json:"metricsByIntervals"`
}

// sortedIDs returns the keys of m, ids as decimal strings, in numeric order.
func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		x, _ := strconv.ParseInt(a, 10, 64)
		y, _ := strconv.ParseInt(b, 10, 64)
		return cmp.Compare(x, y)
	})
	return ids
}

func printAnswer(w io.Writer, account, timeframe string, a *answer) error {
	t := &textTable{}
	t.add("", "resolved", "by agent", "by consumer", "by system", "avg handling")
	row := func(name string, m metrics) {
		t.add(name, strconv.FormatInt(m.Total, 10), strconv.FormatInt(m.ByCCP, 10), strconv.FormatInt(m.ByConsumer, 10),
			strconv.FormatInt(m.BySystem, 10), formatMs(m.AvgTime))
	}
	label := "account"
	switch {
	case a.Totals != nil:
	case a.Skills != nil:
		label = "listed skills"
	default:
		label = "listed agents"
	}
	row(label, a.totals())
	if a.Skills != nil {
		t.add()
		if len(a.Skills.PerSkill) == 0 {
			t.add("no skill with data")
		}
		for _, id := range sortedIDs(a.Skills.PerSkill) {
			s := a.Skills.PerSkill[id]
			name := "skill " + id
			if id == "-1" {
				name = "skill -1 (unassigned)"
			}
			row(name, s.Totals)
			for _, agent := range sortedIDs(s.PerAgent) {
				row("  agent "+agent, s.PerAgent[agent])
			}
		}
	}
	if a.Agents != nil {
		t.add()
		if len(a.Agents.PerAgent) == 0 {
			t.add("no agent with data")
		}
		for _, id := range sortedIDs(a.Agents.PerAgent) {
			row("agent "+id, a.Agents.PerAgent[id])
		}
	}
	if len(a.Intervals) > 0 {
		t.add()
		t.add("interval ending (UTC)")
		for _, iv := range a.Intervals {
			row(time.UnixMilli(iv.Timestamp).UTC().Format("2006-01-02 15:04"), iv.Data.totals())
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
