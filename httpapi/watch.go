package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/answerjson"
)

// watchHub shares the work of metric streams. The streams of one account
// with the same parameters share one watch, which recomputes the answer at
// most once a second, and only when the account's data changed or the
// window moved, and hands the same bytes to each of them.
//
// What the watches keep (each its answer and the one before it) is held of
// the request-memory budget, in its account's share, for as long as it is
// kept, and is at most half of the budget in all: a watch whose answer
// grows past what it may hold ends its streams with an error event rather
// than hold more.
//
// Locking: mu guards every field below it, and the subs, last and ended of
// every watch.
type watchHub struct {
	s        *Server
	computed atomic.Uint64 // answers computed, over all watches
	// elsewhere lets one watch at a time ask a node of another shard for
	// its answer.
	elsewhere chan struct{}

	mu         sync.Mutex
	watches    map[string]*watch
	perAccount map[string]int // streams open, by account
	streams    int
	// retained is what the watches' answers hold (see retainedSize), at
	// most half of --max-inflight-bytes; retainedBy what those of each
	// account hold.
	retained   int64
	retainedBy map[string]int64
	closed     bool
	done       chan struct{} // closed by close: every stream ends

	running sync.WaitGroup // the watches' goroutines
}

// watch is the shared computation of the streams of one query.
type watch struct {
	key    string
	q      convops.Query
	params map[string]string // as given, for a node of another shard
	stop   chan struct{}     // closed when its last stream leaves

	subs map[*watcher]struct{}
	last []byte // the answer last computed, framed as an event
	// ended is closed when the watch can no longer be kept (its answer
	// outgrew what the streams may hold); final is then the error event
	// its streams send before they close.
	ended chan struct{}
	final []byte

	// Fields of the watch's goroutine: what the last answer was computed
	// from.
	version uint64
	span    convops.Span
}

// watcher is one stream's mailbox: it holds the newest answer not yet sent,
// so a stream that falls behind skips to the newest.
type watcher struct {
	w    *watch
	next chan []byte
}

// offerLocked replaces what the mailbox holds with b. Hub lock should be held.
func (wr *watcher) offerLocked(b []byte) {
	select {
	case <-wr.next:
	default:
	}
	wr.next <- b
}

func newWatchHub(s *Server) *watchHub {
	return &watchHub{s: s, elsewhere: make(chan struct{}, 1), watches: make(map[string]*watch), perAccount: make(map[string]int),
		retainedBy: make(map[string]int64), done: make(chan struct{})}
}

// watchKey names the answer of q, whatever the order its ids were given
// in; its percentiles and thresholds as given, since their order and
// spelling are the answer's keys.
func watchKey(q convops.Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%d\x00%d", q.Account, q.Timeframe, q.Interval)
	for _, f := range []convops.IDFilter{q.Skills, q.Agents} {
		switch {
		case !f.Given:
			b.WriteString("\x00-")
		case f.All:
			b.WriteString("\x00all")
		default:
			b.WriteByte(0)
			for i, id := range f.IDs {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatInt(id, 10))
			}
		}
	}
	b.WriteString("\x00")
	for _, p := range q.Percentiles {
		b.WriteString(p.Text + ",")
	}
	b.WriteString("\x00")
	for _, t := range q.Thresholds {
		b.WriteString(strconv.FormatInt(t, 10) + ",")
	}
	return b.String()
}

// errStopping is the answer to a stream asked for while the server stops.
var errStopping = &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseStopping,
	Message: "the server is stopping; connect again in a moment"}

