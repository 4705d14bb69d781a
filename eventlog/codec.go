package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/convops/convops"
)

// The first byte of every message is its version. A node refuses messages
// of a version it does not know instead of folding them wrongly.
//
// Version 1 is a whole request in one message. Version 2 is one part of a
// request too large for one message: it adds the request's id and the
// part's place, so that the fold applies the parts together, all or
// nothing. A request that fits in one message is still written as version 1,
// which every node reads.
const (
	codecVersion      = 1
	codecVersionParts = 2
)

// Part says which part of a request a message holds. A request of one
// message is part 0 of 1 of request 0.
type Part struct {
	Request uint64 // the request's id, chosen by the node that logged it
	Index   int    // 0 … Count−1
	Count   int
}

// Event flags.
const (
	flagResolvedByMask = 0x03 // the two low bits hold convops.ResolvedBy
	flagHasAgent       = 0x04
	flagConversationID = 0x08 // conversationId differs from eventId and follows it
	flagsKnown         = flagResolvedByMask | flagHasAgent | flagConversationID
)

// ErrCorrupt is returned for a message that cannot be decoded.
var ErrCorrupt = errors.New("corrupt event log message")

// batchHeaderSize bounds the encoded size of the fields before the events.
func batchHeaderSize(account string) int {
	return 1 + binary.MaxVarintLen64 + len(account) + 5*binary.MaxVarintLen64
}

// eventSize bounds the encoded size of one event.
func eventSize(e *convops.Event) int {
	n := 1 + 4*binary.MaxVarintLen64 + binary.MaxVarintLen64 + len(e.EventID)
	if e.ConversationID != e.EventID {
		n += binary.MaxVarintLen64 + len(e.ConversationID)
	}
	return n
}

// encodeBatch appends the binary form of b, part p of its request, to buf:
//
//	version, account, now, [request, part, parts], count, then per event:
//	flags, skill, [agent], resolvedAt, handlingTimeMs, eventId, [conversationId]
//
// Integers are varints; strings are a uvarint length and their bytes. The
// fields in brackets are there only when the flags or the version say so.
func encodeBatch(buf []byte, b convops.Batch, p Part) []byte {
	if p.Count > 1 {
		buf = append(buf, codecVersionParts)
	} else {
		buf = append(buf, codecVersion)
	}
	buf = appendString(buf, b.Account)
	buf = binary.AppendVarint(buf, b.Now)
	if p.Count > 1 {
		buf = binary.AppendUvarint(buf, p.Request)
		buf = binary.AppendUvarint(buf, uint64(p.Index))
		buf = binary.AppendUvarint(buf, uint64(p.Count))
	}
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

// decodeBatch reads a message written by encodeBatch. Its events are
// written into buf when it is large enough, and their ids are not copied:
// they read the bytes of data, which must not change while they are used.
// A replay then allocates nothing per event.
func decodeBatch(data []byte, buf []convops.Event) (convops.Batch, Part, error) {
	var b convops.Batch
	p := Part{Count: 1}
	d := decoder{data: data}
	v := d.byte()
	if v != codecVersion && v != codecVersionParts {
		return b, p, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	b.Account = strings.Clone(d.string()) // kept by the store: not the message's bytes
	b.Now = d.varint()
	if d.err == nil && (b.Now < 0 || b.Now > convops.MaxTimeMs) {
		d.fail("clock out of range")
	}
	if v == codecVersionParts {
		p.Request = d.uvarint()
		index, count := d.uvarint(), d.uvarint()
		// A request has at most MaxBatchEvents events, so at most that many
		// parts; more is corruption.
		if d.err == nil && (count < 2 || count > convops.MaxBatchEvents || index >= count) {
			d.fail("part out of range")
		}
		p.Index, p.Count = int(index), int(count)
	}
	count := d.uvarint()
	// Every event takes at least 5 bytes; a larger count is corruption, and
	// checking it first keeps a bad count from allocating gigabytes.
	if d.err == nil && count > uint64(len(d.data)-d.pos)/5 {
		return b, p, fmt.Errorf("%w: %d events cannot fit in %d bytes", ErrCorrupt, count, len(d.data)-d.pos)
	}
	if uint64(cap(buf)) >= count {
		b.Events = buf[:count]
	} else {
		b.Events = make([]convops.Event, count)
	}
	for i := range b.Events {
		e := &b.Events[i]
		*e = convops.Event{} // the buffer holds the events of the last message
		flags := d.byte()
		if flags&^flagsKnown != 0 {
			d.fail("unknown flags")
		}
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
		return convops.Batch{}, Part{}, d.err
	}
	return b, p, nil
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
	s := unsafe.String(unsafe.SliceData(d.data[d.pos:]), int(n))
	d.pos += int(n)
	return s
}
