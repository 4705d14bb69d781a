// Package eventjson reads and writes events as the ingest API carries
// them: Decode reads and validates a request's body (a JSON array,
// {"events": [...]}, or NDJSON) with a scanner written for it, and
// AppendEvent writes an event as that API reads it. The rules it follows
// are those of docs/api.md, section 3.
package eventjson

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/convops/convops"
)

// eventFields are the fields of the ingest API, in the order of the spans
// an event object is read into.
var eventFields = [...]string{
	convops.FieldConversationID, convops.FieldEventID, convops.FieldSkillID, convops.FieldAgentID,
	convops.FieldResolvedBy, convops.FieldResolvedAt, convops.FieldHandlingTimeMs,
}

// rawEvent holds the values of an event object as sent: each a span of the
// body (empty when the field is absent), validated by hand so that every
// error names the field and says what is wrong with it.
type rawEvent [len(eventFields)][]byte

// Decode decodes and validates the body of an ingest request at now
// (epoch ms). The body is a JSON array of events or {"events": [...]}; with
// ndjson it is one event object per line (blank lines are skipped, and indexes
// count events, not lines). Either every event is valid and all are returned,
// or an *Error lists the first MaxReportedErrors problems and none is returned.
//
// Field names are matched as encoding/json matches them (exactly, else
// without regard to case), unknown fields are ignored, and a field given
// twice takes its last value.
func Decode(body []byte, ndjson bool, now int64) ([]convops.Event, error) {
	d := eventDecoder{v: eventValidator{minAt: convops.RetentionHorizon(now) * convops.BucketMs, maxAt: now + convops.MaxClockSkewMs}}
	var err error
	if ndjson {
		err = d.ndjson(body)
	} else {
		err = d.json(body)
	}
	if err != nil {
		return nil, err
	}
	if d.v.invalid > 0 {
		return nil, &convops.Error{
			Code:      convops.EInvalid,
			Parameter: "events",
			Message:   fmt.Sprintf("%d of %d events are invalid; nothing was stored: fix them and send the request again", d.v.invalid, d.count),
			Items:     d.v.problems,
			Events:    d.count,
		}
	}
	if d.events == nil {
		d.events = []convops.Event{}
	}
	return d.events, nil
}

// eventDecoder reads the events of one body.
type eventDecoder struct {
	v      eventValidator
	events []convops.Event
	count  int // events read, valid or not
}

var errTooManyEvents = convops.ParamErrorf("events", "a request may carry at most %d events: split it", convops.MaxBatchEvents)

// json reads a JSON array of events or {"events": [...]}.
func (d *eventDecoder) json(body []byte) error {
	// Surrounding white space is ignored as Unicode defines it, a little more
	// widely than JSON does, as it always was.
	body = bytes.TrimSpace(body)
	s := &jsonScanner{data: body}
	if s.skipSpace(); s.pos == len(body) {
		return convops.ParamErrorf("body", "the body is empty: send a JSON array of events or {\"events\": [...]}")
	}
	switch s.peek() {
	case '[':
		if err := d.array(s, 0); err != nil {
			return err
		}
		if s.atEnd(); s.failed() {
			return convops.ParamErrorf("body", "the body is not valid JSON: %s", s.problem)
		}
		return nil
	case '{':
		return d.wrapper(s)
	}
	if s.value(0); s.failed() {
		return convops.ParamErrorf("body", "the body is not valid JSON: %s", s.problem)
	}
	return convops.ParamErrorf("body", "the body must be a JSON array of events or {\"events\": [...]}")
}

// array reads an array of events, inside depth arrays and objects; a
// syntax error is the body's.
func (d *eventDecoder) array(s *jsonScanner, depth int) error {
	// A guess at the count, from the size of the body, saves growing the slice.
	d.events = make([]convops.Event, 0, min(convops.MaxBatchEvents, (len(s.data)-s.pos)/100+1))
	s.pos++ // '['
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if d.count == convops.MaxBatchEvents {
			return errTooManyEvents
		}
		d.element(s, s.data, depth+1)
		if s.failed() {
			return convops.ParamErrorf("body", "the body is not valid JSON: %s", s.problem)
		}
		if s.peek() == ',' {
			s.pos++
			continue
		}
		if !s.expect(']', "after array element") {
			return convops.ParamErrorf("body", "the body is not valid JSON: %s", s.problem)
		}
		return nil
	}
}

