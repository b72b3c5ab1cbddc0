// Package live ends live connections when the token they were authorised
// with is revoked: WebSocket and other upgraded connections, streaming
// responses (Server-Sent Events, long polls, chunked streams) and HTTP/2
// streams (gRPC included).
//
// A Registry holds every registered connection under the denylist keys
// its tokens map to (denylist.Query: identity, jti, session, user, client)
// and their issue time. A store tells the registry of each batch of
// entries just stored (denylist.RevokedNotifier, from this instance or,
// through Redis's events stream, from any other); the registry looks each
// entry's key up in a map — no scan, no polling — and ends every
// connection the entry revokes, deciding as denylist's Check does
// (denylist.Entry.Matches): a token or jti entry ends whatever carries
// the key, a cut-off (session, user, client) what was issued at or before
// it.
//
// Closing: a WebSocket gets a close frame (1008, policy violation, and a
// short reason) written between two frames of the upstream's stream, then
// its TCP connection is closed; another upgraded connection is closed; a
// streaming response is aborted (HTTP/1: the connection is closed without
// the last chunk; HTTP/2: the stream is reset). See Exchange.
//
// The package knows nothing of Caddy.
package live

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// Reason says why a live connection was ended.
type Reason uint8

// The reasons a connection is ended.
const (
	// ReasonRevoked: an entry revoking one of its tokens was stored.
	ReasonRevoked Reason = iota
	// ReasonExpired: its token expired (close_on_expiry).
	ReasonExpired
)

// String returns the reason as used in metrics labels and logs.
func (r Reason) String() string {
	if r == ReasonExpired {
		return "expired"
	}
	return "revoked"
}

// closeText is the reason a WebSocket close frame carries.
func (r Reason) closeText() string {
	if r == ReasonExpired {
		return "token expired"
	}
	return "token revoked"
}

// Closer ends one live connection. CloseLive must not block: it starts the
// closing and returns.
type Closer interface {
	CloseLive(Reason)
}

// registryShards spreads the keys over independently locked maps, so that
// registrations on many cores and a batch of revocations contend little.
const registryShards = 64

// Registry is the set of live connections of a process, by the denylist
// keys of their tokens. The zero value is not usable: see NewRegistry.
type Registry struct {
	shards [registryShards]registryShard
	now    func() time.Time
	n      atomic.Int64

	// First, when set, checks the first messages of each WebSocket
	// served (FirstMessages). Set it before the first Serve.
	First *FirstMessages

	// FrameWait bounds how long a WebSocket's close frame waits for the
	// frame in flight (0: DefaultFrameWait). Set it before the first
	// Serve.
	FrameWait time.Duration

	// batches counts the calls of Revoked: a connection registered under
	// keys it checked first sees whether a revocation came in between
	// (FirstMessages).
	batches atomic.Uint64

	retireMu sync.Mutex
	retiring atomic.Bool
	onEmpty  func()

	// OnClose, when set (before the first Register), is called after a
	// connection was told to close: why, the entry that revoked it (the
	// zero Entry for an expiry) and how long after the registry learnt of
	// the entry. It must not block.
	OnClose func(reason Reason, e denylist.Entry, took time.Duration)
}

type registryShard struct {
	mu sync.Mutex
	m  map[denylist.Digest]*node
}

// node is one key of one connection, in the list of the connections
// registered under that key.
type node struct {
	conn       *Conn
	prev, next *node
	digest     denylist.Digest
	issuedAt   int64
}

// Conn is one registered connection. It is ended at most once.
type Conn struct {
	reg    *Registry
	closer Closer
	nodes  []node
	expiry *time.Timer
	ended  atomic.Bool

	mu    sync.Mutex // orders Add with end
	added [][]node   // keys added after Register (Add)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{now: time.Now}
	for i := range r.shards {
		r.shards[i].m = make(map[denylist.Digest]*node)
	}
	return r
}

func (r *Registry) shard(d *denylist.Digest) *registryShard {
	return &r.shards[d[1]%registryShards]
}

// Len returns the number of registered connections.
func (r *Registry) Len() int { return int(r.n.Load()) }

// Register adds a connection authorised with the tokens of qs: it is ended
// by closer when an entry revoking any of them is stored, and, when
// expires is not zero, when expires passes. Unregister it when it ends on
// its own.
func (r *Registry) Register(closer Closer, qs []denylist.Query, expires time.Time) *Conn {
	n := 0
	for i := range qs {
		n += qs[i].N
	}
	c := &Conn{reg: r, closer: closer, nodes: make([]node, n)}
	c.nodes = c.link(qs, c.nodes)
	r.n.Add(1)
	if !expires.IsZero() {
		// Armed once c.expiry is set: the callback reads it (end).
		c.expiry = time.AfterFunc(time.Duration(math.MaxInt64), func() {
			if c.end() {
				c.closer.CloseLive(ReasonExpired)
				if r.OnClose != nil {
					r.OnClose(ReasonExpired, denylist.Entry{}, 0)
				}
			}
		})
		c.expiry.Reset(time.Until(expires))
	}
	return c
}

