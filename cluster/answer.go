package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/convops/convops"
)

// answer serves one request of the node's shard.
func (p *Peers) answer(local Local, m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	wait := maxWait
	if ms, err := strconv.ParseInt(m.Header.Get(timeoutHeader), 10, 64); err == nil && ms > 0 && ms < maxWait.Milliseconds() {
		wait = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(p.serveCtx, wait)
	defer cancel()
	var req request
	if err := json.Unmarshal(m.Data, &req); err != nil || len(req.IDs) > maxAwaitIDs {
		p.logger.Warn("ignoring a request of another node that cannot be read", "err", err, "ids", len(req.IDs))
		return
	}
	if !p.shard.Holds(req.Account) {
		// Only a node with a different idea of the shards sends these:
		// answering nothing lets it time out, and the log says why.
		p.logger.Warn("ignoring a request for an account of another shard", "shard", p.shard, "account", req.Account)
		return
	}
	var status int
	var body []byte
	var cause string
	switch m.Header.Get(opHeader) {
	case "query":
		var done func()
		status, body, cause, done = local.Answer(ctx, req.Account, req.Params, req.MaxBytes)
		defer done()
	case "version":
		status, body = http.StatusOK, strconv.AppendUint(nil, local.Version(req.Account), 10)
	case "await":
		out, err := local.Await(ctx, req.IDs)
		if err != nil {
			status, body, cause = encodeError(err)
		} else {
			status = http.StatusOK
			body, _ = json.Marshal(out)
		}
	default:
		p.logger.Warn("ignoring a request of an unknown kind", "op", m.Header.Get(opHeader))
		return
	}
	if ctx.Err() != nil {
		return // its asker has given up, or this node is stopping: it asks again elsewhere
	}
	p.counts.served.of(m.Header.Get(opHeader)).Add(1)
	p.reply(m.Reply, status, body, cause)
}

// reply sends an answer, in parts that each fit in a NATS message.
func (p *Peers) reply(to string, status int, body []byte, cause string) {
	limit := max(int(p.nc.MaxPayload())-1024, 1024) // room for the headers
	for n := 0; ; n++ {
		part := body[:min(len(body), limit)]
		body = body[len(part):]
		m := nats.NewMsg(to)
		m.Data = part
		m.Header.Set(statusHeader, strconv.Itoa(status))
		m.Header.Set(partHeader, strconv.Itoa(n))
		if cause != "" {
			m.Header.Set(causeHeader, cause)
		}
		if len(body) > 0 {
			m.Header.Set(moreHeader, "1")
		}
		if err := p.nc.PublishMsg(m); err != nil {
			p.logger.Warn("cannot answer a request of another node", "err", err)
			return
		}
		if len(body) == 0 {
			return
		}
	}
}

// wireError is a refusal as it crosses between nodes.
type wireError struct {
	Code      string              `json:"code"`
	Message   string              `json:"message"`
	Parameter string              `json:"parameter,omitempty"`
	Items     []convops.ItemError `json:"errors,omitempty"`
}

func encodeError(err error) (status int, body []byte, cause string) {
	var e *convops.Error
	if !errors.As(err, &e) {
		e = &convops.Error{Code: convops.EInternal, Message: "internal error"}
	}
	body, _ = json.Marshal(wireError{Code: e.Code, Message: e.Message, Parameter: e.Parameter, Items: e.Items})
	return http.StatusUnprocessableEntity, body, e.Cause
}

func decodeError(status int, body []byte, cause string) error {
	var w wireError
	if status != http.StatusUnprocessableEntity || json.Unmarshal(body, &w) != nil || w.Code == "" {
		return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard, Message: "a node of the account's shard gave an answer this node cannot read; retry in a moment"}
	}
	return &convops.Error{Code: w.Code, Message: w.Message, Parameter: w.Parameter, Items: w.Items, Cause: cause}
}
