// Package connlimit bounds the connections a server holds open: in all, and
// from one client address, and closes the idle ones that never carried an
// authenticated request sooner than the others.
//
// Every open connection holds a file descriptor. Without a bound, clients
// that open connections and leave them idle (20,000 of them after one
// /healthz each were seen to reach the process's limit) leave the server
// unable to accept, and its event log unable to open a file. With one, a
// connection past a bound (in all, or of its address) closes the oldest
// stranger within that bound to make room — a connection that has carried
// no authenticated request and is idle, or has not sent a request yet —
// and only when there is none is the new one refused.
package connlimit

import (
	"container/list"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Listener.
type Options struct {
	// Max bounds the connections open at once; PerAddress those of one
	// client address. Zero bounds nothing.
	Max, PerAddress int
	// UnauthenticatedIdle is how long a connection that has carried no
	// authenticated request may stay idle (DefaultUnauthenticatedIdle when
	// zero); the server's own idle timeout applies to the others.
	UnauthenticatedIdle time.Duration
	// Refusal, when set, is written to a connection refused before it is
	// closed: an HTTP answer, for a listener that serves plain HTTP.
	Refusal []byte
}

// DefaultUnauthenticatedIdle is the default of Options.UnauthenticatedIdle.
const DefaultUnauthenticatedIdle = 10 * time.Second

// Listener is a net.Listener that applies the bounds. Its ConnState and
// ConnContext go in the http.Server that serves it; MarkAuthenticated, in
// the handler, tells it which connections carried an authenticated request.
type Listener struct {
	net.Listener
	opts Options

	mu     sync.Mutex // guards the fields below and every conn's fields
	open   int
	byAddr map[string]*address
	// strangers lists the connections that have carried no authenticated
	// request and are idle or have sent nothing yet, oldest first: the
	// first to close when the server is full.
	strangers *list.List

	refusedTotal, refusedAddress, evicted, idleClosed atomic.Uint64
}

// New returns ln with the bounds of opts.
func New(ln net.Listener, opts Options) *Listener {
	if opts.UnauthenticatedIdle <= 0 {
		opts.UnauthenticatedIdle = DefaultUnauthenticatedIdle
	}
	return &Listener{Listener: ln, opts: opts, byAddr: make(map[string]*address), strangers: list.New()}
}

// address is what the listener holds of one client address. Guarded by
// the listener's mu.
type address struct {
	open      int
	strangers *list.List // its connections in Listener.strangers, oldest first
}

// conn is an accepted connection.
type conn struct {
	net.Conn
	l    *Listener
	addr string
	once sync.Once

	// Guarded by the listener's mu.
	authenticated bool
	// While the connection is a stranger, its places in the listener's
	// list and its address's.
	stranger, strangerOfAddress *list.Element
	timer                       *time.Timer // closes it when it has been idle too long
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.closed(c) })
	return err
}

// Accept waits for the next connection within the bounds; those past them
// are refused (written Options.Refusal, and closed) and not returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := addressOf(nc.RemoteAddr())
		c, evict, ok := l.admit(nc, addr)
		for _, e := range evict {
			l.evicted.Add(1)
			e.Close()
		}
		if ok {
			return c, nil
		}
		l.refuse(nc)
	}
}

// admit counts a new connection from addr, or says why not; evict are
// strangers to close to make room.
func (l *Listener) admit(nc net.Conn, addr string) (c *conn, evict []*conn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[addr]
	if a == nil {
		a = &address{strangers: list.New()}
		l.byAddr[addr] = a
	}
	// The oldest stranger within a bound makes room; it is counted out
	// when it closes, so it is taken off the lists now, and the new one
	// counted beside it until then.
	if l.opts.PerAddress > 0 && a.open >= l.opts.PerAddress {
		c := l.oldestLocked(a.strangers)
		if c == nil {
			l.refusedAddress.Add(1)
			l.dropAddressLocked(addr, a)
			return nil, nil, false
		}
		evict = append(evict, c)
	}
	if l.opts.Max > 0 && l.open-len(evict) >= l.opts.Max {
		c := l.oldestLocked(l.strangers)
		if c == nil {
			l.refusedTotal.Add(1)
			l.dropAddressLocked(addr, a)
			return nil, evict, false
		}
		evict = append(evict, c)
	}
	l.open++
	a.open++
	c = &conn{Conn: nc, l: l, addr: addr}
	// It has sent nothing yet: a stranger until its first request.
	l.listStrangerLocked(c)
	return c, evict, true
}

