package convops

// Report is the answer to a query over one span of buckets. Which parts are
// meaningful depends on the query: Totals always; Skills and SkillTotals when
// skillIds was given; Agents and AgentTotals when agentIds was given.
type Report struct {
	Totals Counters

	Skills      []SkillMetrics // ascending skill id; only skills with data
	SkillTotals Counters       // sum of the listed skills

	Agents      []AgentMetrics // ascending agent id; only agents with data
	AgentTotals Counters       // sum of the listed agents
}

// SkillMetrics are the metrics of one skill: every agent with data in it, and
// totals that also count conversations resolved with no agent.
type SkillMetrics struct {
	SkillID int64
	Agents  []AgentMetrics // ascending agent id
	Totals  Counters
}

// AgentMetrics are the metrics of one agent.
type AgentMetrics struct {
	AgentID int64
	Counters
}

// IntervalReport is the report of one interval, named by its end.
type IntervalReport struct {
	TimestampMs int64
	Report
}

// Result is the whole answer to a query: the report of the whole range and,
// when an interval was asked for, one report per interval, newest first.
type Result struct {
	Whole     Report
	Intervals []IntervalReport
}
