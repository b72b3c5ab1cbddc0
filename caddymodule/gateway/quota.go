package gateway

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Space per caller: no flood can deny a legitimate revocation.
//
// max_entries bounds the store as a whole, so on its own a flood of junk
// revocations from anonymous callers (a revoke route with client_auth off,
// a forward-mode revoke whose identity provider answers 200 for an unknown
// token as RFC 7009 requires) fills it, and the real user's revocation is
// then refused. A quota splits the space by who asks:
//
//   - A trusted revocation may use all of max_entries. It is trusted when
//     its caller authenticated as one of the handler's clients; when every
//     token it names verifies against a jwt block; when the route kind
//     verifies what it revokes itself (cut-offs and replay guards of
//     logout_all, backchannel_logout, caep, keycloak_admin; the owner
//     tokens of a caller who proved to hold one); in forward mode, when
//     the upstream's 2xx proves the tokens genuine (logout,
//     keycloak_logout: the identity provider refuses a token it does not
//     know), or when the identity provider's introspection (RFC 7662) says
//     its opaque token is active.
//   - Anything else is anonymous. An anonymous revocation is admitted only
//     while the store holds fewer than `anonymous` entries (default half
//     of max_entries: the other half is kept for trusted revocations, and
//     no anonymous caller can take it; all of it when no revocation
//     through the handler can be trusted: no clients, no jwt block, no
//     introspection, no route that verifies or whose upstream confirms),
//     and while the entries its address stored and that have not yet
//     expired are fewer than `address` (default 10,000: one address, or
//     one IPv6 /64, fills at most that).
//   - An authenticated client's revocations may be bounded the same way
//     (`client`; default off: a client is the operator's).
//
// Tokens that verify, or that the upstream vouched for, are not charged to
// any caller: revoking a token again stores the same entries, so what such
// calls hold is bounded by the genuine tokens the caller has.
//
// A caller over its quota is answered 429 with Retry-After (when its
// oldest entries expire); a store past the anonymous share answers
// Anonymous revocations 503 "denylist full for anonymous revocations",
// before anything is stored, and in forward mode before forwarding. The
// Anonymous share is counted like max_entries (the store's own count),
// so it holds across restarts and for every instance sharing the store;
// each instance adds its anonymous calls in flight (2 entries a token),
// so that many calls at once do not all pass it.
// What each caller holds is counted in memory, per instance: entries are
// charged with their expiry, in 16 slots over the longest an entry lives
// (max(default_ttl, max_token_lifetime) plus clock_skew), for at most
// max_keys addresses and max_keys clients (least recently seen forgotten
// first); a restart, a config reload (as for the rate limit's buckets)
// or a caller forgotten starts from zero (the anonymous share still
// holds).

// Defaults of the quotas.
const (
	// DefaultQuotaAnonymousPercent of max_entries may be filled by
	// Anonymous revocations; the rest is kept for trusted ones.
	DefaultQuotaAnonymousPercent = 50
	// DefaultQuotaAddress entries may be held by the anonymous revocations
	// of one address: about 3,000 opaque-token revocations a day kept a
	// day, for a NAT with many users; with the defaults, 50 addresses fill
	// the anonymous share.
	DefaultQuotaAddress = 10000
	// DefaultQuotaMaxKeys addresses and clients are tracked, each: about
	// 410 bytes each (BenchmarkQuotaSet), 4 MB each.
	DefaultQuotaMaxKeys = 10000
)

