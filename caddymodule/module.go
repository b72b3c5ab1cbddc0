// Package caddymodule is the Caddy glue of caddy-token-revocation: the
// http.handlers.token_revocation handler (Handler: its JSON config and
// Caddy lifecycle) and its Caddyfile directive. Provision builds the
// runtime that serves (package gateway) with the route kinds it intercepts
// (package route); the admin API (package admin) and the CLI (package
// command) register themselves with Caddy when this package is imported.
package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/admin"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/profile"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the handler's settings.
const (
	DefaultQueryParam       = "access_token"
	DefaultFormField        = "access_token"
	DefaultMaxTokenSize     = 8 << 10
	DefaultMaxBodySize      = 64 << 10
	DefaultTTL              = 24 * time.Hour
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultClockSkew        = 5 * time.Minute
	DefaultRetryAfter       = 5 * time.Second
)

// Handler rejects requests that carry a revoked bearer token, and
// intercepts the revocation and logout endpoints that revoke tokens.
//
// On every request that is not a revocation route, it finds each token the
// upstream would accept (the Authorization header, the access_token query
// parameter and form field, configured cookies and headers) and answers
// 401 with `WWW-Authenticate: Bearer error="invalid_token"` when any is on
// the denylist. A revocation route records what it revokes, either
// answering the call itself (mode respond) or forwarding it and recording
// the revocation once the upstream answers 2xx (mode forward). A revocation
// that could not be stored is answered 503 with Retry-After, never 2xx.
type Handler struct {
	// Store says where the denylist lives. Without it, the embedded store:
	// a file under Caddy's data directory, for a single instance.
	Store *storage.StoreConfig `json:"store,omitempty"`

	// Routes are the revocation and logout endpoints to intercept.
	Routes []*route.Route `json:"routes,omitempty"`

	// Profiles are presets that front an API as it is (Keycloak, Usergrid,
	// MeshyDB), expanded at provisioning into routes (added to Routes) and
	// settings, as the Caddyfile's profile subdirective is. See
	// ProfileConfig.
	Profiles []*profile.ProfileConfig `json:"profiles,omitempty"`

	// Name identifies this handler in the admin API and CLI (?handler=,
	// --handler) when a config has several token_revocation handlers
	// that differ in their settings. Default: none.
	Name string `json:"name,omitempty"`

	// LiveConnections says how live connections (WebSocket, Server-Sent
	// Events, other streams) authorised with a token that is then revoked
	// are ended; on by default. See LiveConnectionsConfig.
	LiveConnections *gateway.LiveConnectionsConfig `json:"live_connections,omitempty"`

	// Namespace scopes the revocations made from claims (a jti, a session,
	// a user): those of one namespace do not match tokens checked in
	// another, so that equal claim values of two tenants do not collide. A
	// token revoked by its own identity is revoked in every namespace:
	// the namespace comes from the request, which an attacker spells. It
	// may use request placeholders, e.g. `{http.request.header.tenant}`,
	// and is evaluated on every request and revocation. Default: empty
	// (one namespace).
	//
	// In a namespace, `{http.request.uri.path.N}` is segment N of the
	// cleaned path (as route paths are matched), so "//a/b" and "/./a/b"
	// name the namespace of "/a/b".
	Namespace string `json:"namespace,omitempty"`

	// NamespaceDefaults are values for placeholders of Namespace (and of
	// the routes' namespaces) that are empty in a request, by placeholder
	// name: {"http.request.header.tenant": "main"} makes a request without
	// a tenant header count as tenant main, as the API does.
	NamespaceDefaults map[string]string `json:"namespace_defaults,omitempty"`

	// NamespaceFoldCase lower-cases the namespace, for an API that compares
	// the values it is made of (a tenant, an account) without regard to
	// case: "T1" and "t1" are then one namespace, as the API sees them.
	// The meshydb profile sets it.
	NamespaceFoldCase bool `json:"namespace_fold_case,omitempty"`

	// Schemes are the Authorization schemes whose credential is a token.
	// Default: ["Bearer", "DPoP"]. Compared case-insensitively.
	Schemes []string `json:"schemes,omitempty"`

	// QueryParam is the query parameter that carries a token (RFC 6750
	// section 2.3). Default: "access_token"; "off" disables.
	QueryParam string `json:"query_param,omitempty"`

	// FormField is the form-encoded body field that carries a token (RFC
	// 6750 section 2.2). Default: "access_token"; "off" disables.
	FormField string `json:"form_field,omitempty"`

	// Cookies are names of cookies whose value is a token.
	Cookies []string `json:"cookies,omitempty"`

	// Headers are names of request headers whose whole value is a token.
	Headers []string `json:"headers,omitempty"`

	// AllowUpgrades are the Upgrade protocols let through besides
	// "websocket" (whose first messages the gateway reads). Any other
	// protocol is a tunnel the gateway cannot read (h2c above all) and is
	// refused with 400 unless named here. Compared case-insensitively.
	AllowUpgrades []string `json:"allow_upgrades,omitempty"`

	// MaxTokenSize is the longest token accepted, in bytes; a longer one is
	// rejected with 400. Default: 8192.
	MaxTokenSize int `json:"max_token_size,omitempty"`

	// MaxBodySize bounds the form bodies read for tokens and revocation
	// requests, in bytes; a larger body is answered 413. Default: 65536.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// MaxUpstreamAnswer is how much of an upstream's 2xx answer a forward
	// route holds back, in bytes, until what it confirms is recorded
	// (revocation answers are tiny); the rest of a longer answer streams
	// through, and the route kind reads no more than this prefix.
	// Default: 65536.
	MaxUpstreamAnswer int64 `json:"max_upstream_answer,omitempty"`

	// BodyTimeout bounds the reading of the bodies the gateway reads: a
	// revocation request's (a client that sends it more slowly loses the
	// connection) and that of any other request read for its tokens (a
	// form, multipart, JSON or text body, a binary body's first
	// MaxBodySize bytes: a slower one is answered 408 and the upstream
	// gets nothing). A server's shorter read_timeout stays the bound, and
	// applies again once the body is read. Default: 10s; negative: no
	// bound beyond the server's own.
	BodyTimeout caddy.Duration `json:"body_timeout,omitempty"`

	// DefaultTTL is how long a revoked token without an expiry (an opaque
	// token) stays on the denylist. Default: 24h.
	DefaultTTL caddy.Duration `json:"default_ttl,omitempty"`

	// MaxTokenLifetime is the longest lifetime of any token the upstream
	// accepts. Session and user revocations are kept this long, and no
	// entry is kept longer. Default: 24h.
	MaxTokenLifetime caddy.Duration `json:"max_token_lifetime,omitempty"`

	// ClockSkew is how far the clocks of the gateway, the identity
	// provider and the upstream may disagree, and how long past its exp an
	// upstream may still accept a token: it is added to a token's expiry
	// before its entry is dropped (a token revoked up to ClockSkew after
	// its exp is still stored), and a token issued up to ClockSkew after a
	// session or user cut-off still counts as issued before it. Default:
	// 5m, the leeway of ASP.NET Core's JwtBearer and of many JWT
	// libraries.
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// FailMode says what a request gets when the denylist cannot be read:
	// "closed" (default) answers 503; "open" lets it through.
	FailMode string `json:"fail_mode,omitempty"`

	// RetryAfter is the Retry-After sent with a 503. Default: 5s.
	RetryAfter caddy.Duration `json:"retry_after,omitempty"`

	// HMACKey, when set, keys the digests of revoked tokens (HMAC-SHA-256),
	// so a copy of the denylist cannot confirm a guessed token. Every
	// instance sharing a store must use the same key. Use a placeholder
	// such as `{env.TOKEN_REVOCATION_KEY}` rather than the key itself.
	HMACKey string `json:"hmac_key,omitempty"`

	// JWT verifies tokens, one entry per issuer, so that their claims (jti,
	// sid, sub) may be trusted: a revocation route then revokes the
	// token's jti, its session or its user, not just the token itself. It
	// is required by the backchannel_logout, caep and logout_all routes.
	// Tokens are verified on revocation routes only, and on the request
	// check path for an issuer with status_list (once per token). See
	// JWTConfig.
	JWT []*gateway.JWTConfig `json:"jwt,omitempty"`

	// Clients are the OAuth clients that authenticate to respond-mode
	// routes (RFC 7009 section 2.1); with them, such routes of kind
	// revoke, logout, keycloak_revoke and keycloak_logout require client
	// authentication (see Route.ClientAuth). Default: none.
	Clients []*gateway.ClientConfig `json:"clients,omitempty"`

	// RateLimit limits calls to revocation routes and token endpoint
	// observers per client and per remote address. Default: 50 a second,
	// bursts of 100, per client and per address; see RateLimitConfig.
	RateLimit *gateway.RateLimitConfig `json:"rate_limit,omitempty"`

	// MaxEntries is the most entries the store may hold before revocation
	// routes answer 503 "denylist full". Default: 1000000; -1: no
	// ceiling. See DefaultMaxEntries.
	MaxEntries int64 `json:"max_entries,omitempty"`

	// MaxOwnerRecords is the most owner records (tokens seen handed out
	// by oauth_token and usergrid_token routes) the store may hold before
	// those routes answer 503. Default: 1000000; -1: no ceiling.
	MaxOwnerRecords int64 `json:"max_owner_records,omitempty"`

	// Quota bounds the entries one caller's revocations may hold, and
	// keeps a share of MaxEntries that anonymous revocations cannot take.
	// Default: anonymous revocations fill at most half of MaxEntries (all
	// of it when nothing through the handler can be trusted), 10000
	// entries per address; see QuotaConfig.
	Quota *gateway.QuotaConfig `json:"quota,omitempty"`

	// ExemptAddresses are client addresses and CIDR ranges that no
	// address rate limit or address quota applies to: a local proxy or
	// health check speaking for many clients. Default: 127.0.0.0/8 and
	// ::1; ["off"]: none.
	ExemptAddresses []string `json:"exempt_addresses,omitempty"`

	// SSF are Shared Signals Framework receivers, one per transmitter:
	// the session and user revocations its CAEP and RISC events carry,
	// polled or pushed, are stored in the denylist. See SSFConfig.
	SSF []*gateway.SSFConfig `json:"ssf,omitempty"`

	// Introspection is the identity provider's token introspection
	// endpoint (RFC 7662): in forward mode, an anonymous caller's opaque
	// token is checked there before it takes space, and not stored when
	// it is not active. Default: none. See IntrospectionConfig.
	Introspection *gateway.IntrospectionConfig `json:"introspection,omitempty"`

	logger *zap.Logger

	profilesExpanded bool // Profiles are in Routes (profile/profile.go)

	// gw is the runtime Provision builds from the fields above
	// (gateway.New, gateway/new.go): what serves requests and revocations.
	gw *gateway.Runtime
	// served is what the admin API knows of the handler, once
	// provisioned.
	served *admin.Served
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.token_revocation",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, compiles the routes and opens (or shares) the
// store.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := h.setup(); err != nil {
		return err
	}
	gateway.WarnUnauthenticated(h.gw.Routes, h.logger) // gateway/client_auth.go
	limits, err := gateway.NewRateLimits(h.RateLimit)
	if err != nil {
		return err
	}
	h.gw.Limits = limits
	store, storeKey, err := storage.Open(ctx, h.Store, h.logger)
	if err != nil {
		return err
	}
	h.gw.StoreKey = storeKey
	h.useStore(store)
	if err := h.provisionSSF(); err != nil { // gateway/ssf.go
		return err
	}
	h.gw.Conns = gateway.NewLiveConns(h.LiveConnections, h.gw.Env, h.gw.Namespace, h.gw.Store) // gateway/live_connections.go
	return h.provisionOps(ctx)                                                                 // metrics, admin API
}

