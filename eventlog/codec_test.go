package eventlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/convops/convops"
)

func sampleBatch() convops.Batch {
	return convops.Batch{Account: "acme-1", Now: 1795786157000, Events: []convops.Event{
		{EventID: "e1", ConversationID: "e1", SkillID: -1, ResolvedBy: convops.ByCCP, ResolvedAt: 1795786100000, HandlingTimeMs: 0},
		{EventID: "e2", ConversationID: "conv-2", SkillID: 9223372036854775807, AgentID: -9223372036854775808, HasAgent: true,
			ResolvedBy: convops.BySystem, ResolvedAt: 1795786157001, HandlingTimeMs: convops.MaxHandlingTimeMs},
		{EventID: "ü", ConversationID: "ü", SkillID: 3, AgentID: 0, HasAgent: true, ResolvedBy: convops.ByConsumer, ResolvedAt: 1, HandlingTimeMs: 5},
	}}
}

func TestCodecRoundTrip(t *testing.T) {
	b := sampleBatch()
	for _, p := range []Part{{Count: 1}, {Request: 1<<64 - 1, Index: 2, Count: 3}} {
		data := encodeBatch(nil, b, p)
		got, gotPart, err := decodeBatch(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(b) || gotPart != p {
			t.Errorf("got  %+v %+v\nwant %+v %+v", got, gotPart, b, p)
		}
		bound := batchHeaderSize(b.Account)
		for i := range b.Events {
			bound += eventSize(&b.Events[i])
		}
		if len(data) > bound {
			t.Errorf("encoded %d bytes, more than the bound %d used to split messages", len(data), bound)
		}
	}
	if v := encodeBatch(nil, b, Part{Count: 1})[0]; v != codecVersion {
		t.Errorf("a whole request is written as version %d, want %d so that every node reads it", v, codecVersion)
	}
}

// TestCodecRejectsDamage checks that every truncation and a changed version
// byte are reported as corruption, never decoded into other numbers.
func TestCodecRejectsDamage(t *testing.T) {
	for _, p := range []Part{{Count: 1}, {Request: 7, Index: 1, Count: 2}} {
		data := encodeBatch(nil, sampleBatch(), p)
		for n := range len(data) {
			if _, _, err := decodeBatch(data[:n], nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("truncated to %d bytes: %v", n, err)
			}
		}
		bad := append([]byte{}, data...)
		bad[0] = 99
		if _, _, err := decodeBatch(bad, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("unknown version: %v", err)
		}
		if _, _, err := decodeBatch(append(append([]byte{}, data...), 0), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("trailing byte: %v", err)
		}
	}
	// A clock before 1970 or past the year 9999, and flags no version
	// writes, are corruption.
	for _, clock := range []int64{-1, convops.MaxTimeMs + 1} {
		b := sampleBatch()
		b.Now = clock
		if _, _, err := decodeBatch(encodeBatch(nil, b, Part{Count: 1}), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("clock %d: %v", clock, err)
		}
	}
	flagged := encodeBatch(nil, convops.Batch{Account: "a", Now: 1, Events: sampleBatch().Events[:1]}, Part{Count: 1})
	flagged[1+1+1+1+1] |= 0x80 // version, account length, "a", now, count: then the first event's flags
	if _, _, err := decodeBatch(flagged, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "unknown flags") {
		t.Errorf("unknown flag bits: %v", err)
	}
	// A part past the end of its request is corruption.
	if _, _, err := decodeBatch(encodeBatch(nil, sampleBatch(), Part{Request: 7, Index: 2, Count: 2}), nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("part 2 of 2: %v", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(nil, sampleBatch(), Part{Count: 1}))
	f.Add(encodeBatch(nil, sampleBatch(), Part{Request: 3, Index: 1, Count: 4}))
	f.Add([]byte{codecVersion, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, p, err := decodeBatch(data, nil)
		if err != nil {
			return
		}
		// Whatever decodes must survive a round trip unchanged.
		again, againPart, err := decodeBatch(encodeBatch(nil, b, p), nil)
		if err != nil || fmt.Sprint(again) != fmt.Sprint(b) || againPart != p {
			t.Errorf("decoded %+v %+v does not round-trip: %+v %+v, %v", b, p, again, againPart, err)
		}
	})
}

// TestDecodeIntoBuffer: events are decoded into the buffer given, and their
// ids read the message's bytes; the account is a string of its own, as the
// store keeps it.
func TestDecodeIntoBuffer(t *testing.T) {
	data := encodeBatch(nil, sampleBatch(), Part{Count: 1})
	buf := make([]convops.Event, 0, 10)
	b, _, err := decodeBatch(data, buf)
	if err != nil {
		t.Fatal(err)
	}
	if &b.Events[0] != &buf[:1][0] {
		t.Error("the buffer was not used")
	}
	if fmt.Sprint(b) != fmt.Sprint(sampleBatch()) {
		t.Errorf("got %+v", b)
	}
	for i := range data {
		data[i] = 0
	}
	if b.Account != sampleBatch().Account {
		t.Errorf("the account changed with the message's bytes: %q", b.Account)
	}
	if b.Events[0].EventID == sampleBatch().Events[0].EventID {
		t.Error("the ids are copies: a replay would allocate one per event")
	}
}

// TestDecodeIntoUsedBuffer: decoding into a buffer that holds the events of
// another message leaves nothing of them behind.
func TestDecodeIntoUsedBuffer(t *testing.T) {
	withAgents := sampleBatch()
	withAgents.Events[0].AgentID, withAgents.Events[0].HasAgent = 77, true
	without := sampleBatch()
	for i := range without.Events {
		without.Events[i].AgentID, without.Events[i].HasAgent = 0, false
	}
	first, _, err := decodeBatch(encodeBatch(nil, withAgents, Part{Count: 1}), nil)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := decodeBatch(encodeBatch(nil, without, Part{Count: 1}), first.Events)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(second) != fmt.Sprint(without) {
		t.Errorf("got  %+v\nwant %+v", second, without)
	}
}