// link puts nodes (one per key of qs) under their keys.
func (c *Conn) link(qs []denylist.Query, nodes []node) []node {
	r, i := c.reg, 0
	for qi := range qs {
		q := &qs[qi]
		for k := 0; k < q.N; k++ {
			nd := &nodes[i]
			i++
			nd.conn, nd.digest, nd.issuedAt = c, q.Keys[k].Digest, q.IssuedAt
			sh := r.shard(&nd.digest)
			sh.mu.Lock()
			if head := sh.m[nd.digest]; head != nil {
				nd.next, head.prev = head, nd
			}
			sh.m[nd.digest] = nd
			sh.mu.Unlock()
		}
	}
	return nodes
}

// Add registers c under the keys of qs as well (tokens found after it was
// registered: the first messages of a WebSocket). It reports false, adding
// nothing, when c was ended already.
func (c *Conn) Add(qs []denylist.Query) bool {
	n := 0
	for i := range qs {
		n += qs[i].N
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended.Load() {
		return false
	}
	if n > 0 {
		c.added = append(c.added, c.link(qs, make([]node, n)))
	}
	return true
}

// Unregister removes c, which ended on its own; it reports false when c
// was already ended (by a revocation, an expiry or an earlier call).
func (c *Conn) Unregister() bool { return c.end() }

// end removes c from the registry, once; it reports whether this call did.
func (c *Conn) end() bool {
	if c.ended.Swap(true) {
		return false
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.mu.Lock() // waits for an Add under way, which then sees ended
	c.unlink(c.nodes)
	for _, nodes := range c.added {
		c.unlink(nodes)
	}
	c.mu.Unlock()
	r := c.reg
	if r.n.Add(-1) == 0 && r.retiring.Load() {
		r.emptied()
	}
	return true
}

// unlink removes nodes from under their keys.
func (c *Conn) unlink(nodes []node) {
	r := c.reg
	for i := range nodes {
		nd := &nodes[i]
		sh := r.shard(&nd.digest)
		sh.mu.Lock()
		if nd.prev != nil {
			nd.prev.next = nd.next
		} else if nd.next != nil {
			sh.m[nd.digest] = nd.next
		} else {
			delete(sh.m, nd.digest)
		}
		if nd.next != nil {
			nd.next.prev = nd.prev
		}
		nd.prev, nd.next = nil, nil
		sh.mu.Unlock()
	}
}

// Retire calls done once no connection is registered — at once when none
// is. A registry whose configuration was replaced keeps ending its
// connections on revocation until they are gone, then lets go of its
// store.
func (r *Registry) Retire(done func()) {
	r.retireMu.Lock()
	r.onEmpty = done
	r.retireMu.Unlock()
	r.retiring.Store(true)
	if r.n.Load() == 0 {
		r.emptied()
	}
}

// emptied runs the Retire callback, once.
func (r *Registry) emptied() {
	r.retireMu.Lock()
	fn := r.onEmpty
	r.onEmpty = nil
	r.retireMu.Unlock()
	if fn != nil {
		fn()
	}
}

// Revoked ends every registered connection one of entries revokes. It is
// the listener to give a store's denylist.RevokedNotifier.OnRevoked: one
// map look-up per entry, and the closers start closing before it returns.
func (r *Registry) Revoked(entries []denylist.Entry) {
	r.batches.Add(1)
	if r.n.Load() == 0 {
		return
	}
	start := r.now()
	now := start.Unix()
	var hit []*Conn
	var why []denylist.Entry
	for _, e := range entries {
		if !e.Live(now) {
			continue
		}
		sh := r.shard(&e.Digest)
		sh.mu.Lock()
		for nd := sh.m[e.Digest]; nd != nil; nd = nd.next {
			if e.Matches(nd.issuedAt, now) {
				hit = append(hit, nd.conn)
				why = append(why, e)
			}
		}
		sh.mu.Unlock()
	}
	for i, c := range hit {
		if c.end() {
			c.closer.CloseLive(ReasonRevoked)
			if r.OnClose != nil {
				r.OnClose(ReasonRevoked, why[i], time.Since(start))
			}
		}
	}
}
