package eventjson

import (
	"fmt"
	"strconv"
	"time"

	"github.com/convops/convops"
)

// eventValidator checks the values of the events read, each by the rule of
// its field, and keeps the first problems found.
type eventValidator struct {
	minAt, maxAt int64
	problems     []convops.ItemError
	invalid      int // events with at least one problem
	current      bool
}

func (v *eventValidator) fail(index int, field, format string, args ...any) {
	if !v.current {
		v.current = true
		v.invalid++
	}
	if len(v.problems) < convops.MaxReportedErrors {
		msg := fmt.Sprintf(format, args...)
		if field != "" {
			msg = field + ": " + msg
		}
		v.problems = append(v.problems, convops.ItemError{Index: index, Field: field, Message: msg})
	}
}

// event validates one event; ok is false when it has a problem.
func (v *eventValidator) event(i int, r *rawEvent) (e convops.Event, ok bool) {
	v.current = false

	e.ConversationID = v.idString(i, convops.FieldConversationID, r[0], true)
	e.EventID = v.idString(i, convops.FieldEventID, r[1], false)
	if e.EventID == "" {
		e.EventID = e.ConversationID
	}

	e.SkillID = convops.NoSkill
	if id, given := v.integer(i, convops.FieldSkillID, r[2], true); given {
		e.SkillID = id
	}
	if id, given := v.integer(i, convops.FieldAgentID, r[3], true); given {
		e.AgentID, e.HasAgent = id, true
	}

	e.ResolvedBy = v.resolvedBy(i, r[4])

	e.ResolvedAt = v.timestamp(i, r[5])

	if isAbsent(r[6]) {
		v.fail(i, convops.FieldHandlingTimeMs, "is required: the handling time in milliseconds")
	} else if ms, isNumber := v.integer(i, convops.FieldHandlingTimeMs, r[6], false); isNumber {
		if ms < 0 || ms > convops.MaxHandlingTimeMs {
			v.fail(i, convops.FieldHandlingTimeMs, "must be between 0 and %d milliseconds, got %d", int64(convops.MaxHandlingTimeMs), ms)
		}
		e.HandlingTimeMs = ms
	}
	return e, !v.current
}

// resolvedBy reads a resolver: a string, in any letter case.
func (v *eventValidator) resolvedBy(i int, raw []byte) convops.ResolvedBy {
	if isAbsent(raw) {
		v.fail(i, convops.FieldResolvedBy, "is required: CCP, CONSUMER or SYSTEM")
		return 0
	}
	if raw[0] != '"' {
		v.fail(i, convops.FieldResolvedBy, "must be a string: CCP, CONSUMER or SYSTEM")
		return 0
	}
	// The spellings clients send, without a string of their own.
	switch string(raw[1 : len(raw)-1]) {
	case "CCP", "AGENT":
		return convops.ByCCP
	case "CONSUMER":
		return convops.ByConsumer
	case "SYSTEM":
		return convops.BySystem
	}
	s, _ := decodeJSONString(raw)
	by, known := convops.ParseResolvedBy(s)
	if !known {
		v.fail(i, convops.FieldResolvedBy, "must be CCP, CONSUMER or SYSTEM, got %q", convops.Clip(s))
	}
	return by
}

// idString validates conversationId or eventId: a string of 1–256 bytes of
// valid UTF-8 (two ids that differ only in bytes that are not text would
// otherwise read as one).
func (v *eventValidator) idString(i int, field string, raw []byte, required bool) string {
	if isAbsent(raw) {
		if required {
			v.fail(i, field, "is required: a string of 1 to %d bytes", convops.MaxIDBytes)
		}
		return ""
	}
	if raw[0] != '"' {
		v.fail(i, field, "must be a string of 1 to %d bytes", convops.MaxIDBytes)
		return ""
	}
	s, valid := decodeJSONString(raw)
	switch {
	case !valid:
		v.fail(i, field, "must be valid UTF-8 text; it holds bytes or escapes that are not (an invalid byte or a lone surrogate)")
	case s == "" || len(s) > convops.MaxIDBytes:
		v.fail(i, field, "must be 1 to %d bytes long, got %d", convops.MaxIDBytes, len(s))
	default:
		return s
	}
	return ""
}

// integer reads an int64 given as a JSON integer or, when decimalString is
// true, as a string of decimal digits. given is false when the field is absent
// or null, or when it was invalid (the problem is then recorded).
func (v *eventValidator) integer(i int, field string, raw []byte, decimalString bool) (n int64, given bool) {
	if isAbsent(raw) {
		return 0, false
	}
	if raw[0] == '"' {
		if !decimalString {
			v.fail(i, field, "must be a whole number, not a string")
			return 0, false
		}
		s, _ := decodeJSONString(raw)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			v.fail(i, field, "must be a whole number that fits in 64 bits, got %s", convops.Clip(string(raw)))
			return 0, false
		}
		return n, true
	}
	n, ok := parseJSONInt(raw)
	if !ok {
		v.fail(i, field, "must be a whole number that fits in 64 bits, got %s", convops.Clip(string(raw)))
		return 0, false
	}
	return n, true
}

// timestamp reads resolvedAt: an RFC 3339 string or integer epoch milliseconds,
// within the retention window and at most MaxClockSkewMs after now.
func (v *eventValidator) timestamp(i int, raw []byte) int64 {
	if isAbsent(raw) {
		v.fail(i, convops.FieldResolvedAt, "is required: an RFC 3339 time or epoch milliseconds")
		return 0
	}
	var at int64
	if raw[0] == '"' {
		s, _ := decodeJSONString(raw)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			v.fail(i, convops.FieldResolvedAt, "must be an RFC 3339 time such as 2026-11-27T13:29:00Z or epoch milliseconds, got %q", convops.Clip(s))
			return 0
		}
		at = t.UnixMilli()
	} else {
		n, ok := parseJSONInt(raw)
		if !ok {
			v.fail(i, convops.FieldResolvedAt, "must be an RFC 3339 time or whole epoch milliseconds, got %s", convops.Clip(string(raw)))
			return 0
		}
		at = n
	}
	switch {
	case at < v.minAt:
		v.fail(i, convops.FieldResolvedAt, "%s is older than the 24-hour window; the earliest accepted time is %s", formatMs(at), formatMs(v.minAt))
	case at >= v.maxAt:
		v.fail(i, convops.FieldResolvedAt, "%s is in the future; the latest accepted time is just before %s", formatMs(at), formatMs(v.maxAt))
	}
	return at
}

func formatMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

func isAbsent(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}
