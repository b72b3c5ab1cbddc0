package caddymodule

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// gatewayRuntime is the runtime a provisioned Handler serves with, apart from
// its configuration: the store and the engine over it, the compiled
// routes, the guards and limits of revocation calls, the live
// connections, the status lists, the Shared Signals receivers. Handler.Provision builds it (module.go)
// and Handler.ServeHTTP hands every request to it.
type gatewayRuntime struct {
	store    denylist.Store
	storeKey string
	keys     *engine.Keys     // what checks look up and revocations store
	checker  *engine.Checker  // a request's trip (useStore)
	strict   token.Strictness // what Unambiguous lets through (AllowUpgrades)
	recorder *engine.Recorder // a revocation's trip (useStore)
	sources  token.Sources
	routes   []*route.Compiled
	env      *route.Env     // what the routes' kinds use (route/env.go)
	verifier *jwtverify.Set // nil without JWT
	verify   verifyFunc     // with verifier (jwt.go)
	status   *statusLists   // nil without a jwt block's status_list (status_list.go)
	warnings *configWarnings
	logger   *zap.Logger
	errLog   *route.RateLimitedLogger
	now      func() time.Time
	clients  clientSet   // client id -> SHA-256 of its secret
	limits   *rateLimits // nil: no rate limit (or not provisioned)
	ceilings ceilings    // the store's (ceiling.go)

	quotas       *quotas        // nil: no quota (quota.go)
	exempt       []netip.Prefix // ExemptAddresses
	introspector *introspector  // nil: no introspection (quota_introspect.go)

	conns *liveConns    // nil: live connections are not ended (live_connections.go)
	ssf   *ssfReceivers // nil without an ssf block (ssf.go)

	// The settings it serves with, defaults applied (see Handler).
	failMode          string
	failOpen          bool
	retryAfter        time.Duration
	bodyTimeout       time.Duration
	maxUpstreamAnswer int64
	namespaceTemplate string
	namespaceDefaults map[string]string
	namespaceFoldCase bool
}
