package eventlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/convops/convops"
)

// Message is an encoded batch ready to publish.
type Message struct {
	ID   string // Nats-Msg-Id: unique per message
	Data []byte
	// Forwarded marks a message logged for an account of another shard,
	// whose answer a node of that shard gives (Delivery.Forwarded).
	Forwarded bool
	subj      string
}

// forwardedHeader marks a forwarded message.
const forwardedHeader = "Convops-Forwarded"

// Encode turns a request's batch into messages under the server's payload
// limit. A batch too large for one message is split into parts that carry
// the request's id, so that the fold applies them together.
func (l *Log) Encode(b convops.Batch) []Message {
	limit := int(l.nc.MaxPayload()) - 1024 // room for headers
	var bounds []int                       // the end of each part
	start, size := 0, batchHeaderSize(b.Account)
	for i := range b.Events {
		n := eventSize(&b.Events[i])
		if size+n > limit && i > start { // a part holds at least one event
			bounds = append(bounds, i)
			start, size = i, batchHeaderSize(b.Account)
		}
		size += n
	}
	bounds = append(bounds, len(b.Events))
	p := Part{Count: len(bounds)}
	if p.Count > 1 {
		p.Request = rand.Uint64() | 1 // never 0, the id of single-message requests
	}
	msgs := make([]Message, 0, len(bounds))
	subj := Subject(b.Account)
	start = 0
	for i, end := range bounds {
		p.Index = i
		part := convops.Batch{Account: b.Account, Now: b.Now, Events: b.Events[start:end]}
		msgs = append(msgs, Message{
			ID:   l.nodeID + "-" + strconv.FormatUint(l.counter.Add(1), 10),
			Data: encodeBatch(nil, part, p),
			subj: subj,
		})
		start = end
	}
	return msgs
}

// Publish appends messages to the log and returns once every one of them is
// acknowledged by JetStream (stored as the package comment describes).
//
// A message not acknowledged within ackWait, or refused because the
// stream has no leader for now, is sent again, with the ones after it, under
// the same ids (which
// JetStream stores once), until ctx is done: on a cluster that is losing
// the server that leads the stream, the request then succeeds as soon as a
// new leader is elected instead of failing after its whole time.
func (l *Log) Publish(ctx context.Context, msgs []Message) error {
	if err := l.disk.check(); err != nil {
		return err
	}
	publish := func(m Message) (jetstream.PubAckFuture, error) {
		nm := nats.NewMsg(m.subj)
		nm.Data = m.Data
		nm.Header.Set(jetstream.MsgIDHeader, m.ID)
		if m.Forwarded {
			nm.Header.Set(forwardedHeader, "1")
		}
		f, err := l.js.PublishMsgAsync(nm, jetstream.WithExpectStream(StreamName))
		if err != nil {
			return nil, fmt.Errorf("publish to event log: %w", err)
		}
		return f, nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := publish(m)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	var last *jetstream.PubAck
	for i := 0; i < len(futures); {
		select {
		case ack := <-futures[i].Ok():
			last = ack
			i++
			continue
		case err := <-futures[i].Err():
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				if apiErr.ErrorCode == errInsufficientResources || apiErr.ErrorCode == errStorageExceeded {
					return fmt.Errorf("%w: %v", ErrStorageFull, err)
				}
				return fmt.Errorf("publish to event log: %w", err)
			}
			// No acknowledgement in time (ErrAsyncPublishTimeout), no
			// leader to answer, or the connection is changing servers:
			// wait a moment and send again.
			select {
			case <-time.After(retryWait):
			case <-ctx.Done():
				return fmt.Errorf("publish to event log: %w (before that: %v)", ctx.Err(), err)
			}
		case <-ctx.Done():
			return fmt.Errorf("publish to event log: %w", ctx.Err())
		}
		// The parts of a request are folded in order: the ones after this
		// one go again too, behind it.
		for j := i; j < len(msgs); j++ {
			f, err := publish(msgs[j])
			if err != nil {
				return err
			}
			futures[j] = f
		}
	}
	// The fold of this node (when the batch is of its shard), and the
	// others' of the shard, read it now.
	if last != nil {
		if subject := msgs[len(msgs)-1].subj; l.follows(subject) {
			l.stored(last.Sequence)
		}
		l.announce(msgs[len(msgs)-1].subj, last.Sequence)
	}
	return nil
}

// ackWait is how long a message may go unacknowledged before it is sent
// again; retryWait is the pause after a refusal that may pass.
const (
	ackWait   = 2 * time.Second
	retryWait = 100 * time.Millisecond
)
