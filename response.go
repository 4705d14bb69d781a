package convops

import "strconv"

// AppendResult appends the JSON answer of a Messaging Conversation query. It
// appends bytes to one buffer instead of building maps for encoding/json: the
// key order is fixed by the API, map keys must be ascending numerically, and an
// answer can hold hundreds of thousands of numbers, none of which allocates.
func AppendResult(b []byte, q *Query, res *Result) []byte {
	b = append(b, '{')
	if q.Interval > 0 {
		b = append(b, `"metricsByIntervals":[`...)
		for i := range res.Intervals {
			if i > 0 {
				b = append(b, ',')
			}
			iv := &res.Intervals[i]
			b = append(b, `{"timestamp":`...)
			b = strconv.AppendInt(b, iv.TimestampMs, 10)
			b = append(b, `,"metricsData":{`...)
			b = appendElements(b, q, &iv.Report)
			b = append(b, "}}"...)
		}
		b = append(b, "],"...)
	}
	b = appendElements(b, q, &res.Whole)
	return append(b, '}')
}

// appendElements writes the members of SPEC 2.2 for one report, without braces.
func appendElements(b []byte, q *Query, r *Report) []byte {
	if !q.Skills.Given && !q.Agents.Given {
		b = append(b, `"metricsTotals":`...)
		return AppendMetrics(b, &r.Totals)
	}
	if q.Skills.Given {
		b = append(b, `"skillsMetricsPerAgent":{"metricsPerSkill":{`...)
		for i := range r.Skills {
			sk := &r.Skills[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = appendKey(b, sk.SkillID)
			b = append(b, `{"metricsPerAgent":`...)
			b = appendAgents(b, sk.Agents)
			b = append(b, `,"metricsTotals":`...)
			b = AppendMetrics(b, &sk.Totals)
			b = append(b, '}')
		}
		b = append(b, `},"metricsTotals":`...)
		b = AppendMetrics(b, &r.SkillTotals)
		b = append(b, '}')
	}
	if q.Agents.Given {
		if q.Skills.Given {
			b = append(b, ',')
		}
		b = append(b, `"agentsMetrics":{"metricsPerAgent":`...)
		b = appendAgents(b, r.Agents)
		b = append(b, `,"metricsTotals":`...)
		b = AppendMetrics(b, &r.AgentTotals)
		b = append(b, '}')
	}
	return b
}

func appendAgents(b []byte, agents []AgentMetrics) []byte {
	b = append(b, '{')
	for i := range agents {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, agents[i].AgentID)
		b = AppendMetrics(b, &agents[i].Counters)
	}
	return append(b, '}')
}

// appendKey writes `"<id>":`.
func appendKey(b []byte, id int64) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, id, 10)
	return append(b, `":`...)
}