// QuotaConfig bounds the denylist entries a caller's revocations may hold
// and keeps a share of max_entries for trusted revocations (see
// quota.go). Without it, the defaults apply: anonymous revocations may
// fill half of max_entries (all of it when nothing through the handler
// can be trusted), 10,000 entries per address; clients are not bounded.
type QuotaConfig struct {
	// Off disables the quotas: max_entries alone bounds the store.
	Off bool `json:"off,omitempty"`
	// Anonymous is how many entries the store may hold and still take an
	// Anonymous revocation: a whole number, or a percentage of
	// max_entries. Default: "50%", or "100%" when no revocation through
	// the handler can be trusted (no clients, no jwt block, no
	// introspection, no route that verifies what it revokes or whose
	// upstream confirms it). "100%" keeps no share for trusted
	// revocations.
	Anonymous string `json:"anonymous,omitempty"`
	// Address is how many unexpired entries the anonymous revocations of
	// one client address (an IPv6 /64) may hold. Default: 10000; -1: no
	// bound.
	Address int64 `json:"address,omitempty"`
	// Client is how many unexpired entries the revocations of one
	// authenticated client may hold. Default: 0 (no bound); -1: no bound.
	Client int64 `json:"client,omitempty"`
	// MaxKeys is how many addresses and how many clients are tracked, each;
	// the least recently seen is forgotten first. Default: 10000.
	MaxKeys int `json:"max_keys,omitempty"`
}

// quotas are a handler's quota settings and counters; nil when off.
type quotas struct {
	Anonymous       int64 // -1: no anonymous share
	Address, Client *route.QuotaSet
	// Pending are the entries that anonymous calls in flight may still
	// store (reserved by admitAnonymous), counted with the store's.
	Pending atomic.Int64

	MaxEntries   int64          // for the answer of a full anonymous share
	Exempt       []netip.Prefix // addresses charged to no quota
	Introspector *introspector  // nil: none (quota_introspect.go)
}

// newQuotas validates the quota settings c against maxEntries and life
// (the longest an entry lives), and makes the counters; nil when off.
// trusted says whether anything through the handler can be trusted
// (canTrust); exempt addresses are charged to no quota, and in (nil:
// none) is asked whether an anonymous caller's opaque tokens are active.
func newQuotas(c *QuotaConfig, maxEntries int64, trusted bool, life time.Duration, exempt []netip.Prefix, in *introspector) (*quotas, error) {
	if c == nil {
		c = &QuotaConfig{}
	}
	if c.Off {
		return nil, nil
	}
	q := &quotas{Anonymous: -1, MaxEntries: maxEntries, Exempt: exempt, Introspector: in}
	switch s := c.Anonymous; {
	case s == "":
		if maxEntries > 0 && trusted {
			q.Anonymous = maxEntries * DefaultQuotaAnonymousPercent / 100
		}
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return nil, fmt.Errorf("token_revocation: quota anonymous %q: want a percentage of max_entries above 0%% and at most 100%%, or a number of entries", s)
		}
		if maxEntries > 0 {
			q.Anonymous = max(int64(math.Floor(float64(maxEntries)*p/100)), 1)
		}
	default:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("token_revocation: quota anonymous %q: want a number of entries of at least 1, or a percentage of max_entries such as 50%%", s)
		}
		if maxEntries > 0 && n > maxEntries {
			return nil, fmt.Errorf("token_revocation: quota anonymous %d is more than max_entries (%d): lower it, or raise max_entries", n, maxEntries)
		}
		q.Anonymous = n
	}
	keys := c.MaxKeys
	if keys == 0 {
		keys = DefaultQuotaMaxKeys
	}
	if keys < 0 || c.Address < -1 || c.Client < -1 {
		return nil, fmt.Errorf("token_revocation: quota address, client and max_keys must be positive (or off)")
	}
	address := c.Address
	if address == 0 {
		address = DefaultQuotaAddress
	}
	if address > 0 {
		q.Address = NewQuotaSet(address, life, keys)
	}
	if c.Client > 0 {
		q.Client = NewQuotaSet(c.Client, life, keys)
	}
	return q, nil
}