// subscribe opens a stream of q's answer; its mailbox holds the current
// answer at once.
func (h *watchHub) subscribe(q convops.Query, params map[string]string) (*watcher, error) {
	key := watchKey(q)
	h.mu.Lock()
	if err := h.reserveLocked(q.Account); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	if wt := h.watches[key]; wt != nil {
		defer h.mu.Unlock()
		return wt.joinLocked(), nil
	}
	h.mu.Unlock()

	// The first answer is computed by the stream that asks for it, outside
	// the lock, so that its errors are the stream's; it takes one of the
	// account's read slots meanwhile, as a query would, so that a wall of
	// screens opening at once cannot compute more at once than that.
	now := h.s.nowMs()
	version, err := h.version(q.Account)
	var b []byte
	if err == nil {
		b, err = h.computeInSlot(q, params, now, h.room(nil))
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil && h.closed {
		err = errStopping // the server began to stop meanwhile
	}
	if err != nil {
		h.unreserveLocked(q.Account)
		return nil, err
	}
	wt := h.watches[key]
	if wt == nil {
		if err := h.keepLocked(q, 0, retainedSize(b)); err != nil {
			h.unreserveLocked(q.Account)
			return nil, err
		}
		wt = &watch{key: key, q: q, params: params, stop: make(chan struct{}), subs: make(map[*watcher]struct{}), last: b,
			ended: make(chan struct{}), version: version, span: convops.Layout(now, q.Timeframe, 0).Whole}
		h.watches[key] = wt
		h.running.Go(func() { h.run(wt) })
	}
	return wt.joinLocked(), nil
}

// noRoomForStream refuses a stream's answer of size bytes that the
// streams' share of memory cannot keep beside the others' answers.
func noRoomForStream(q convops.Query, size int64) error {
	return &convops.Error{Code: convops.ETooMany, Cause: convops.CauseStreams, Parameter: widest(q), Message: fmt.Sprintf(
		"the metric streams open hold as much memory as they may (half of --max-inflight-bytes; an account's streams and requests at most half of that); "+
			"this one's answer takes about %s: ask for fewer skills, agents or intervals, or retry later", sizeText(size))}
}

// outgrown says whether err, the answer of a watch that exists, means its
// answer can no longer be kept: too large for the streams at all, or for
// the room the others leave.
func outgrown(err error) bool {
	var e *convops.Error
	return errors.As(err, &e) && (e.Code == convops.EInvalid || e.Code == convops.ETooMany && e.Cause == convops.CauseStreams)
}

// keepLocked changes what a watch of q keeps from old bytes to new (see
// retainedSize), holding the difference of the budget, in the account's
// share. When there is no room for it, nothing changes, and the error says
// whether the streams could never keep it beside the others (their half of
// the budget, or the account's streams its share: noRoomForStream), or
// the budget has no room for now (errBudget: requests in flight hold it).
// Hub lock should be held.
func (h *watchHub) keepLocked(q convops.Query, old, new int64) error {
	account, grow := q.Account, new-old
	if grow > 0 {
		half := h.s.opts.MaxInflightBytes / 2
		if h.retained+grow > half || h.retainedBy[account]+grow > half {
			return noRoomForStream(q, new/2)
		}
		if !h.s.budget.acquireFor(account, grow) {
			return errBudget
		}
	} else {
		h.s.budget.releaseFor(account, -grow)
	}
	h.retained += grow
	if h.retainedBy[account] += grow; h.retainedBy[account] <= 0 {
		delete(h.retainedBy, account)
	}
	return nil
}

// room is the largest answer (as JSON) that wt (nil for a watch not yet
// made) could keep instead of its own: what the streams' half of the
// budget leaves, halved (retainedSize). A node of another shard refuses a
// larger one.
func (h *watchHub) room(wt *watch) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var kept int64
	if wt != nil {
		kept = retainedSize(wt.last)
	}
	return max((h.s.opts.MaxInflightBytes/2-h.retained+kept)/2, 1)
}

// version is the account's version, asked of a node of its shard when this
// node does not hold it.
func (h *watchHub) version(account string) (uint64, error) {
	if h.s.opts.Shard.Holds(account) {
		return h.s.opts.Backend.Version(account), nil
	}
	return h.s.versionElsewhere(account)
}

// computeInSlot is compute in one of the account's read slots, as a query
// would take: a wall of screens opening at once, or many watches of one
// account recomputing at once, compute no more at once than that. A watch
// of another shard's account first waits its turn to ask that shard (at
// most ForwardTimeout), so that no slot is held while it waits.
func (h *watchHub) computeInSlot(q convops.Query, params map[string]string, now, room int64) ([]byte, error) {
	if !h.s.opts.Shard.Holds(q.Account) {
		select {
		case h.elsewhere <- struct{}{}:
			defer func() { <-h.elsewhere }()
		case <-time.After(h.s.opts.ForwardTimeout):
			return nil, &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseShard,
				Message: "the metric streams of other shards' accounts wait their turn to ask those shards; retry in a moment"}
		}
	}
	release, err := h.s.takeSlot(convops.ScopeRead, q.Account)
	if err != nil {
		return nil, err
	}
	defer release()
	return h.compute(q, params, now, room)
}

// joinLocked adds a stream to the watch. Hub lock should be held.
func (wt *watch) joinLocked() *watcher {
	wr := &watcher{w: wt, next: make(chan []byte, 1)}
	wt.subs[wr] = struct{}{}
	wr.next <- wt.last
	return wr
}

// reserveLocked counts a stream of account, or says why it cannot be opened. Hub
// lock should be held.
func (h *watchHub) reserveLocked(account string) error {
	switch {
	case h.closed:
		return errStopping
	case h.streams >= h.s.opts.MaxStreams:
		return &convops.Error{Code: convops.ETooMany, Cause: convops.CauseStreams, Message: fmt.Sprintf(
			"the server has as many metric streams open as it allows (%d); retry later", h.s.opts.MaxStreams)}
	case h.perAccount[account] >= h.s.opts.MaxStreamsPerAccount:
		return &convops.Error{Code: convops.ETooMany, Cause: convops.CauseStreams, Message: fmt.Sprintf(
			"account %s has as many metric streams open as it may (%d); close one, or retry later", account, h.s.opts.MaxStreamsPerAccount)}
	}
	h.streams++
	h.perAccount[account]++
	return nil
}

