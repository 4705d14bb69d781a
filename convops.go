// Package convops holds the vocabulary every other package of the service speaks:
// conversation-resolved events, the 5-minute buckets they are counted in, the
// metrics reported for them, the queries of the Messaging Conversation API, and
// the one error type that the HTTP layer maps to status codes.
//
// Dependencies (NATS, HTTP, the keys file) live in packages of their own that
// import this one, never the other way round.
package convops

import "strings"

// BucketMs is the width of an aggregation bucket: 5 minutes in milliseconds.
// Bucket k holds events with k·BucketMs <= resolvedAt < (k+1)·BucketMs and is
// named by its end, (k+1)·BucketMs.
const BucketMs = 5 * 60 * 1000

// MinuteMs is one minute in milliseconds.
const MinuteMs = 60 * 1000

// MaxTimeMs is the latest time the service handles, 9999-12-31T23:59:59.999Z
// in epoch milliseconds: the end of RFC 3339's years. A clock or an event
// past it (or before 1970) can only be corrupt.
const MaxTimeMs = 253402300799999

// MaxTimeframeMinutes is the longest timeframe a query may ask for (24 hours).
// It is also the retention window: older buckets cannot be queried.
const MaxTimeframeMinutes = 1440

// BucketIndex returns the index of the bucket that holds the millisecond t.
// It floors towards negative infinity so that the maths holds for any t.
func BucketIndex(t int64) int64 {
	if t < 0 {
		return -((-t + BucketMs - 1) / BucketMs)
	}
	return t / BucketMs
}

// RetentionHorizon returns the index of the oldest bucket still in retention at
// now: events with resolvedAt < RetentionHorizon(now)·BucketMs may be dropped,
// and the oldest bucket a 1440-minute query can reach is this one.
func RetentionHorizon(now int64) int64 {
	return BucketIndex(now - MaxTimeframeMinutes*MinuteMs)
}

// ResolvedBy says who resolved a conversation.
type ResolvedBy uint8

// The three resolvers of the API, in the order the metrics object lists them.
const (
	ByCCP ResolvedBy = iota
	ByConsumer
	BySystem
	resolverCount
)

// String returns the canonical spelling used in ingest bodies.
func (r ResolvedBy) String() string {
	switch r {
	case ByCCP:
		return "CCP"
	case ByConsumer:
		return "CONSUMER"
	case BySystem:
		return "SYSTEM"
	}
	return "UNKNOWN"
}

// ParseResolvedBy reads a resolver in any letter case; AGENT is an alias of CCP,
// as some LivePerson exports name the agent side that way.
func ParseResolvedBy(s string) (ResolvedBy, bool) {
	switch strings.ToUpper(s) {
	case "CCP", "AGENT":
		return ByCCP, true
	case "CONSUMER":
		return ByConsumer, true
	case "SYSTEM":
		return BySystem, true
	}
	return 0, false
}

// Scopes of API keys: read allows queries, write allows ingest.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// NoSkill is the skill of a conversation resolved without one ("unassigned skill").
const NoSkill int64 = -1

// Event is one validated conversation-resolved event.
type Event struct {
	EventID        string // idempotency key, unique per account
	ConversationID string
	SkillID        int64 // NoSkill when not given
	AgentID        int64 // meaningful only when HasAgent
	HasAgent       bool
	ResolvedBy     ResolvedBy
	ResolvedAt     int64 // epoch milliseconds
	HandlingTimeMs int64
}

// Counters are the aggregates kept per bucket and cell: how many conversations
// each resolver closed and their summed handling time in milliseconds; in
// an answer, with the Tail of their handling times when the query asks for
// one (Add and Sub leave it alone: a tail does not add up).
type Counters struct {
	Count    [resolverCount]int64
	Handling [resolverCount]int64
	Tail     *Tail
}

// AddEvent counts one event.
func (c *Counters) AddEvent(by ResolvedBy, handlingMs int64) {
	c.Count[by]++
	c.Handling[by] += handlingMs
}

// Add adds other into c.
func (c *Counters) Add(other *Counters) {
	for i := range c.Count {
		c.Count[i] += other.Count[i]
		c.Handling[i] += other.Handling[i]
	}
}

// Total returns the number of resolved conversations of all resolvers.
func (c *Counters) Total() int64 {
	return c.Count[ByCCP] + c.Count[ByConsumer] + c.Count[BySystem]
}

// TotalHandling returns the handling time of all resolvers.
func (c *Counters) TotalHandling() int64 {
	return c.Handling[ByCCP] + c.Handling[ByConsumer] + c.Handling[BySystem]
}

// IsZero reports whether no conversation was counted.
func (c *Counters) IsZero() bool { return c.Total() == 0 }

// Batch is one message of the event log: events of one account, validated by
// the node that accepted them at Now (its data clock, epoch ms).
type Batch struct {
	Account string
	Now     int64
	// LogTime is when the event log stored the batch (epoch ms, by the log's
	// own clock), 0 while it is not logged. The fold's clock, which decides
	// what leaves retention, never runs more than a minute ahead of it, so
	// that one node's wrong clock cannot expire data by itself.
	LogTime int64
	// LogSeq is the log's sequence of the message that carries the batch
	// (of its last part, for a batch in parts), 0 while it is not logged:
	// the same on every node that folds the log, so that it can tell
	// another node whether an account changed.
	LogSeq uint64
	Events []Event
}

// Outcome says how many events of an ingest were new and how many were
// duplicates of events already accepted.
type Outcome struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// Add adds other into o.
func (o *Outcome) Add(other Outcome) {
	o.Accepted += other.Accepted
	o.Duplicates += other.Duplicates
}

// Sub subtracts other from c.
func (c *Counters) Sub(other *Counters) {
	for i := range c.Count {
		c.Count[i] -= other.Count[i]
		c.Handling[i] -= other.Handling[i]
	}
}