// wrapper reads {"events": [...]}: other keys are ignored, and of several
// "events" keys the first counts (as it must for the ingest command, which
// sends the events of a file while it reads them; see Reader).
func (d *eventDecoder) wrapper(s *jsonScanner) error {
	bad := func() error {
		return convops.ParamErrorf("body", "the body is not valid JSON or its \"events\" is not an array: %s", s.problem)
	}
	found, decided := false, false
	s.pos++ // '{'
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			if s.peek() != '"' {
				s.unexpected("looking for beginning of object key string")
				return bad()
			}
			start := s.pos
			escaped := s.str()
			key := s.data[start:s.pos]
			if s.failed() || !s.expect(':', "after object key") {
				return bad()
			}
			if !decided && keyIs(key, escaped, "events") {
				decided = true
				switch s.peek() {
				case '[':
					found = true
					if err := d.array(s, 1); err != nil {
						if e, ok := err.(*convops.Error); ok && e.Parameter == "body" {
							return bad()
						}
						return err
					}
				case 'n':
					found = false
					if s.literal("null"); s.failed() {
						return bad()
					}
				default:
					if s.value(1); !s.failed() {
						s.problem = "\"events\" is not an array"
					}
					return bad()
				}
			} else if s.value(1); s.failed() {
				return bad()
			}
			if s.peek() == ',' {
				s.pos++
				continue
			}
			if !s.expect('}', "after object key:value pair") {
				return bad()
			}
			break
		}
	}
	if s.atEnd(); s.failed() {
		return bad()
	}
	if !found {
		return convops.ParamErrorf("events", "the body object has no \"events\" array")
	}
	return nil
}

// ndjson reads one event object per line.
func (d *eventDecoder) ndjson(body []byte) error {
	d.events = make([]convops.Event, 0, min(convops.MaxBatchEvents, len(body)/100+1))
	for line := range bytes.Lines(body) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if d.count == convops.MaxBatchEvents {
			return errTooManyEvents
		}
		// A line that is not one JSON value is a problem of that event, not
		// of the body.
		check := &jsonScanner{data: line}
		if check.value(0); !check.failed() {
			check.atEnd()
		}
		if check.failed() {
			d.v.current = false
			d.v.fail(d.count, "", "an event must be a JSON object: %s", check.problem)
			d.count++
			continue
		}
		d.element(&jsonScanner{data: line}, line, 0)
	}
	return nil
}

// element reads one element, inside depth arrays and objects: an event
// object, or a value that is not one.
func (d *eventDecoder) element(s *jsonScanner, data []byte, depth int) {
	index := d.count
	d.count++
	var raw rawEvent
	switch c := s.peek(); c {
	case '{':
		if !members(s, data, &raw, depth) {
			return
		}
	case 'n':
		// null reads as an event without fields, as encoding/json reads it.
		if s.literal("null"); s.failed() {
			return
		}
	default:
		if s.value(depth); !s.failed() {
			d.v.current = false
			d.v.fail(index, "", "an event must be a JSON object, not %s", jsonKind(c))
		}
		return
	}
	e, ok := d.v.event(index, &raw)
	if ok && d.v.invalid == 0 {
		d.events = append(d.events, e)
	}
}

// members reads an event object, inside depth arrays and objects, into
// raw; false means a syntax error.
func members(s *jsonScanner, data []byte, raw *rawEvent, depth int) bool {
	if !s.open(depth) {
		return false
	}
	s.pos++ // '{'
	if s.peek() == '}' {
		s.pos++
		return true
	}
	for {
		if s.peek() != '"' {
			s.unexpected("looking for beginning of object key string")
			return false
		}
		start := s.pos
		escaped := s.str()
		key := data[start:s.pos]
		if s.failed() || !s.expect(':', "after object key") {
			return false
		}
		vs, ve := s.value(depth + 1)
		if s.failed() {
			return false
		}
		if f := fieldOf(key, escaped); f >= 0 {
			raw[f] = data[vs:ve]
		}
		if s.peek() == ',' {
			s.pos++
			continue
		}
		return s.expect('}', "after object key:value pair")
	}
}

// fieldOf returns the index in eventFields of the key of a member, -1 for
// an unknown one: an exact match, else one without regard to case.
func fieldOf(key []byte, escaped bool) int {
	text := key[1 : len(key)-1]
	if escaped {
		s, _ := decodeJSONString(key)
		text = []byte(s)
	}
	for i, f := range eventFields {
		if string(text) == f {
			return i
		}
	}
	for i, f := range eventFields {
		if bytes.EqualFold(text, []byte(f)) {
			return i
		}
	}
	return -1
}

// keyIs reports whether a key (quotes included) names name, as fieldOf
// matches.
// IsEventsKey says whether a key of a body object names its events (the
// wrapper form, {"events": [...]}): as encoding/json matches a field,
// exactly or else without regard to case. The ingest command reads files
// by the same rule.
func IsEventsKey(key string) bool { return strings.EqualFold(key, "events") }

func keyIs(key []byte, escaped bool, name string) bool {
	text := key[1 : len(key)-1]
	if escaped {
		s, _ := decodeJSONString(key)
		text = []byte(s)
	}
	return bytes.EqualFold(text, []byte(name))
}

// jsonKind names the kind of value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
