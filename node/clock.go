package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/convops/convops"
)

// MaxClockDrift is how far the node's clock may move away from what it
// should read before the node refuses writes: a wall clock that jumps
// against the monotonic one (a virtual machine resumed from suspend, a time
// sync that corrected a wrong clock), or that disagrees with the clock of
// the event log's servers.
const MaxClockDrift = time.Minute

// clockGuard watches the node's wall clock, which stamps what it writes, and
// refuses writes while it cannot be trusted. It cannot see a clock that was
// already wrong when the node started and has stayed so, with the embedded
// log (whose only clock is the same one): the fold's rule that its clock
// never runs ahead of the log's times bounds what such a clock can do.
//
// Locking: mu guards the fields below it; check is called by every ingest,
// watch by one goroutine.
type clockGuard struct {
	wall func() time.Time     // the wall clock
	mono func() time.Duration // time since start by the monotonic clock
	// logOffset, when set, reads how far the log's clock is ahead of this
	// node's (external servers; nil when the log runs in this process).
	logOffset func(ctx context.Context) (time.Duration, error)
	start     time.Time // the wall clock at start

	mu      sync.Mutex
	jump    time.Duration // wall clock's drift from the monotonic one since start
	logSkew time.Duration // the log's clock minus the node's, at the last probe
}

func newClockGuard(wall func() time.Time, logOffset func(context.Context) (time.Duration, error)) *clockGuard {
	g := &clockGuard{wall: wall, logOffset: logOffset}
	start := time.Now() // holds a monotonic reading
	g.mono = func() time.Duration { return time.Since(start) }
	g.start = wall().Round(0) // the wall reading only
	return g
}

// measure reads the drift of the wall clock against the monotonic clock.
func (g *clockGuard) measure() {
	jump := g.wall().Round(0).Sub(g.start) - g.mono()
	g.mu.Lock()
	g.jump = jump
	g.mu.Unlock()
}

// probe asks the log's servers for their clock.
func (g *clockGuard) probe(ctx context.Context) error {
	if g.logOffset == nil {
		return nil
	}
	skew, err := g.logOffset(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.logSkew = skew
	g.mu.Unlock()
	return nil
}

// check returns the 503 to give to a write while the clock cannot be trusted.
func (g *clockGuard) check() error {
	g.mu.Lock()
	jump, skew := g.jump, g.logSkew
	g.mu.Unlock()
	switch {
	case jump > MaxClockDrift || jump < -MaxClockDrift:
		return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseClock, Message: fmt.Sprintf(
			"this server's clock jumped by %s while it ran (against its monotonic clock): writes are refused until the clock is back, "+
				"or the server is restarted with a correct clock; queries still work", jump.Round(time.Second))}
	case skew > MaxClockDrift || skew < -MaxClockDrift:
		return &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseClock, Message: fmt.Sprintf(
			"this server's clock is %s off the clock of the event log's NATS servers: writes are refused until the clocks agree "+
				"within %s; queries still work", (-skew).Round(time.Second), MaxClockDrift)}
	}
	return nil
}

// watch measures the wall clock every second and probes the log's clock
// every probeEvery, until ctx is done.
func (g *clockGuard) watch(ctx context.Context, probeEvery time.Duration, logf func(msg string, args ...any)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastProbe time.Time
	wasBad := false
	for {
		g.measure()
		if g.logOffset != nil && time.Since(lastProbe) >= probeEvery {
			lastProbe = time.Now()
			if err := g.probe(ctx); err != nil && ctx.Err() == nil {
				logf("cannot read the clock of the event log's servers", "err", err)
			}
		}
		if err := g.check(); (err != nil) != wasBad {
			wasBad = err != nil
			if wasBad {
				logf("refusing writes: "+err.Error(), "clock", g.wall().UTC().Format(time.RFC3339))
			} else {
				logf("the clock is trusted again: writes are accepted")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