// canTrust reports whether any revocation through a handler can be
// trusted (see callTrusted): without clients, a jwt block, introspection
// (whether the handler has each), a route among routes that verifies
// what it revokes or one whose upstream confirms it, a share kept for
// trusted revocations would go unused, so the default keeps none.
func canTrust(clients, jwt, introspection bool, routes []*route.Compiled) bool {
	if clients || jwt || introspection {
		return true
	}
	for _, rt := range routes {
		if rt.Kind.Verifies || rt.Mode == route.ModeForward && rt.Kind.UpstreamConfirms || rt.Kind.HolderProves {
			return true
		}
	}
	return false
}

// admitCall decides, once a call is read and before anything of it is
// stored (or, in forward mode, forwarded), whether it may take space:
// an anonymous call needs room in the anonymous share, and a call charged
// to a caller (an anonymous one's address, an authenticated client) room
// in that caller's quota. client is the client the call authenticated as.
func (q *quotas) admitCall(ctx context.Context, env *route.Env, store denylist.Store, r *http.Request, c *route.Call, client string) error {
	if q == nil || c.Route.Kind.ForwardOnly { // token endpoints fill the owner index
		return nil
	}
	if client != "" {
		if q.Client != nil {
			c.Quota = route.CallerQuota{Set: q.Client, Key: client, By: "client"}
		}
	} else if !q.callTrusted(ctx, env, c) {
		if key, ok := AddressKey(r, q.Exempt); ok && q.Address != nil {
			c.Quota = route.CallerQuota{Set: q.Address, Key: key, By: "address"}
		}
		if err := admitQuota(c.Quota, env, c.Route); err != nil {
			return err
		}
		return q.AdmitAnonymous(ctx, env, store, c)
	}
	return admitQuota(c.Quota, env, c.Route)
}

// callTrusted reports whether the revocation c may take the share of
// max_entries kept from anonymous callers (see above; client
// authentication aside). In forward mode with an introspection endpoint,
// it first drops the opaque tokens the endpoint says are not active
// (quota_introspect.go): a call left with nothing to store is trusted.
func (q *quotas) callTrusted(ctx context.Context, env *route.Env, c *route.Call) bool {
	switch {
	case len(c.Cutoffs) > 0 || c.Replay != nil: // what the kind verified itself
		return true
	case len(c.Owners) > 0 && c.NotHolder != nil: // the caller holds one of the owner's tokens
		return true
	case c.Route.Mode == route.ModeForward && c.Route.Kind.UpstreamConfirms: // stored on the upstream's 2xx only
		return true
	case len(c.Tokens)+len(c.Hints) == 0: // verified_only dropped them all: nothing to store
		return len(c.Owners) == 0
	}
	introspected := false
	if c.Route.Mode == route.ModeForward && q.Introspector != nil {
		var tokensActive, hintsActive bool
		c.Tokens, tokensActive = q.Introspector.keepActive(ctx, env, c, c.Tokens)
		c.Hints, hintsActive = q.Introspector.keepActive(ctx, env, c, c.Hints)
		if len(c.Tokens)+len(c.Hints) == 0 && len(c.Owners) == 0 {
			return true // nothing left to store
		}
		introspected = tokensActive && hintsActive
	}
	now := env.Now()
	for _, ts := range [][]token.Token{c.Tokens, c.Hints} {
		for i := range ts {
			if _, live := env.Recorder.TokenExpiry(&ts[i], now); !live {
				continue // an expired JWT: nothing is stored for it
			}
			if !ts[i].JWT {
				if !introspected {
					return false
				}
				continue
			}
			if ok, err := env.Recorder.Verified(ctx, &ts[i]); err != nil || !ok {
				return false
			}
		}
	}
	return true
}

// admitQuota refuses a call charged to cq when its caller already holds
// its quota.
func admitQuota(cq route.CallerQuota, env *route.Env, rt *route.Compiled) error {
	if cq.Set == nil {
		return nil
	}
	n, free := cq.Set.Held(cq.Key, env.Now())
	if n < cq.Set.Limit {
		return nil
	}
	countRefused("quota_" + cq.By)
	env.ErrLog.Error("quota reached: call refused with 429", zap.String("route", rt.Label()), zap.String("by", cq.By), zap.Int64("held", n), zap.Int64("quota", cq.Set.Limit))
	return &quotaFull{by: cq.By, limit: cq.Set.Limit, After: free.Sub(env.Now())}
}

