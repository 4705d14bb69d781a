package client

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Percentile is one percentile of handling time, in milliseconds: the
// handling time within which that share of the conversations resolved by
// the agent (CCP), by the consumer, by the system and by all were handled;
// −1 where there were none. The server's value is within 1% (and 1 ms) of
// the exact one.
type Percentile struct {
	ByCCP, ByConsumer, BySystem, All int64
}

// Duration is All as a duration (0 when there were none).
func (p Percentile) Duration() time.Duration {
	return time.Duration(max(p.All, 0)) * time.Millisecond
}

// Within counts the conversations handled within a threshold, by whom,
// and their share of all resolved conversations (the service level, −1
// when there were none). A conversation within 1% of the threshold may be
// counted on either side.
type Within struct {
	ByCCP, ByConsumer, BySystem, Total int64
	ServiceLevel                       float64
}

// UnmarshalJSON reads the twelve metrics, then the keys of percentiles
// and thresholds, whose names carry the query's numbers.
func (m *Metrics) UnmarshalJSON(data []byte) error {
	type plain Metrics
	if err := json.Unmarshal(data, (*plain)(m)); err != nil {
		return err
	}
	if !bytes.Contains(data, []byte("thPercentile")) && !bytes.Contains(data, []byte("Within_")) {
		return nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	for key, raw := range all {
		m.readTailKey(key, raw)
	}
	return nil
}

// readTailKey reads one key of a percentile or a threshold; others are
// left alone.
func (m *Metrics) readTailKey(key string, raw json.RawMessage) {
	const hp = "handlingTime_resolvedConversations_"
	if rest, ok := strings.CutPrefix(key, hp); ok {
		if rest, ok = strings.CutSuffix(rest, "thPercentile"); !ok {
			return
		}
		var v int64
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		if m.Percentiles == nil {
			m.Percentiles = map[string]Percentile{}
		}
		by, p, found := strings.Cut(rest, "_")
		if !found {
			by, p = "", rest
		}
		pc := m.Percentiles[p]
		switch by {
		case "byCCP":
			pc.ByCCP = v
		case "byConsumer":
			pc.ByConsumer = v
		case "bySystem":
			pc.BySystem = v
		case "":
			pc.All = v
		default:
			return
		}
		m.Percentiles[p] = pc
		return
	}
	var secs, by string
	switch {
	case strings.HasPrefix(key, "resolvedConversationsWithin_"):
		secs, by, _ = strings.Cut(strings.TrimPrefix(key, "resolvedConversationsWithin_"), "s_")
	case strings.HasPrefix(key, "totalResolvedConversationsWithin_"):
		secs, by = strings.TrimSuffix(strings.TrimPrefix(key, "totalResolvedConversationsWithin_"), "s"), "total"
	case strings.HasPrefix(key, "serviceLevel_"):
		secs, by = strings.TrimSuffix(strings.TrimPrefix(key, "serviceLevel_"), "s"), "level"
	default:
		return
	}
	t, err := strconv.Atoi(secs)
	if err != nil {
		return
	}
	if m.Within == nil {
		m.Within = map[int]Within{}
	}
	w := m.Within[t]
	var n int64
	if by != "level" && json.Unmarshal(raw, &n) != nil {
		return
	}
	switch by {
	case "byCCP":
		w.ByCCP = n
	case "byConsumer":
		w.ByConsumer = n
	case "bySystem":
		w.BySystem = n
	case "total":
		w.Total = n
	case "level":
		if json.Unmarshal(raw, &w.ServiceLevel) != nil {
			return
		}
	default:
		return
	}
	m.Within[t] = w
}

// MarshalJSON writes m as the server does: the twelve metrics, then the
// keys of its percentiles and thresholds.
func (m Metrics) MarshalJSON() ([]byte, error) {
	type plain Metrics
	b, err := json.Marshal(plain(m))
	if err != nil || len(m.Percentiles) == 0 && len(m.Within) == 0 {
		return b, err
	}
	b = b[:len(b)-1]
	add := func(key string, v any) {
		b = append(b, ',')
		b = strconv.AppendQuote(b, key)
		b = append(b, ':')
		value, _ := json.Marshal(v)
		b = append(b, value...)
	}
	for p, pc := range m.Percentiles {
		const hp = "handlingTime_resolvedConversations_"
		add(hp+"byCCP_"+p+"thPercentile", pc.ByCCP)
		add(hp+"byConsumer_"+p+"thPercentile", pc.ByConsumer)
		add(hp+"bySystem_"+p+"thPercentile", pc.BySystem)
		add(hp+p+"thPercentile", pc.All)
	}
	for t, w := range m.Within {
		secs := strconv.Itoa(t) + "s"
		add("resolvedConversationsWithin_"+secs+"_byCCP", w.ByCCP)
		add("resolvedConversationsWithin_"+secs+"_byConsumer", w.ByConsumer)
		add("resolvedConversationsWithin_"+secs+"_bySystem", w.BySystem)
		add("totalResolvedConversationsWithin_"+secs, w.Total)
		add("serviceLevel_"+secs, w.ServiceLevel)
	}
	return append(b, '}'), nil
}
