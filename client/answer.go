package client

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query is a Messaging Conversation query's parameters.
type Query struct {
	// Timeframe is how many minutes back from now (1 to 1440).
	Timeframe int
	// Interval, when not 0, splits the timeframe into intervals of that
	// many minutes (Answer.MetricsByIntervals).
	Interval int
	// Skills lists skill ids; AllSkills asks for every skill with data.
	// Either gives Answer.SkillsMetricsPerAgent.
	Skills    []int64
	AllSkills bool
	// Agents lists agent ids; AllAgents asks for every agent with data.
	// Either gives Answer.AgentsMetrics.
	Agents    []int64
	AllAgents bool
	// Percentiles asks for percentiles of handling time, as the API
	// writes them ("50", "99.9"): up to 5 numbers above 0 and below 100
	// with at most one decimal. Thresholds asks for the conversations
	// handled within each, in whole seconds (up to 10, 1 to 86400). Either
	// gives every Metrics its Percentiles and Within.
	Percentiles []string
	Thresholds  []int
}

// Values are q's parameters as the API reads them (v=1 included).
func (q Query) Values() url.Values {
	v := url.Values{"v": {"1"}, "timeframe": {strconv.Itoa(q.Timeframe)}}
	if q.Interval > 0 {
		v.Set("interval", strconv.Itoa(q.Interval))
	}
	if s := idList(q.Skills, q.AllSkills); s != "" {
		v.Set("skillIds", s)
	}
	if s := idList(q.Agents, q.AllAgents); s != "" {
		v.Set("agentIds", s)
	}
	if len(q.Percentiles) > 0 {
		v.Set("percentiles", strings.Join(q.Percentiles, ","))
	}
	if len(q.Thresholds) > 0 {
		parts := make([]string, len(q.Thresholds))
		for i, t := range q.Thresholds {
			parts[i] = strconv.Itoa(t)
		}
		v.Set("thresholds", strings.Join(parts, ","))
	}
	return v
}