// provisionSSF builds the gateway's receivers of the ssf blocks (nil
// without one) and starts them in the background.
func (h *Handler) provisionSSF() error {
	h.gw.SSF = nil
	if len(h.SSF) == 0 {
		return nil
	}
	rs, err := gateway.NewSSFReceivers(h.SSF, h.Namespace, h.gw.Store, h.gw.Record, h.logger)
	if err != nil {
		return err
	}
	h.gw.SSF = rs
	if storage.CaddyValidating() {
		return nil // connects to nothing
	}
	rs.Start()
	return nil
}

// useStore builds the runtime's engine over store (gateway/new.go).
func (h *Handler) useStore(store denylist.Store) { h.gw.UseStore(store) }

// setup does everything Provision does but open the store: it builds the
// runtime from the settings, defaults applied and profiles expanded.
func (h *Handler) setup() error {
	h.setDefaults()
	key := caddy.NewReplacer().ReplaceAll(h.HMACKey, "")
	if h.HMACKey != "" && key == "" {
		h.gw = &gateway.Runtime{}
		return fmt.Errorf("token_revocation: hmac_key %q is empty once placeholders are replaced (is the environment variable set?)", h.HMACKey)
	}
	if !h.profilesExpanded {
		h.profilesExpanded = true
		if err := profile.Expand(h.Profiles, h.profileTarget()); err != nil { // profile/profile.go
			h.gw = &gateway.Runtime{}
			return err
		}
	}
	gw, err := gateway.New(h.runtimeConfig(key), h.logger)
	if err != nil {
		h.gw = &gateway.Runtime{} // Caddy calls Cleanup after a failed Provision
		return err
	}
	h.gw = gw
	h.MaxEntries, h.MaxOwnerRecords = gw.Ceilings.MaxEntries, gw.Ceilings.MaxOwnerRecords
	return nil
}

