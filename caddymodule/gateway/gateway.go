package gateway

import (
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Runtime is the runtime a provisioned Handler serves with, apart from
// its configuration: the store and the engine over it, the compiled
// Routes, the guards and limits of revocation calls, the live
// connections, the status lists, the Shared Signals receivers. New
// builds it from a Config (new.go), which Handler.Provision fills from
// its settings (caddymodule/module.go); Handler.ServeHTTP hands every
// request to it.
type Runtime struct {
	Store    denylist.Store
	StoreKey string
	Keys     *engine.Keys     // what checks look up and revocations store
	Checker  *engine.Checker  // a request's trip (useStore)
	Strict   token.Strictness // what Unambiguous lets through (AllowUpgrades)
	Recorder *engine.Recorder // a revocation's trip (useStore)
	Sources  token.Sources
	Routes   []*route.Compiled
	Env      *route.Env     // what the routes' kinds use (route/env.go)
	Verifier *jwtverify.Set // nil without JWT
	Verify   verifyFunc     // with verifier (jwt.go)
	Status   *StatusLists   // nil without a jwt block's status_list (status_list.go)
	Warnings *configWarnings
	Logger   *zap.Logger
	ErrLog   *route.RateLimitedLogger
	Now      func() time.Time
	Clients  clientSet   // client id -> SHA-256 of its secret
	Limits   *rateLimits // nil: no rate limit (or not provisioned)
	Ceilings ceilings    // the store's (ceiling.go)

	Quotas       *quotas        // nil: no quota (quota.go)
	Exempt       []netip.Prefix // ExemptAddresses
	Introspector *introspector  // nil: no introspection (quota_introspect.go)

	Conns *liveConns    // nil: live connections are not ended (live_connections.go)
	SSF   *ssfReceivers // nil without an ssf block (ssf.go)

	// recorderConfig is the recorder's settings, for UseStore (new.go).
	recorderConfig engine.RecorderConfig

	// The settings it serves with, defaults applied (see Handler).
	FailMode          string
	FailOpen          bool
	RetryAfter        time.Duration
	BodyTimeout       time.Duration
	MaxUpstreamAnswer int64
	NamespaceTemplate string
	NamespaceDefaults map[string]string
	NamespaceFoldCase bool
}

// RecordsGrants reports whether a route records grants (oauth_token), so
// that revoking a refresh token revokes what its grant holds.
func (h *Runtime) RecordsGrants() bool {
	return slices.ContainsFunc(h.Routes, func(rt *route.Compiled) bool { return rt.Kind.RecordsGrants })
}
