package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/convops/convops"
)

// codecVersion is the first byte of every message. A node refuses messages of
// a version it does not know instead of folding them wrongly.
const codecVersion = 1

// Event flags.
const (
	flagResolvedByMask = 0x03 // the two low bits hold convops.ResolvedBy
	flagHasAgent       = 0x04
	flagConversationID = 0x08 // conversationId differs from eventId and follows it
)

// ErrCorrupt is returned for a message that cannot be decoded.
var ErrCorrupt = errors.New("corrupt event log message")

// batchHeaderSize bounds the encoded size of the fields before the events.
func batchHeaderSize(account string) int {
	return 1 + binary.MaxVarintLen64 + len(account) + 2*binary.MaxVarintLen64
}

// eventSize bounds the encoded size of one event.
func eventSize(e *convops.Event) int {
	n := 1 + 4*binary.MaxVarintLen64 + binary.MaxVarintLen64 + len(e.EventID)
	if e.ConversationID != e.EventID {
		n += binary.MaxVarintLen64 + len(e.ConversationID)
	}
	return n
}

// encodeBatch appends the binary form of b to buf:
//
//	version, account, now, count, then per event: flags, skill, [agent],
//	resolvedAt, handlingTimeMs, eventId, [conversationId]
//
// Integers are varints; strings are a uvarint length and their bytes.
func encodeBatch(buf []byte, b convops.Batch) []byte {
	buf = append(buf, codecVersion)
	buf = appendString(buf, b.Account)
	buf = binary.AppendVarint(buf, b.Now)
	buf = binary.AppendUvarint(buf, uint64(len(b.Events)))
	for i := range b.Events {
		e := &b.Events[i]
		flags := byte(e.ResolvedBy) & flagResolvedByMask
		if e.HasAgent {
			flags |= flagHasAgent
		}
		if e.ConversationID != e.EventID {
			flags |= flagConversationID
		}
		buf = append(buf, flags)
		buf = binary.AppendVarint(buf, e.SkillID)
		if e.HasAgent {
			buf = binary.AppendVarint(buf, e.AgentID)
		}
		buf = binary.AppendVarint(buf, e.ResolvedAt)
		buf = binary.AppendVarint(buf, e.HandlingTimeMs)
		buf = appendString(buf, e.EventID)
		if e.ConversationID != e.EventID {
			buf = appendString(buf, e.ConversationID)
		}
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeBatch reads a message written by encodeBatch.
func decodeBatch(data []byte) (convops.Batch, error) {
	var b convops.Batch
	d := decoder{data: data}
	if v := d.byte(); v != codecVersion {
		return b, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	b.Account = d.string()
	b.Now = d.varint()
	count := d.uvarint()
	// Every event takes at least 5 bytes; a larger count is corruption, and
	// checking it first keeps a bad count from allocating gigabytes.
	if d.err == nil && count > uint64(len(d.data)-d.pos)/5 {
		return b, fmt.Errorf("%w: %d events cannot fit in %d bytes", ErrCorrupt, count, len(d.data)-d.pos)
	}
	b.Events = make([]convops.Event, count)
	for i := range b.Events {
		e := &b.Events[i]
		flags := d.byte()
		e.ResolvedBy = convops.ResolvedBy(flags & flagResolvedByMask)
		if e.ResolvedBy > convops.BySystem {
			d.fail("resolver out of range")
		}
		e.SkillID = d.varint()
		if flags&flagHasAgent != 0 {
			e.HasAgent = true
			e.AgentID = d.varint()
		}
		e.ResolvedAt = d.varint()
		e.HandlingTimeMs = d.varint()
		e.EventID = d.string()
		e.ConversationID = e.EventID
		if flags&flagConversationID != 0 {
			e.ConversationID = d.string()
		}
	}
	if d.err == nil && d.pos != len(d.data) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return convops.Batch{}, d.err
	}
	return b, nil
}

// decoder reads from data and remembers the first error; reads after an error
// return zero values so that callers check once at the end.
type decoder struct {
	data []byte
	pos  int
	err  error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrCorrupt, what, d.pos)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || d.pos >= len(d.data) {
		d.fail("truncated")
		return 0
	}
	d.pos++
	return d.data[d.pos-1]
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data[d.pos:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.data)-d.pos) {
		d.fail("string past the end")
		return ""
	}
	s := string(d.data[d.pos : d.pos+int(n)])
	d.pos += int(n)
	return s
}
