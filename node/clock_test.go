package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
)

// TestClockGuard: a wall clock that jumps against the monotonic one, or that
// disagrees with the log's servers, refuses writes with a 503 naming the
// clock, until it agrees again.
func TestClockGuard(t *testing.T) {
	var offset, skew time.Duration
	wall := func() time.Time { return time.Now().Add(offset) }
	g := newClockGuard(wall, func(context.Context) (time.Duration, error) { return skew, nil })
	steps := []struct {
		offset, skew time.Duration
		refused      string // a word of the message, or "" for accepted
	}{
		{0, 0, ""},
		{30 * time.Second, 0, ""},          // within a minute: a time sync's usual step
		{26 * time.Hour, 0, "jumped"},      // a virtual machine resumed from a day's suspend
		{0, 0, ""},                         // back: trusted again
		{-3 * 24 * time.Hour, 0, "jumped"}, // a wrong clock set right while running
		{0, 26 * time.Hour, "NATS"},        // the log's servers are a day ahead of this node
		{0, -90 * time.Second, "NATS"},
		{0, 10 * time.Second, ""},
	}
	for i, s := range steps {
		offset, skew = s.offset, s.skew
		g.measure()
		if err := g.probe(context.Background()); err != nil {
			t.Fatal(err)
		}
		err := g.check()
		switch {
		case s.refused == "" && err != nil:
			t.Errorf("step %d: refused: %v", i, err)
		case s.refused != "" && (convops.ErrorCode(err) != convops.EUnavailable || !strings.Contains(err.Error(), s.refused)):
			t.Errorf("step %d: %v, want a 503 about %q", i, err, s.refused)
		}
	}
}
