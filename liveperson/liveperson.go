// Package liveperson reads what LivePerson's Messaging Interactions API
// (conversations/search) returns, and turns its closed conversations into
// convops events (SPEC.md section 11).
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
// events are then validated as an ingest request's are (convops.DecodeEvents),
// so that the same rules hold, and every problem names its record.
package liveperson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/convops/convops"
)

// Page is what Convert makes of a body.
type Page struct {
	Events  []convops.Event
	Skipped int // records that are not closed
	Records int // records in all
}

// record is the part of a conversation history record that is read. Ids
// come as numbers or as strings ("3677470410"), so they are kept raw.
type record struct {
	Info struct {
		ConversationID json.RawMessage `json:"conversationId"`
		Status         string          `json:"status"`
		EndTimeL       json.RawMessage `json:"endTimeL"`
		CloseReason    string          `json:"closeReason"`
		LatestSkillID  json.RawMessage `json:"latestSkillId"`
		LatestAgentID  json.RawMessage `json:"latestAgentId"`
	} `json:"info"`
	Interactions []struct {
		InteractionTimeL json.RawMessage `json:"interactionTimeL"`
	} `json:"interactions"`
	AgentParticipants []struct {
		AgentID json.RawMessage `json:"agentId"`
		TimeL   json.RawMessage `json:"timeL"`
	} `json:"agentParticipants"`
}

// Fields of a record, as problems name them.
const (
	fieldConversationID = "info.conversationId"
	fieldEndTime        = "info.endTimeL"
	fieldSkill          = "info.latestSkillId"
	fieldAgent          = "info.latestAgentId"
	fieldCloseReason    = "info.closeReason"
)

// Convert reads a page of search results ({"conversationHistoryRecords":
// [...]}, other keys ignored) or an array of records, and returns the
// events of its closed conversations, validated at now (epoch ms) as an
// ingest's are: either all are valid, or a *convops.Error lists the
// problems by record (its index in the page) and nothing is returned.
func Convert(body []byte, now int64) (Page, error) {
	records, err := decodeRecords(body)
	if err != nil {
		return Page{}, err
	}
	page := Page{Records: len(records)}
	// The closed records, as an ingest body; recordOf maps an event's index
	// back to its record's.
	var events bytes.Buffer
	var recordOf []int
	var problems []convops.ItemError
	events.WriteByte('[')
	for i := range records {
		r := &records[i]
		if !strings.EqualFold(r.Info.Status, "CLOSE") {
			page.Skipped++
			continue
		}
		ev, problem := toEvent(r)
		if problem != nil {
			problem.Index = i
			problems = append(problems, *problem)
			continue
		}
		if len(recordOf) > 0 {
			events.WriteByte(',')
		}
		events.Write(ev)
		recordOf = append(recordOf, i)
	}
	events.WriteByte(']')

	decoded, err := convops.DecodeEvents(events.Bytes(), false, now)
	if err != nil {
		e, ok := err.(*convops.Error)
		if !ok {
			return Page{}, err
		}
		for _, item := range e.Items {
			field := item.Field
			item.Index = recordOf[item.Index]
			item.Field = recordField(field)
			item.Message = strings.Replace(item.Message, field+":", item.Field+":", 1)
			problems = append(problems, item)
		}
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
		return Page{}, &convops.Error{Code: convops.EInvalid, Parameter: "conversationHistoryRecords", Events: len(records),
			Message: fmt.Sprintf("%d of %d records are invalid; nothing was stored: fix them and send the page again", len(invalid), page.Records), Items: problems}
	}
	page.Events = decoded
	return page, nil
}

// decodeRecords reads the records of a page, or of an array of records.
func decodeRecords(body []byte) ([]record, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, convops.ParamErrorf("body", `the body is empty: send a page of conversations/search results, {"conversationHistoryRecords": [...]}, or an array of records`)
	}
	var records []record
	if trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &records); err != nil {
			return nil, shapeError(err)
		}
		return records, nil
	}
	var page struct {
		Records *[]record `json:"conversationHistoryRecords"`
	}
	if err := json.Unmarshal(trimmed, &page); err != nil {
		return nil, shapeError(err)
	}
	if page.Records == nil {
		return nil, convops.ParamErrorf("conversationHistoryRecords", `the page has no conversationHistoryRecords: send what conversations/search returns, or an array of its records`)
	}
	return *page.Records, nil
}

func shapeError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		msg = fmt.Sprintf("%s must be %s, not a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		msg = "the body is not valid JSON: " + msg
	}
	return convops.ParamErrorf("body", "%s", msg)
}

// toEvent writes the ingest event of a closed record, or says why it has
// none. Values are passed on as given (an id as a string or a number) for
// DecodeEvents to validate.
func toEvent(r *record) ([]byte, *convops.ItemError) {
	end, ok := number(r.Info.EndTimeL)
	if !ok || end <= 0 {
		return nil, &convops.ItemError{Field: fieldEndTime, Message: fieldEndTime + ": a closed conversation needs its end time in epoch milliseconds, got " + clip(r.Info.EndTimeL)}
	}
	agent, hasAgent := agentID(r.Info.LatestAgentID)
	handling := int64(0)
	if hasAgent {
		if assigned, found := assignedAt(r, agent); found && assigned <= end {
			handling = end - assigned
		}
	}
	skill := r.Info.LatestSkillID
	if isNull(skill) {
		skill = json.RawMessage("-1")
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
	b.WriteString(strconv.Quote(resolvedBy(r.Info.CloseReason)))
	b.WriteString(`,"resolvedAt":`)
	b.WriteString(strconv.FormatInt(end, 10))
	b.WriteString(`,"handlingTimeMs":`)
	b.WriteString(strconv.FormatInt(handling, 10))
	b.WriteByte('}')
	return b.Bytes(), nil
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
	case "", "-1", "null", "undefined", "0":
		return "", false
	}
	return s, true
}

// assignedAt is when agent was last assigned the conversation: its last
// interaction's time, else its last time as a participant.
func assignedAt(r *record, agent string) (int64, bool) {
	var at int64
	found := false
	for _, in := range r.Interactions {
		if t, ok := number(in.InteractionTimeL); ok && t > 0 && (!found || t > at) {
			at, found = t, true
		}
	}
	if found {
		return at, true
	}
	for _, p := range r.AgentParticipants {
		if idText(p.AgentID) != agent {
			continue
		}
		if t, ok := number(p.TimeL); ok && t > 0 && (!found || t > at) {
			at, found = t, true
		}
	}
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
	case convops.FieldResolvedAt, convops.FieldHandlingTimeMs:
		return fieldEndTime
	}
	return eventField
}
