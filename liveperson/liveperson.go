// Package liveperson reads what LivePerson's Messaging Interactions API
// (conversations/search) returns, and turns its closed conversations into
// convops events (docs/api.md, section 3).
//
// A record becomes one event when its info.status is CLOSE:
//
//	conversationId  info.conversationId
//	resolvedAt      info.endTimeL
//	skillId         info.latestSkillId (-1, LivePerson's "Unassigned", is the unassigned skill)
//	agentId         info.latestAgentId, absent when no agent took part
//	resolvedBy      info.closeReason: AGENT → CCP, CONSUMER → CONSUMER, anything else → SYSTEM
//	handlingTimeMs  endTimeL minus the time the final agent was assigned: the last
//	                interactions[].interactionTimeL, else the last agentParticipants[].timeL
//	                of that agent; 0 without an agent
//
// Other records (OPEN, and any other status) are skipped and counted. The
// events are then validated as an ingest request's are (eventjson.Decode),
// so that the same rules hold, and every problem names its record.
package liveperson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/convops/convops"
	"github.com/convops/convops/eventjson"
)

// Page is what Convert makes of a body.
type Page struct {
	Events  []convops.Event
	Skipped int // records that are not closed
	Records int // records in all
	// RecordOf is, for each event, the index of its record in the page.
	RecordOf []int
}

// MaxRecords bounds the records of one page (LivePerson's pages hold 100):
// as many as an ingest request may hold events.
const MaxRecords = convops.MaxBatchEvents

// record is the part of a conversation history record that is read. Ids
// come as numbers or as strings ("3677470410"), so they are kept raw. The
// lists are kept raw too, and read an element at a time (eachElement):
// decoded whole, a list of many small elements ({} is two bytes) takes many
// times its bytes in memory.
type record struct {
	Info *struct {
		ConversationID json.RawMessage `json:"conversationId"`
		Status         json.RawMessage `json:"status"`
		EndTimeL       json.RawMessage `json:"endTimeL"`
		CloseReason    json.RawMessage `json:"closeReason"`
		LatestSkillID  json.RawMessage `json:"latestSkillId"`
		LatestAgentID  json.RawMessage `json:"latestAgentId"`
	} `json:"info"`
	Interactions      json.RawMessage `json:"interactions"`
	AgentParticipants json.RawMessage `json:"agentParticipants"`
}

// interaction and participant are the parts of the lists' elements that
// are read.
type (
	interaction struct {
		InteractionTimeL json.RawMessage `json:"interactionTimeL"`
	}
	participant struct {
		AgentID json.RawMessage `json:"agentId"`
		TimeL   json.RawMessage `json:"timeL"`
	}
)

// Fields of the lists, as problems name them.
const (
	fieldInteractions = "interactions"
	fieldParticipants = "agentParticipants"
)

// eachElement calls fn with each element of the JSON array raw (none when
// raw is absent or null), decoded one at a time into the same T. A list or
// element of another kind is a problem naming field.
func eachElement[T any](raw json.RawMessage, field string, fn func(*T)) *convops.ItemError {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil
	}
	if raw[0] != '[' {
		return &convops.ItemError{Field: field, Message: fmt.Sprintf("%s must be an array, not %s", field, kindOf(raw[0]))}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // '[': raw is valid JSON, read as part of its record
	var el T
	for dec.More() {
		var zero T
		el = zero
		if err := dec.Decode(&el); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) && typeErr.Field != "" {
				return &convops.ItemError{Field: field + "[]." + typeErr.Field, Message: fmt.Sprintf("%s[].%s must be %s, not %s", field, typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)}
			}
			if errors.As(err, &typeErr) {
				return &convops.ItemError{Field: field, Message: fmt.Sprintf("the elements of %s must be objects, not %s", field, typeErr.Value)}
			}
			return &convops.ItemError{Field: field, Message: field + " cannot be read: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		fn(&el)
	}
	return nil
}

// kindOf names the kind of JSON value that begins with c.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// Fields of a record, as problems name them.
const (
	fieldInfo           = "info"
	fieldStatus         = "info.status"
	fieldConversationID = "info.conversationId"
	fieldEndTime        = "info.endTimeL"
	fieldSkill          = "info.latestSkillId"
	fieldAgent          = "info.latestAgentId"
	fieldCloseReason    = "info.closeReason"
	fieldHandlingTime   = "info.endTimeL, interactions[].interactionTimeL"
)