// runtimeConfig is what the runtime is built from: h's settings, with
// hmacKey its key once placeholders are replaced.
func (h *Handler) runtimeConfig(hmacKey string) *gateway.Config {
	return &gateway.Config{
		HMACKey: hmacKey,
		Sources: token.Sources{
			Schemes:      h.Schemes,
			QueryParam:   offToEmpty(h.QueryParam),
			FormField:    offToEmpty(h.FormField),
			Cookies:      h.Cookies,
			Headers:      h.Headers,
			MaxTokenSize: h.MaxTokenSize,
			MaxBodySize:  h.MaxBodySize,
		},
		AllowUpgrades:     h.AllowUpgrades,
		Routes:            h.Routes,
		JWT:               h.JWT,
		Clients:           h.Clients,
		MaxEntries:        h.MaxEntries,
		MaxOwnerRecords:   h.MaxOwnerRecords,
		Quota:             h.Quota,
		ExemptAddresses:   h.ExemptAddresses,
		Introspection:     h.Introspection,
		DefaultTTL:        time.Duration(h.DefaultTTL),
		MaxTokenLifetime:  time.Duration(h.MaxTokenLifetime),
		ClockSkew:         time.Duration(h.ClockSkew),
		FailMode:          h.FailMode,
		RetryAfter:        time.Duration(h.RetryAfter),
		BodyTimeout:       time.Duration(h.BodyTimeout),
		MaxUpstreamAnswer: h.MaxUpstreamAnswer,
		Namespace:         h.Namespace,
		NamespaceDefaults: h.NamespaceDefaults,
		NamespaceFoldCase: h.NamespaceFoldCase,
	}
}

