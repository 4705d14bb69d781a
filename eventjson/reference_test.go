package eventjson

// The decoder of ingest bodies as it was written first, on encoding/json:
// slow, but plainly right. The tests compare Decode with it.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/convops/convops"
)

// refRawEvent is an event as sent; each field is validated by hand so that every
// error names the field and says what is wrong with it.
type refRawEvent struct {
	ConversationID json.RawMessage `json:"conversationId"`
	EventID        json.RawMessage `json:"eventId"`
	SkillID        json.RawMessage `json:"skillId"`
	AgentID        json.RawMessage `json:"agentId"`
	ResolvedBy     json.RawMessage `json:"resolvedBy"`
	ResolvedAt     json.RawMessage `json:"resolvedAt"`
	HandlingTimeMs json.RawMessage `json:"handlingTimeMs"`
}

// referenceDecodeEvents decodes and validates the body of an ingest request at now
// (epoch ms). The body is a JSON array of events or {"events": [...]}; with
// ndjson it is one event object per line (blank lines are skipped, and indexes
// count events, not lines). Either every event is valid and all are returned,
// or an *Error lists the first MaxReportedErrors problems and none is returned.
func referenceDecodeEvents(body []byte, ndjson bool, now int64) ([]convops.Event, error) {
	var raws []json.RawMessage
	var err error
	if ndjson {
		raws, err = refSplitNDJSON(body)
	} else {
		raws, err = refSplitJSON(body)
	}
	if err != nil {
		return nil, err
	}
	if len(raws) > convops.MaxBatchEvents {
		return nil, convops.ParamErrorf("events", "a request may carry at most %d events, this one has %d: split it", convops.MaxBatchEvents, len(raws))
	}

	v := refValidator{minAt: convops.RetentionHorizon(now) * convops.BucketMs, maxAt: now + convops.MaxClockSkewMs}
	events := make([]convops.Event, 0, len(raws))
	for i, raw := range raws {
		e, ok := v.event(i, raw)
		if ok && v.invalid == 0 {
			events = append(events, e)
		}
	}
	if v.invalid > 0 {
		return nil, &convops.Error{
			Code:      convops.EInvalid,
			Parameter: "events",
			Message:   fmt.Sprintf("%d of %d events are invalid; nothing was stored: fix them and send the request again", v.invalid, len(raws)),
			Items:     v.problems,
		}
	}
	return events, nil
}

func refSplitJSON(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, convops.ParamErrorf("body", "the body is empty: send a JSON array of events or {\"events\": [...]}")
	}
	var raws []json.RawMessage
	switch trimmed[0] {
	case '[':
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, convops.ParamErrorf("body", "the body is not valid JSON: %s", refJSONProblem(err))
		}
	case '{':
		if !json.Valid(trimmed) {
			var v any
			err := json.Unmarshal(trimmed, &v)
			return nil, convops.ParamErrorf("body", "the body is not valid JSON or its \"events\" is not an array: %s", refJSONProblem(err))
		}
		events, found := refFirstEvents(trimmed)
		if !found {
			return nil, convops.ParamErrorf("events", "the body object has no \"events\" array")
		}
		if err := json.Unmarshal(events, &raws); err != nil {
			return nil, convops.ParamErrorf("body", "the body is not valid JSON or its \"events\" is not an array: %s", refJSONProblem(err))
		}
	default:
		return nil, convops.ParamErrorf("body", "the body must be a JSON array of events or {\"events\": [...]}")
	}
	return raws, nil
}

// refFirstEvents returns the value of a valid object's first "events"
// key (matched without regard to case); null counts as none.
func refFirstEvents(obj []byte) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.Token() // '{'
	for dec.More() {
		tok, _ := dec.Token()
		var value json.RawMessage
		dec.Decode(&value)
		if strings.EqualFold(tok.(string), "events") {
			return value, string(value) != "null"
		}
	}
	return nil, false
}

func refSplitNDJSON(body []byte) ([]json.RawMessage, error) {
	var raws []json.RawMessage
	for line := range bytes.Lines(body) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(raws) == convops.MaxBatchEvents {
			return nil, convops.ParamErrorf("events", "a request may carry at most %d events: split it", convops.MaxBatchEvents)
		}
		raws = append(raws, json.RawMessage(line))
	}
	return raws, nil
}

// refJSONProblem turns a decoding error into a short phrase for a person.
func refJSONProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s at byte %d", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("found a JSON %s where %s was expected", typ.Value, typ.Type)
	}
	return err.Error()
}

type refValidator struct {
	minAt, maxAt int64
	problems     []convops.ItemError
	invalid      int // events with at least one problem
	current      bool
}