// Convert reads a page of search results ({"conversationHistoryRecords":
// [...]}, other keys ignored) or an array of records, and returns the
// events of its closed conversations, validated at now (epoch ms) as an
// ingest's are: either all are valid, or a *convops.Error lists the
// problems by record (its index in the page) and nothing is returned.
//
// The records are read one at a time: what a page costs in memory is its
// events, not its records' other fields.
func Convert(body []byte, now int64) (Page, error) {
	var page Page
	// The closed records, as an ingest body; RecordOf maps an event's
	// index back to its record's.
	var events bytes.Buffer
	var problems []convops.ItemError
	events.WriteByte('[')
	err := eachRecord(body, func(i int, raw json.RawMessage) error {
		page.Records++
		if page.Records > MaxRecords {
			return &convops.Error{Code: convops.EInvalid, Parameter: "conversationHistoryRecords",
				Message: fmt.Sprintf("a page holds at most %d records; send fewer at once", MaxRecords)}
		}
		ev, closed, problem := toEvent(raw)
		switch {
		case problem != nil:
			problem.Index = i
			problems = append(problems, *problem)
		case !closed:
			page.Skipped++
		default:
			if len(page.RecordOf) > 0 {
				events.WriteByte(',')
			}
			events.Write(ev)
			page.RecordOf = append(page.RecordOf, i)
		}
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	events.WriteByte(']')

	decoded, err := eventjson.Decode(events.Bytes(), false, now)
	if err != nil {
		e, ok := err.(*convops.Error)
		if !ok || len(e.Items) == 0 {
			return Page{}, err // not about one event: about them all
		}
		problems = append(problems, page.Remap(e).Items...)
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Index < problems[j].Index })
		invalid := map[int]bool{}
		for _, p := range problems {
			invalid[p.Index] = true
		}
		if len(problems) > convops.MaxReportedErrors {
			problems = problems[:convops.MaxReportedErrors]
		}
		return Page{}, &convops.Error{Code: convops.EInvalid, Parameter: "conversationHistoryRecords", Events: page.Records,
			Message: fmt.Sprintf("%d of %d records are invalid; nothing was stored: fix them and send the page again", len(invalid), page.Records), Items: problems}
	}
	page.Events = decoded
	return page, nil
}

// Remap turns the problems of the page's events, as the ingest names them
// (by event, by ingest field), into problems of its records.
func (p *Page) Remap(e *convops.Error) *convops.Error {
	out := *e
	out.Items = make([]convops.ItemError, 0, len(e.Items))
	for _, item := range e.Items {
		field := item.Field
		if item.Index >= 0 && item.Index < len(p.RecordOf) {
			item.Index = p.RecordOf[item.Index]
		}
		item.Field = recordField(field)
		item.Message = strings.Replace(item.Message, field+":", item.Field+":", 1)
		out.Items = append(out.Items, item)
	}
	if out.Parameter == "events" {
		out.Parameter = "conversationHistoryRecords"
	}
	return &out
}

// eachRecord calls fn with each record of the page, in order, as it reads
// them.
func eachRecord(body []byte, fn func(i int, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return convops.ParamErrorf("body", `the body is empty: send a page of conversations/search results, {"conversationHistoryRecords": [...]}, or an array of records`)
	}
	if err != nil {
		return syntaxError(err)
	}
	switch tok {
	case json.Delim('['):
	case json.Delim('{'):
		// A page: find its records, skipping its other keys.
		found := false
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return syntaxError(err)
			}
			if key != "conversationHistoryRecords" {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return syntaxError(err)
				}
				continue
			}
			if tok, err := dec.Token(); err != nil {
				return syntaxError(err)
			} else if tok != json.Delim('[') {
				return convops.ParamErrorf("conversationHistoryRecords", "conversationHistoryRecords must be an array of records")
			}
			found = true
			break
		}
		if !found {
			return convops.ParamErrorf("conversationHistoryRecords", `the page has no conversationHistoryRecords: send what conversations/search returns, or an array of its records`)
		}
	default:
		return convops.ParamErrorf("body", `the body must be a page of conversations/search results, {"conversationHistoryRecords": [...]}, or an array of records`)
	}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxError(err)
		}
		if err := fn(i, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntaxError(err)
	}
	return nil
}