func (h *Handler) setDefaults() {
	if len(h.Schemes) == 0 {
		h.Schemes = []string{"Bearer", "DPoP"}
	}
	if h.QueryParam == "" {
		h.QueryParam = DefaultQueryParam
	}
	if h.FormField == "" {
		h.FormField = DefaultFormField
	}
	if h.MaxTokenSize == 0 {
		h.MaxTokenSize = DefaultMaxTokenSize
	}
	if h.MaxBodySize == 0 {
		h.MaxBodySize = DefaultMaxBodySize
	}
	if h.DefaultTTL == 0 {
		h.DefaultTTL = caddy.Duration(DefaultTTL)
	}
	if h.MaxTokenLifetime == 0 {
		h.MaxTokenLifetime = caddy.Duration(DefaultMaxTokenLifetime)
	}
	if h.ClockSkew == 0 {
		h.ClockSkew = caddy.Duration(DefaultClockSkew)
	}
	if h.FailMode == "" {
		h.FailMode = FailClosed
	}
	if h.RetryAfter == 0 {
		h.RetryAfter = caddy.Duration(DefaultRetryAfter)
	}
}

func offToEmpty(s string) string {
	if s == route.Off {
		return ""
	}
	return s
}

// Fail modes.
const (
	FailClosed = gateway.FailClosed
	FailOpen   = gateway.FailOpen
)

