// Package connlimit bounds the connections a server holds open: in all, and
// from one client address, and closes the idle ones that never carried an
// authenticated request sooner than the others.
//
// Every open connection holds a file descriptor. Without a bound, clients
// that open connections and leave them idle (20,000 of them after one
// /healthz each were seen to reach the process's limit) leave the server
// unable to accept, and its event log unable to open a file. With one, a
// connection past the bound from one address is refused; past the bound in
// all, the oldest idle connection that never authenticated is closed to
// make room, and only when there is none is the new one refused.
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
	byAddr map[string]int
	// idle lists the idle connections that never authenticated, oldest
	// first: the first to close when the server is full.
	idle *list.List

	refusedTotal, refusedAddress, evicted, idleClosed atomic.Uint64
}

// New returns ln with the bounds of opts.
func New(ln net.Listener, opts Options) *Listener {
	if opts.UnauthenticatedIdle <= 0 {
		opts.UnauthenticatedIdle = DefaultUnauthenticatedIdle
	}
	return &Listener{Listener: ln, opts: opts, byAddr: make(map[string]int), idle: list.New()}
}

// conn is an accepted connection.
type conn struct {
	net.Conn
	l    *Listener
	addr string
	once sync.Once

	// Guarded by the listener's mu.
	authenticated bool
	idleAt        *list.Element // in l.idle while idle and never authenticated
	timer         *time.Timer   // closes it when it has been idle too long
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
		if evict != nil {
			l.evicted.Add(1)
			evict.Close()
		}
		if ok {
			return c, nil
		}
		l.refuse(nc)
	}
}

// admit counts a new connection from addr, or says why not; evict is an
// idle connection to close to make room.
func (l *Listener) admit(nc net.Conn, addr string) (c *conn, evict *conn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.PerAddress > 0 && l.byAddr[addr] >= l.opts.PerAddress {
		l.refusedAddress.Add(1)
		return nil, nil, false
	}
	if l.opts.Max > 0 && l.open >= l.opts.Max {
		front := l.idle.Front()
		if front == nil {
			l.refusedTotal.Add(1)
			return nil, nil, false
		}
		// The oldest idle connection that never authenticated makes room;
		// it is counted out when it closes, so it is taken off the list
		// now, and the new one counted beside it until then.
		evict = front.Value.(*conn)
		l.forgetIdleLocked(evict)
	}
	l.open++
	l.byAddr[addr]++
	return &conn{Conn: nc, l: l, addr: addr}, evict, true
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
	l.forgetIdleLocked(c)
	l.open--
	if l.byAddr[c.addr]--; l.byAddr[c.addr] <= 0 {
		delete(l.byAddr, c.addr)
	}
}

// forgetIdleLocked takes c off the idle list and stops its timer. Lock
// should be held.
func (l *Listener) forgetIdleLocked(c *conn) {
	if c.idleAt != nil {
		l.idle.Remove(c.idleAt)
		c.idleAt = nil
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// ConnState follows each connection's state (http.Server.ConnState): an
// idle connection that never authenticated is listed for eviction and
// closed after UnauthenticatedIdle.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c := l.connOf(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateIdle:
		if c.authenticated || c.idleAt != nil {
			return
		}
		c.idleAt = l.idle.PushBack(c)
		c.timer = time.AfterFunc(l.opts.UnauthenticatedIdle, func() {
			l.mu.Lock()
			still := c.idleAt != nil // not taken by a request meanwhile
			l.mu.Unlock()
			if still {
				l.idleClosed.Add(1)
				c.Close()
			}
		})
	case http.StateActive, http.StateHijacked, http.StateClosed:
		l.forgetIdleLocked(c)
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
	c.l.forgetIdleLocked(c)
}

// Stats counts the connections.
type Stats struct {
	Open int // open now
	// RefusedTotal and RefusedAddress count connections refused past the
	// bound in all and from one address; Evicted the idle ones closed to
	// make room; IdleClosed those closed after UnauthenticatedIdle.
	RefusedTotal, RefusedAddress, Evicted, IdleClosed uint64
}

// Stats returns the counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	open := l.open
	l.mu.Unlock()
	return Stats{Open: open, RefusedTotal: l.refusedTotal.Load(), RefusedAddress: l.refusedAddress.Load(),
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
