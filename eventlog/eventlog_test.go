package eventlog

import (
	"context"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/internal/testkit"
)

// TestStreamRetention checks that the stream drops messages older than MaxAge
// (here one second; in production the 24-hour window plus a margin).
func TestStreamRetention(t *testing.T) {
	ctx := context.Background()
	l, err := Open(ctx, Options{DataDir: t.TempDir(), MaxAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Publish(ctx, l.Encode(sampleBatch())); err != nil {
		t.Fatal(err)
	}
	// The message may be gone already on a slow machine; its sequence not.
	if st, _ := l.State(ctx); st.LastSeq != 1 {
		t.Fatalf("last sequence %d after publishing one message", st.LastSeq)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		st, err := l.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Msgs == 0 && st.LastSeq == 1
	})
}

// TestEncodeSplitsUnderPayloadLimit: a batch larger than one message is cut
// into messages that each fit the server's limit and together hold every event.
func TestEncodeSplitsUnderPayloadLimit(t *testing.T) {
	l, err := Open(context.Background(), Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := convops.Batch{Account: "a", Now: 1795786157000}
	for i := range 30000 {
		b.Events = append(b.Events, convops.Event{EventID: string(rune('a'+i%26)) + "-a-fairly-long-event-identifier-" + time.Duration(i).String(), SkillID: int64(i)})
	}
	msgs := l.Encode(b)
	if len(msgs) < 2 {
		t.Fatalf("%d message(s) for a batch of about 1.5 MB", len(msgs))
	}
	n := 0
	var request uint64
	for i, m := range msgs {
		if len(m.Data) > int(l.nc.MaxPayload())-1024 {
			t.Errorf("message of %d bytes over the limit", len(m.Data))
		}
		part, p, err := decodeBatch(m.Data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			request = p.Request
		}
		if p.Index != i || p.Count != len(msgs) || p.Request != request || request == 0 {
			t.Errorf("message %d of %d says it is %+v", i, len(msgs), p)
		}
		n += len(part.Events)
	}
	if n != len(b.Events) {
		t.Errorf("%d events in the messages, want %d", n, len(b.Events))
	}
}