func (v *refValidator) fail(index int, field, format string, args ...any) {
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
func (v *refValidator) event(i int, raw json.RawMessage) (e convops.Event, ok bool) {
	v.current = false
	var r refRawEvent
	if err := json.Unmarshal(raw, &r); err != nil {
		v.fail(i, "", "an event must be a JSON object: %s", refJSONProblem(err))
		return e, false
	}

	e.ConversationID = v.idString(i, convops.FieldConversationID, r.ConversationID, true)
	e.EventID = v.idString(i, convops.FieldEventID, r.EventID, false)
	if e.EventID == "" {
		e.EventID = e.ConversationID
	}

	e.SkillID = convops.NoSkill
	if id, given := v.integer(i, convops.FieldSkillID, r.SkillID, true); given {
		e.SkillID = id
	}
	if id, given := v.integer(i, convops.FieldAgentID, r.AgentID, true); given {
		e.AgentID, e.HasAgent = id, true
	}

	if refIsAbsent(r.ResolvedBy) {
		v.fail(i, convops.FieldResolvedBy, "is required: CCP, CONSUMER or SYSTEM")
	} else if s, isString := refJSONString(r.ResolvedBy); !isString {
		v.fail(i, convops.FieldResolvedBy, "must be a string: CCP, CONSUMER or SYSTEM")
	} else if by, known := convops.ParseResolvedBy(s); !known {
		v.fail(i, convops.FieldResolvedBy, "must be CCP, CONSUMER or SYSTEM, got %q", convops.Clip(s))
	} else {
		e.ResolvedBy = by
	}

	e.ResolvedAt = v.timestamp(i, r.ResolvedAt)

	if refIsAbsent(r.HandlingTimeMs) {
		v.fail(i, convops.FieldHandlingTimeMs, "is required: the handling time in milliseconds")
	} else if ms, isNumber := v.integer(i, convops.FieldHandlingTimeMs, r.HandlingTimeMs, false); isNumber {
		if ms < 0 || ms > convops.MaxHandlingTimeMs {
			v.fail(i, convops.FieldHandlingTimeMs, "must be between 0 and %d milliseconds, got %d", int64(convops.MaxHandlingTimeMs), ms)
		}
		e.HandlingTimeMs = ms
	}
	return e, !v.current
}

// idString validates conversationId or eventId: a string of 1–256 bytes.
func (v *refValidator) idString(i int, field string, raw json.RawMessage, required bool) string {
	if refIsAbsent(raw) {
		if required {
			v.fail(i, field, "is required: a string of 1 to %d bytes", convops.MaxIDBytes)
		}
		return ""
	}
	s, ok := refJSONString(raw)
	switch {
	case !ok:
		v.fail(i, field, "must be a string of 1 to %d bytes", convops.MaxIDBytes)
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
func (v *refValidator) integer(i int, field string, raw json.RawMessage, decimalString bool) (n int64, given bool) {
	if refIsAbsent(raw) {
		return 0, false
	}
	text := string(raw)
	if raw[0] == '"' {
		s, _ := refJSONString(raw)
		if !decimalString {
			v.fail(i, field, "must be a whole number, not a string")
			return 0, false
		}
		text = s
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		v.fail(i, field, "must be a whole number that fits in 64 bits, got %s", convops.Clip(string(raw)))
		return 0, false
	}
	return n, true
}

// timestamp reads resolvedAt: an RFC 3339 string or integer epoch milliseconds,
// within the retention window and at most MaxClockSkewMs after now.
func (v *refValidator) timestamp(i int, raw json.RawMessage) int64 {
	if refIsAbsent(raw) {
		v.fail(i, convops.FieldResolvedAt, "is required: an RFC 3339 time or epoch milliseconds")
		return 0
	}
	var at int64
	if s, isString := refJSONString(raw); isString {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			v.fail(i, convops.FieldResolvedAt, "must be an RFC 3339 time such as 2026-11-27T13:29:00Z or epoch milliseconds, got %q", convops.Clip(s))
			return 0
		}
		at = t.UnixMilli()
	} else {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			v.fail(i, convops.FieldResolvedAt, "must be an RFC 3339 time or whole epoch milliseconds, got %s", convops.Clip(string(raw)))
			return 0
		}
		at = n
	}
	switch {
	case at < v.minAt:
		v.fail(i, convops.FieldResolvedAt, "%s is older than the 24-hour window; the earliest accepted time is %s", refFormatMs(at), refFormatMs(v.minAt))
	case at >= v.maxAt:
		v.fail(i, convops.FieldResolvedAt, "%s is in the future; the latest accepted time is just before %s", refFormatMs(at), refFormatMs(v.maxAt))
	}
	return at
}

func refFormatMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

func refIsAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// refJSONString unquotes a JSON string; ok is false when raw is not a string.
func refJSONString(raw json.RawMessage) (s string, ok bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