func syntaxError(err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return convops.ParamErrorf("body", "the body ends before its JSON does")
	}
	return convops.ParamErrorf("body", "the body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// toEvent reads one record: closed, it writes its ingest event; not
// closed, it has none. Values are passed on as given (an id as a string or
// a number) for eventjson.Decode to validate; what is wrong with the record's
// own shape is a problem.
func toEvent(raw json.RawMessage) (ev []byte, closed bool, problem *convops.ItemError) {
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, false, &convops.ItemError{Field: typeErr.Field, Message: fmt.Sprintf("%s must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)}
		}
		return nil, false, &convops.ItemError{Message: "a record must be a JSON object with an info object"}
	}
	if r.Info == nil {
		return nil, false, &convops.ItemError{Field: fieldInfo, Message: fieldInfo + ": is required: the conversation's info object"}
	}
	// The lists' shapes are checked on every record, as a whole decoding
	// would.
	if problem := eachElement(r.Interactions, fieldInteractions, func(*interaction) {}); problem != nil {
		return nil, false, problem
	}
	if problem := eachElement(r.AgentParticipants, fieldParticipants, func(*participant) {}); problem != nil {
		return nil, false, problem
	}
	status, ok := text(r.Info.Status)
	if !ok || strings.TrimSpace(status) == "" {
		return nil, false, &convops.ItemError{Field: fieldStatus, Message: fieldStatus + ": is required: a string, CLOSE for a closed conversation"}
	}
	if !strings.EqualFold(strings.TrimSpace(status), "CLOSE") {
		return nil, false, nil
	}
	end, ok := number(r.Info.EndTimeL)
	if !ok || end <= 0 {
		return nil, false, &convops.ItemError{Field: fieldEndTime, Message: fieldEndTime + ": a closed conversation needs its end time in epoch milliseconds, got " + clip(r.Info.EndTimeL)}
	}
	reason, ok := text(r.Info.CloseReason)
	if !ok && !isNull(r.Info.CloseReason) {
		return nil, false, &convops.ItemError{Field: fieldCloseReason, Message: fieldCloseReason + ": must be a string such as AGENT or CONSUMER, got " + clip(r.Info.CloseReason)}
	}
	agent, hasAgent := agentID(r.Info.LatestAgentID)
	handling := int64(0)
	if hasAgent {
		if assigned, found := assignedAt(&r, agent, end); found {
			handling = end - assigned
		}
	}
	skill := bytes.TrimSpace(r.Info.LatestSkillID)
	if isNull(skill) || string(skill) == `""` {
		skill = json.RawMessage("-1") // LivePerson's "Unassigned"
	}
	var b bytes.Buffer
	b.WriteString(`{"conversationId":`)
	b.Write(orNull(r.Info.ConversationID))
	b.WriteString(`,"skillId":`)
	b.Write(skill)
	if hasAgent {
		b.WriteString(`,"agentId":`)
		b.WriteString(strconv.Quote(agent))
	}
	b.WriteString(`,"resolvedBy":`)
	b.WriteString(strconv.Quote(resolvedBy(reason)))
	b.WriteString(`,"resolvedAt":`)
	b.WriteString(strconv.FormatInt(end, 10))
	b.WriteString(`,"handlingTimeMs":`)
	b.WriteString(strconv.FormatInt(handling, 10))
	b.WriteByte('}')
	return b.Bytes(), true, nil
}

// jsonKind names a Go type the way a JSON document's author would.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	}
	return "a number"
}

// text reads a JSON string.
func text(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// resolvedBy maps LivePerson's close reason.
func resolvedBy(closeReason string) string {
	switch strings.ToUpper(closeReason) {
	case "AGENT":
		return "CCP"
	case "CONSUMER":
		return "CONSUMER"
	}
	return "SYSTEM"
}

// agentID reads latestAgentId: a number or a string of one. LivePerson
// writes no agent as absent, "", -1, "-1", "null" or "undefined".
func agentID(raw json.RawMessage) (string, bool) {
	s := idText(raw)
	switch s {
	case "", "-1", "null", "undefined":
		return "", false
	}
	return s, true
}

// assignedAt is when agent was last assigned the conversation: the time
// of its last interaction (the last of interactions[], in their order) that
// is not after its end, else its last time as a participant. A time after
// the end (clocks that differ) is passed over.
func assignedAt(r *record, agent string, end int64) (int64, bool) {
	var at int64
	found := false
	eachElement(r.Interactions, fieldInteractions, func(i *interaction) {
		if t, ok := number(i.InteractionTimeL); ok && t > 0 && t <= end {
			at, found = t, true // the last in order wins
		}
	})
	if found {
		return at, true
	}
	eachElement(r.AgentParticipants, fieldParticipants, func(p *participant) {
		if idText(p.AgentID) != agent {
			return
		}
		if t, ok := number(p.TimeL); ok && t > 0 && t <= end && (!found || t > at) {
			at, found = t, true
		}
	})
	return at, found
}

// idText is an id given as a JSON string or number, as text.
func idText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return string(raw)
		}
		return strings.TrimSpace(s)
	}
	return string(raw)
}

// number reads a whole number given as a JSON number or a string of one.
func number(raw json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(idText(raw), 10, 64)
	return n, err == nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func orNull(raw json.RawMessage) []byte {
	if isNull(raw) {
		return []byte("null")
	}
	return bytes.TrimSpace(raw)
}

func clip(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if s == "" {
		return "nothing"
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// recordField names, in a record, the field an ingest problem is about.
func recordField(eventField string) string {
	switch eventField {
	case convops.FieldConversationID, convops.FieldEventID:
		return fieldConversationID
	case convops.FieldSkillID:
		return fieldSkill
	case convops.FieldAgentID:
		return fieldAgent
	case convops.FieldResolvedBy:
		return fieldCloseReason
	case convops.FieldResolvedAt:
		return fieldEndTime
	case convops.FieldHandlingTimeMs:
		return fieldHandlingTime
	}
	return eventField
}