// oldestLocked takes the oldest connection of strangers off the lists of
// strangers, to be closed; nil when there is none. Lock should be held.
func (l *Listener) oldestLocked(strangers *list.List) *conn {
	front := strangers.Front()
	if front == nil {
		return nil
	}
	c := front.Value.(*conn)
	l.forgetStrangerLocked(c)
	return c
}

// dropAddressLocked forgets an address without connections. Lock should
// be held.
func (l *Listener) dropAddressLocked(addr string, a *address) {
	if a.open <= 0 {
		delete(l.byAddr, addr)
	}
}

func (l *Listener) refuse(nc net.Conn) {
	if len(l.opts.Refusal) > 0 {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(l.opts.Refusal)
	}
	nc.Close()
}

// closed counts a connection out.
func (l *Listener) closed(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetStrangerLocked(c)
	l.open--
	if a := l.byAddr[c.addr]; a != nil {
		a.open--
		l.dropAddressLocked(c.addr, a)
	}
}

// listStrangerLocked lists c as a stranger, the newest. Lock should be
// held.
func (l *Listener) listStrangerLocked(c *conn) {
	if c.stranger != nil || c.authenticated {
		return
	}
	c.stranger = l.strangers.PushBack(c)
	c.strangerOfAddress = l.byAddr[c.addr].strangers.PushBack(c)
}

// forgetStrangerLocked takes c off the lists of strangers and stops its
// idle timer. Lock should be held.
func (l *Listener) forgetStrangerLocked(c *conn) {
	if c.stranger != nil {
		l.strangers.Remove(c.stranger)
		if a := l.byAddr[c.addr]; a != nil {
			a.strangers.Remove(c.strangerOfAddress)
		}
		c.stranger, c.strangerOfAddress = nil, nil
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// ConnState follows each connection's state (http.Server.ConnState): an
// idle connection that never authenticated is listed for eviction again,
// and closed after UnauthenticatedIdle; one serving a request is not.
// (A new one, listed when accepted, is closed by the server's header
// timeout if it sends nothing.)
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c := l.connOf(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateIdle:
		if c.authenticated || c.stranger != nil {
			return
		}
		l.listStrangerLocked(c)
		c.timer = time.AfterFunc(l.opts.UnauthenticatedIdle, func() {
			l.mu.Lock()
			still := c.stranger != nil // not taken by a request meanwhile
			l.mu.Unlock()
			if still {
				l.idleClosed.Add(1)
				c.Close()
			}
		})
	case http.StateActive, http.StateHijacked, http.StateClosed:
		l.forgetStrangerLocked(c)
	}
}

// connOf is the connection of the listener that nc is, or wraps (TLS).
func (l *Listener) connOf(nc net.Conn) *conn {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if c, ok := nc.(*conn); ok && c.l == l {
		return c
	}
	return nil
}

type connKey struct{}

// ConnContext puts the connection in the context of its requests
// (http.Server.ConnContext), for MarkAuthenticated.
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c := l.connOf(nc); c != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// MarkAuthenticated says the connection of a request whose context is ctx
// carried an authenticated request: it is held as long as the server's own
// idle timeout allows, and never evicted. Without a Listener's connection in
// ctx, it does nothing.
func MarkAuthenticated(ctx context.Context) {
	c, ok := ctx.Value(connKey{}).(*conn)
	if !ok {
		return
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	c.authenticated = true
	c.l.forgetStrangerLocked(c)
}

// Stats counts the connections.
type Stats struct {
	Open      int // open now
	Strangers int // of which strangers: idle, or new, and never authenticated
	// RefusedTotal and RefusedAddress count connections refused past the
	// bound in all and from one address; Evicted the idle ones closed to
	// make room; IdleClosed those closed after UnauthenticatedIdle.
	RefusedTotal, RefusedAddress, Evicted, IdleClosed uint64
}

// Stats returns the counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	open, strangers := l.open, l.strangers.Len()
	l.mu.Unlock()
	return Stats{Open: open, Strangers: strangers, RefusedTotal: l.refusedTotal.Load(), RefusedAddress: l.refusedAddress.Load(),
		Evicted: l.evicted.Load(), IdleClosed: l.idleClosed.Load()}
}

// addressOf is the client address of a connection, without its port.
func addressOf(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