// Validate checks the provisioned configuration.
func (h *Handler) Validate() error {
	if h.FailMode != FailClosed && h.FailMode != FailOpen {
		return fmt.Errorf("token_revocation: fail_mode %q: want %q or %q", h.FailMode, FailClosed, FailOpen)
	}
	for name, d := range map[string]caddy.Duration{"default_ttl": h.DefaultTTL, "max_token_lifetime": h.MaxTokenLifetime, "clock_skew": h.ClockSkew, "retry_after": h.RetryAfter} {
		if d < 0 {
			return fmt.Errorf("token_revocation: %s must not be negative, got %s", name, time.Duration(d))
		}
	}
	if h.DefaultTTL > h.MaxTokenLifetime {
		return fmt.Errorf("token_revocation: default_ttl (%s) is longer than max_token_lifetime (%s): raise max_token_lifetime", time.Duration(h.DefaultTTL), time.Duration(h.MaxTokenLifetime))
	}
	if h.MaxTokenSize < 0 || h.MaxBodySize < 0 {
		return fmt.Errorf("token_revocation: max_token_size and max_body_size must not be negative")
	}
	seen := map[string]bool{}
	for _, rt := range h.gw.Routes {
		if seen[rt.Pattern.String()] {
			return fmt.Errorf("token_revocation: two routes share the path %q", rt.Pattern)
		}
		seen[rt.Pattern.String()] = true
	}
	if err := gateway.ValidateSSF(h.gw.SSF, h.gw.Routes); err != nil { // gateway/ssf.go
		return err
	}
	return gateway.ValidateJWT(h.gw.Routes, h.gw.Verifier, h.JWT)
}

// Cleanup releases this config's hold on the shared store, and the
// handler's caches: after a reload the old config's handler may stay
// reachable for minutes (its idle upstream connections), and must not
// hold its caches that long.
func (h *Handler) Cleanup() error {
	h.gw.Close() // gateway/new.go
	h.cleanupOps()
	if h.gw.StoreKey != "" {
		_, err := gateway.Stores.Delete(h.gw.StoreKey)
		return err
	}
	return nil
}

// ServeHTTP intercepts revocation routes and, on every other request,
// rejects the request if any token it carries is revoked: the runtime
// serves it (gateway.Runtime.ServeHTTP, gateway/route_serve.go).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return h.gw.ServeHTTP(w, r, next)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// profileTarget is what a profile expands into: h's routes and namespace
// settings.
func (h *Handler) profileTarget() profile.Target {
	return profile.Target{Routes: &h.Routes, Namespace: &h.Namespace, NamespaceFoldCase: &h.NamespaceFoldCase, NamespaceDefaults: &h.NamespaceDefaults}
}

// provisionOps hooks a provisioned handler into the operator surface: the
// config's metrics registry and the admin API's registry.
func (h *Handler) provisionOps(ctx caddy.Context) error {
	if err := admin.RegisterMetrics(ctx); err != nil {
		return err
	}
	h.served = h.newServed()
	admin.RegisterLive(ctx, h.served)
	return nil
}

// cleanupOps undoes provisionOps.
func (h *Handler) cleanupOps() { admin.UnregisterLive(h.served) }

// newServed is what the admin API and the store metrics know of h: its
// runtime, its name, the store's label and its settings but the routes.
func (h *Handler) newServed() *admin.Served {
	c := *h
	c.Routes = nil
	b, _ := json.Marshal(&c)
	label := h.gw.StoreKey // "embedded:<path>"
	if h.Store != nil && h.Store.ResolvedRedis != nil {
		label = h.Store.ResolvedRedis.Label() // resolved by storage.Open
	}
	return &admin.Served{Runtime: h.gw, Name: h.Name, MaxTokenLifetime: h.MaxTokenLifetime, StoreLabel: label, Same: string(b)}
}