// AdmitAnonymous refuses an anonymous call when the store, with what the
// Anonymous calls in flight on this instance may still store, holds the
// Anonymous share of max_entries. An admitted call reserves 2 entries a
// token (its identity, an opaque token's length marker) until c.quota.done.
func (q *quotas) AdmitAnonymous(ctx context.Context, env *route.Env, store denylist.Store, c *route.Call) error {
	limit := q.Anonymous
	counter := denylist.CounterOf(store)
	if limit < 0 || counter == nil {
		return nil
	}
	reserve := int64(2 * max(len(c.Tokens)+len(c.Hints), 1))
	pending := q.Pending.Add(reserve) - reserve
	n, err := counter.Entries(ctx)
	if err != nil || n+pending < limit { // uncountable: the store's own answer decides
		c.Quota.Pending, c.Quota.Reserved = &q.Pending, reserve
		return nil
	}
	q.Pending.Add(-reserve)
	countRefused("anonymous_share_full")
	env.ErrLog.Error("denylist full for anonymous revocations: call refused with 503", zap.String("route", c.Route.Label()), zap.Int64("count", n), zap.Int64("in_flight", pending), zap.Int64("anonymous", limit))
	return &storeFull{what: "denylist", setting: fmt.Sprintf("quota anonymous (%d of max_entries %d) for anonymous revocations, the rest kept for trusted ones (an authenticated client, a token that verifies)", limit, q.MaxEntries)}
}

// quotaFull answers a call whose caller holds its quota: 429 with
// Retry-After (when its oldest entries expire).
type quotaFull struct {
	by    string // "address" or "client"
	limit int64
	After time.Duration
}

func (e *quotaFull) Error() string   { return "token_revocation: quota of this " + e.by + " reached" }
func (e *quotaFull) StatusCode() int { return http.StatusTooManyRequests }

func (e *quotaFull) Answer(w http.ResponseWriter) error {
	w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(e.After.Seconds())), 1)))
	return route.WriteOAuthError(w, &route.OAuthError{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Description: fmt.Sprintf("this %s's revocations hold its quota of the denylist (quota %s %d); retry once they expire", e.by, e.by, e.limit)})
}

// NewQuotaSet is a quota of limit entries per key, counted over slots
// that span life, for at most maxKeys keys.
func NewQuotaSet(limit int64, life time.Duration, maxKeys int) *route.QuotaSet {
	width := int64(math.Ceil(life.Seconds() / route.QuotaSlots))
	return &route.QuotaSet{Limit: limit, Width: max(width, 1), LRU: route.NewLRU[route.QuotaUse](maxKeys)}
}

// UnmarshalQuota parses `quota off` and
//
//	quota {
//	    anonymous <n>|<percent>%
//	    address <n>|off
//	    client <n>|off
//	    max_keys <n>
//	}
func UnmarshalQuota(dst **QuotaConfig, d *caddyfile.Dispenser) error {
	if *dst != nil {
		return d.Err("token_revocation: quota given twice")
	}
	c := &QuotaConfig{}
	*dst = c
	return offOrBlock(d, &c.Off, "anonymous 50% (or address, client, max_keys)", func(name string) error {
		switch name {
		case "anonymous":
			return OneArg(d, &c.Anonymous)
		case "address":
			return CeilingArg(d, &c.Address)
		case "client":
			return CeilingArg(d, &c.Client)
		case "max_keys":
			return IntArg(d, &c.MaxKeys)
		}
		return UnknownName(d, "quota", "option", name, quotaOptions)
	})
}