func idList(ids []int64, all bool) string {
	if all {
		return "all"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// Answer is the answer of a Messaging Conversation query: the elements of
// the whole timeframe (which of them depends on the query: MetricsTotals
// without skills and agents, SkillsMetricsPerAgent with skills,
// AgentsMetrics with agents, both with both), and with an interval the same
// elements per interval, newest first.
type Answer struct {
	MetricsData
	MetricsByIntervals []Interval `json:"metricsByIntervals,omitempty"`
}

// MetricsData are the elements of one range.
type MetricsData struct {
	MetricsTotals         *Metrics       `json:"metricsTotals,omitempty"`
	SkillsMetricsPerAgent *SkillsMetrics `json:"skillsMetricsPerAgent,omitempty"`
	AgentsMetrics         *AgentsMetrics `json:"agentsMetrics,omitempty"`
}

// Interval is one interval of an answer.
type Interval struct {
	// Timestamp is the end of the interval, UTC epoch milliseconds.
	Timestamp   int64       `json:"timestamp"`
	MetricsData MetricsData `json:"metricsData"`
}

// End is when the interval ends.
func (i Interval) End() time.Time { return time.UnixMilli(i.Timestamp).UTC() }

// Metrics are the counts of resolved conversations, by whom, and their
// handling times in milliseconds: sums, and averages over the count.
type Metrics struct {
	ResolvedByCCP      int64 `json:"resolvedConversations_byCCP"`
	ResolvedByConsumer int64 `json:"resolvedConversations_byConsumer"`
	ResolvedBySystem   int64 `json:"resolvedConversations_bySystem"`
	Resolved           int64 `json:"totalResolvedConversations"`

	HandlingTimeByCCP      int64 `json:"totalHandlingTime_resolvedConversations_byCCP"`
	HandlingTimeByConsumer int64 `json:"totalHandlingTime_resolvedConversations_byConsumer"`
	HandlingTimeBySystem   int64 `json:"totalHandlingTime_resolvedConversations_bySystem"`
	HandlingTime           int64 `json:"totalHandlingTime_resolvedConversations"`

	AvgTimeByCCP      float64 `json:"avgTime_resolvedConversations_byCCP"`
	AvgTimeByConsumer float64 `json:"avgTime_resolvedConversations_byConsumer"`
	AvgTimeBySystem   float64 `json:"avgTime_resolvedConversations_bySystem"`
	AvgTime           float64 `json:"avgTime_resolvedConversations"`

	// Percentiles holds, when the query asked for them, each percentile's
	// handling times by its text ("90", "99.9"); Within each threshold's
	// counts, by its seconds.
	Percentiles map[string]Percentile `json:"-"`
	Within      map[int]Within        `json:"-"`
}

// AverageHandlingTime is AvgTime as a duration.
func (m Metrics) AverageHandlingTime() time.Duration {
	return time.Duration(m.AvgTime * float64(time.Millisecond))
}

// SkillsMetrics are the metrics of the asked skills: each skill with data,
// its agents within it, and their sum.
type SkillsMetrics struct {
	MetricsPerSkill map[string]SkillMetrics `json:"metricsPerSkill"`
	MetricsTotals   Metrics                 `json:"metricsTotals"`
}

// SkillMetrics are one skill's metrics: every agent with data in it, and
// the skill's totals (conversations without an agent included).
type SkillMetrics struct {
	MetricsPerAgent map[string]Metrics `json:"metricsPerAgent"`
	MetricsTotals   Metrics            `json:"metricsTotals"`
}

// AgentsMetrics are the metrics of the asked agents, over all skills.
type AgentsMetrics struct {
	MetricsPerAgent map[string]Metrics `json:"metricsPerAgent"`
	MetricsTotals   Metrics            `json:"metricsTotals"`
}

// Skills returns the skills of s in ascending order of id, with their
// metrics (-1 is the unassigned skill).
func (s *SkillsMetrics) Skills() []IDMetrics[SkillMetrics] { return byID(s.MetricsPerSkill) }

// Agents returns the agents of the skill in ascending order of id.
func (s *SkillMetrics) Agents() []IDMetrics[Metrics] { return byID(s.MetricsPerAgent) }

// Agents returns the agents in ascending order of id.
func (a *AgentsMetrics) Agents() []IDMetrics[Metrics] { return byID(a.MetricsPerAgent) }

// IDMetrics is the metrics of one skill or agent.
type IDMetrics[M any] struct {
	ID      int64
	Metrics M
}

func byID[M any](m map[string]M) []IDMetrics[M] {
	out := make([]IDMetrics[M], 0, len(m))
	for k, v := range m {
		id, _ := strconv.ParseInt(k, 10, 64)
		out = append(out, IDMetrics[M]{ID: id, Metrics: v})
	}
	slices.SortFunc(out, func(a, b IDMetrics[M]) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Cell is one set of metrics of an answer, where it is: in an interval
// (nil for the whole timeframe), for a skill, for an agent, or the totals
// of a level (Skill or Agent nil).
type Cell struct {
	// Element is where it is in the answer: "metricsTotals",
	// "skillsMetricsPerAgent" or "agentsMetrics".
	Element  string
	Interval *Interval
	// Skill is set for the metrics of a skill, or of an agent within it.
	Skill *int64
	// Agent is set for the metrics of an agent (within Skill, when set).
	Agent   *int64
	Metrics Metrics
}

// Cells lists every set of metrics of the answer: the whole timeframe's
// first, then each interval's, newest first; within each, the totals, the
// skills (each followed by its agents) and the agents, by ascending id.
func (a *Answer) Cells() []Cell {
	var out []Cell
	out = a.MetricsData.cells(nil, out)
	for i := range a.MetricsByIntervals {
		out = a.MetricsByIntervals[i].MetricsData.cells(&a.MetricsByIntervals[i], out)
	}
	return out
}

func (d *MetricsData) cells(in *Interval, out []Cell) []Cell {
	if d.MetricsTotals != nil {
		out = append(out, Cell{Element: "metricsTotals", Interval: in, Metrics: *d.MetricsTotals})
	}
	if s := d.SkillsMetricsPerAgent; s != nil {
		const el = "skillsMetricsPerAgent"
		out = append(out, Cell{Element: el, Interval: in, Metrics: s.MetricsTotals})
		for _, skill := range s.Skills() {
			id := skill.ID
			out = append(out, Cell{Element: el, Interval: in, Skill: &id, Metrics: skill.Metrics.MetricsTotals})
			for _, agent := range skill.Metrics.Agents() {
				aid := agent.ID
				out = append(out, Cell{Element: el, Interval: in, Skill: &id, Agent: &aid, Metrics: agent.Metrics})
			}
		}
	}
	if ag := d.AgentsMetrics; ag != nil {
		const el = "agentsMetrics"
		out = append(out, Cell{Element: el, Interval: in, Metrics: ag.MetricsTotals})
		for _, agent := range ag.Agents() {
			aid := agent.ID
			out = append(out, Cell{Element: el, Interval: in, Agent: &aid, Metrics: agent.Metrics})
		}
	}
	return out
}