// unreserveLocked undoes reserve. Hub lock should be held.
func (h *watchHub) unreserveLocked(account string) {
	h.streams--
	if h.perAccount[account]--; h.perAccount[account] <= 0 {
		delete(h.perAccount, account)
	}
}

// leave closes a stream; the watch stops with its last stream.
func (h *watchHub) leave(wr *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wt := wr.w
	delete(wt.subs, wr)
	h.unreserveLocked(wt.q.Account)
	if len(wt.subs) == 0 {
		h.dropLocked(wt)
		close(wt.stop)
	}
}

// dropLocked gives back what a watch keeps and forgets it, once. Hub lock
// should be held.
func (h *watchHub) dropLocked(wt *watch) {
	if h.watches[wt.key] != wt {
		return // dropped already
	}
	h.keepLocked(wt.q, retainedSize(wt.last), 0)
	wt.last = nil
	delete(h.watches, wt.key)
}

// endLocked ends a watch whose answer can no longer be kept: its streams
// send err as an error event and close. Hub lock should be held.
func (h *watchHub) endLocked(wt *watch, err error) {
	h.dropLocked(wt)
	wt.final = sseEvent("error", errorJSON(err))
	close(wt.ended)
}

// close ends every stream (the server is stopping) and refuses new ones.
func (h *watchHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// retainedSize is what a watch's answer of b costs while the watch holds
// it: the answer, and the one before it, which slow streams may still be
// writing.
func retainedSize(b []byte) int64 { return 2 * int64(len(b)) }

// compute builds q's answer at now, within the request-memory budget,
// framed as a metrics event: framed once, sent to every stream. An answer
// larger than room is refused before it is built.
func (h *watchHub) compute(q convops.Query, params map[string]string, now, room int64) ([]byte, error) {
	if !h.s.opts.Shard.Holds(q.Account) {
		return h.computeElsewhere(q, params, room)
	}
	// The answer is built whole, and kept with the one before it
	// (retainedSize): one that the streams' share of memory could never
	// keep is refused before it is built.
	size := h.s.wholeAnswerSize(q, now)
	if limit := h.s.opts.MaxInflightBytes / 2; 2*size > limit {
		return nil, answerTooLarge(q, size, fmt.Sprintf("metric streams keep at most %s of answers (half of --max-inflight-bytes)", sizeText(limit)))
	}
	if size > room {
		return nil, noRoomForStream(q, size)
	}
	if !h.s.budget.acquire(size) {
		return nil, errBudget
	}
	defer h.s.budget.release(size)
	res, err := h.s.opts.Backend.Query(q, now)
	if err != nil {
		return nil, err
	}
	h.computed.Add(1)
	return sseEvent("metrics", answerjson.Append(nil, &q, &res)), nil
}

// run looks for a change every pollEvery until the watch stops (every
// second for an account of another shard, whose version is asked of a node
// of that shard), computes the answer when the account's data or the
// window has moved (at most once a second), and hands a changed answer to
// every stream of the watch. An answer that can no longer be kept ends the
// watch.
func (h *watchHub) run(wt *watch) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	computed := time.Now()
	for {
		select {
		case <-wt.stop:
			return
		case <-h.done:
			return
		case <-tick.C:
		}
		if time.Since(computed) < streamEvery {
			continue
		}
		now := h.s.nowMs()
		span := convops.Layout(now, wt.q.Timeframe, 0).Whole
		version, err := h.version(wt.q.Account)
		if !h.s.opts.Shard.Holds(wt.q.Account) {
			computed = time.Now() // a node of another shard is asked once a second at most
		}
		if err != nil || version == wt.version && span == wt.span {
			continue
		}
		b, err := h.computeInSlot(wt.q, wt.params, now, h.room(wt))
		computed = time.Now()
		if outgrown(err) {
			h.mu.Lock()
			h.endLocked(wt, err)
			h.mu.Unlock()
			return
		}
		if err != nil {
			continue // no slot or no room for now, or no node of the shard: the next second tries again
		}
		wt.version, wt.span = version, span
		h.mu.Lock()
		if h.watches[wt.key] != wt {
			h.mu.Unlock()
			return // its last stream has left
		}
		if bytes.Equal(b, wt.last) {
			h.mu.Unlock()
			continue
		}
		if err := h.keepLocked(wt.q, retainedSize(wt.last), retainedSize(b)); outgrown(err) {
			h.endLocked(wt, err)
			h.mu.Unlock()
			return
		} else if err != nil {
			// Requests hold the budget for now: the streams keep their
			// answer, and the next second tries again.
			wt.version, wt.span = 0, convops.Span{}
			h.mu.Unlock()
			continue
		}
		wt.last = b
		for wr := range wt.subs {
			wr.offerLocked(b)
		}
		h.mu.Unlock()
	}
}
