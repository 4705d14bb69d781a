package eventlog

import (
	"context"
	"fmt"

	"github.com/convops/convops"
)

// State describes the stream.
type State struct {
	// Created is when the stream was created (epoch ns): a stream deleted and
	// created again under the same name starts its sequences anew, and a
	// snapshot of the old one must not be taken for it.
	Created  int64
	Msgs     uint64 // messages held
	Bytes    uint64 // bytes held
	FirstSeq uint64
	LastSeq  uint64
	// Deleted counts messages missing between FirstSeq and LastSeq. convops
	// never deletes single messages (retention removes them from the head),
	// so a gap means the store lost messages.
	Deleted int
}

// State returns the stream's state.
func (l *Log) State(ctx context.Context) (State, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return State{}, fmt.Errorf("read stream state: %w", err)
	}

	return State{Created: info.Created.UnixNano(), Msgs: info.State.Msgs, Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
		Deleted: info.State.NumDeleted}, nil
}

// Delivery is one message of the log, as the fold receives it.
type Delivery struct {
	Seq     uint64 // stream sequence
	Pending uint64 // messages after this one when it was delivered
	MsgID   string // Nats-Msg-Id, set by the node that logged it
	// Forwarded: logged by a node of another shard (Message.Forwarded)
	Forwarded bool
	Time      int64 // when the log stored it (epoch ms): the log's own clock
	Part      Part
	Batch     convops.Batch
}

// ApplyFunc receives each message of the log in order. err is non-nil (and
// the batch empty) for a message that cannot be decoded. The batch's events
// are valid only during the call (their slice is used again for the next
// message); their strings stay valid.
type ApplyFunc func(d Delivery, err error)

// slotBits is how many bits of a slot its subject carries (ShardSlots is
// 1 << slotBits).
const slotBits = 10

// Subject is the subject of an account's batches: the bits of its slot,
// lowest first, one token each, then its id. Shard i of 2^k is then the
// subjects that begin with the k lowest bits of i: one filter, which
// JetStream serves as fast as none (several filters are read far slower).
func Subject(account string) string {
	slot := convops.ShardSlot(account)
	b := make([]byte, 0, len(SubjectPrefix)+2*slotBits+len(account))
	b = append(b, SubjectPrefix...)
	for i := range slotBits {
		b = append(b, byte('0'+(slot>>i)&1), '.')
	}
	return string(append(b, account...))
}

// shardFilter is the subject filter of shard's messages; empty reads every
// subject.
func shardFilter(shard convops.Shard) string {
	if !shard.Sharded() {
		return ""
	}
	b := []byte(SubjectPrefix)
	for i := 0; 1<<i < shard.Count; i++ {
		b = append(b, byte('0'+(shard.Index>>i)&1), '.')
	}
	return string(append(b, '>'))
}
