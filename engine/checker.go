package engine

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Checker answers whether a token is revoked: it builds the token's query
// with Keys and asks the store. Queries are cached, so a token presented
// again is neither parsed nor digested again (a JWT's query has up to ten
// keys; an opaque token's two, its identity and its lower-case
// spelling's, two digests dearer than the cache). Unverified claims are
// fine here: a forged claim can only get its own token rejected.
type Checker struct {
	keys    *Keys
	store   denylist.Store
	queries *queryCache
	claims  *claimKeys
	// noteClaims, when set, sees the claims of each JWT whose query is
	// built (once per distinct token while it stays cached). By value: a
	// pointer handed to a func value would move the parsed token to the
	// heap, one allocation per first-seen JWT. Its strings live in a
	// pooled parse buffer: valid during the call only.
	noteClaims func(token.Claims)
	// lengths and maxCandidate serve CheckCandidate (anywhere.go).
	lengths      *lengthFilter
	maxCandidate int
}

// DefaultMaxCandidate is the longest string CheckCandidate checks as an
// opaque token unless SetMaxTokenSize says otherwise.
const DefaultMaxCandidate = 8 << 10

// NewChecker returns a Checker of the tokens of store's denylist.
// noteClaims, when not nil, sees the claims of each JWT whose query the
// Checker builds: the glue counts tokens that revocations cannot reach (no
// sid, say). The claims' strings are valid during the call only (they
// share a parse buffer the Checker reuses): noteClaims must copy what it
// keeps. The claims have no Audience (see token.ParseInto).
func NewChecker(keys *Keys, store denylist.Store, noteClaims func(token.Claims)) *Checker {
	return &Checker{keys: keys, store: store, queries: newQueryCache(), claims: newClaimKeys(), noteClaims: noteClaims,
		lengths: newLengthFilter(DefaultMaxCandidate), maxCandidate: DefaultMaxCandidate}
}

// SetMaxTokenSize sets the longest string CheckCandidate checks as an
// opaque token (a longer one is no token the gateway lets through); call
// it before the Checker is used.
func (c *Checker) SetMaxTokenSize(n int) {
	if n > 0 {
		c.maxCandidate, c.lengths = n, newLengthFilter(n)
	}
}

// Store is the store the Checker asks.
func (c *Checker) Store() denylist.Store { return c.store }

// Keys is what the Checker's queries are made of.
func (c *Checker) Keys() *Keys { return c.keys }

// queryPool holds Queries: one handed to the Store interface escapes to
// the heap; pooled, a check allocates nothing.
var queryPool = sync.Pool{New: func() any { return new(denylist.Query) }}

// Check asks the store whether the token raw, as presented in namespace
// ns, is revoked: by its identity, and for a JWT by its jti, session and
// user against their cut-offs.
func (c *Checker) Check(ctx context.Context, ns, raw string) (denylist.Match, error) {
	return c.CheckAt(ctx, time.Time{}, ns, raw)
}

// CheckAt is Check for a request that read the clock at now already: the
// store judges expiry and its freshness at it (denylist.Query.Now; zero:
// the store reads the clock).
func (c *Checker) CheckAt(ctx context.Context, now time.Time, ns, raw string) (denylist.Match, error) {
	q := queryPool.Get().(*denylist.Query)
	defer queryPool.Put(q)
	c.FillQuery(q, ns, raw)
	q.Now = now
	return c.store.Check(ctx, q)
}

// CheckMadeWith is Check for the token raw presented in a request made
// with the keys of with (its DPoP proof's jkt, its TLS client
// certificate's x5t#S256; see token.DPoPProofKey and
// token.CertificateThumbprint): those keys are looked up too, in the same
// store call, as a bound token's cnf is, so that revoking a key (Revocation.BoundKeys) also stops
// the opaque tokens bound to it, whose cnf the gateway cannot read. The
// caller passes the keys for opaque tokens only: a JWT names its own
// (cnf), and one without cnf is bound to none.
func (c *Checker) CheckMadeWith(ctx context.Context, ns, raw string, with *token.Confirmation) (denylist.Match, error) {
	q := queryPool.Get().(*denylist.Query)
	defer queryPool.Put(q)
	c.FillQueryMadeWith(q, ns, raw, with)
	return c.store.Check(ctx, q)
}

// CheckKeysAt looks up the keys of with alone, in namespace ns, at now
// (see CheckAt): for a request made with them whose tokens are not read
// by name (an opaque token in a header or body the scan reads, or none
// the gateway recognizes), so that a revoked key stops it as it stops a
// request whose token CheckMadeWith looks up with its keys.
func (c *Checker) CheckKeysAt(ctx context.Context, now time.Time, ns string, with *token.Confirmation) (denylist.Match, error) {
	q := queryPool.Get().(*denylist.Query)
	defer queryPool.Put(q)
	*q = denylist.Query{Now: now}
	c.keys.addBound(q, ns, with, c.claims)
	return c.store.Check(ctx, q)
}

// FillQueryMadeWith sets q to the query CheckMadeWith asks: FillQuery's,
// and the keys of with. The live connections of such a request are
// registered under it, so a key revocation ends them too.
func (c *Checker) FillQueryMadeWith(q *denylist.Query, ns, raw string, with *token.Confirmation) {
	c.FillQuery(q, ns, raw)
	c.keys.addBound(q, ns, with, c.claims)
}

// FillQuery sets q to the query of the token raw in namespace ns, as
// Check builds it (from the cache for a token seen lately).
func (c *Checker) FillQuery(q *denylist.Query, ns, raw string) {
	k := c.queries.keyOf(ns, raw)
	if c.queries.get(k, q) {
		return
	}
	if strings.Count(raw, ".") != 2 { // not a JWT
		t := token.Parse(raw)
		c.keys.FillQuery(q, ns, &t)
	} else {
		buf := parseBuffers.Get().(*[parseBufferSize]byte)
		t := token.ParseInto(raw, buf[:])
		c.fillNoting(q, ns, &t)
		parseBuffers.Put(buf) // t is not used past here
	}
	c.queries.put(k, q)
}

// parseBufferSize is the size of the buffers JWTs are decoded into: a JWT
// whose decoded header and payload are longer is decoded into a buffer of
// its own (allocated).
const parseBufferSize = 4096

// parseBuffers hold the decoded header and payload, and so the claims, of
// the JWT a check parses, until its query is built: parsed this way, a
// first-seen JWT costs no allocation.
var parseBuffers = sync.Pool{New: func() any { return new([parseBufferSize]byte) }}

// CheckToken is Check for a token already parsed.
func (c *Checker) CheckToken(ctx context.Context, ns string, t *token.Token) (denylist.Match, error) {
	q := queryPool.Get().(*denylist.Query)
	defer queryPool.Put(q)
	c.fillNoting(q, ns, t)
	return c.store.Check(ctx, q)
}

// fillNoting is Keys.FillQuery (with the claim keys remembered), with a
// JWT's claims shown to noteClaims.
func (c *Checker) fillNoting(q *denylist.Query, ns string, t *token.Token) {
	c.keys.fillQuery(q, ns, t, c.claims)
	if t.JWT && c.noteClaims != nil {
		c.noteClaims(t.Claims)
	}
}
