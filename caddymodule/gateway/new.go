package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Fail modes (fail_mode): what a check answers when the store cannot be
// read.
const (
	FailClosed = "closed"
	FailOpen   = "open"
)

// Config is what New builds a Runtime from: a handler's settings, their
// defaults applied and its profiles expanded into Routes. Each field is
// the Handler's of the same name (package caddymodule, whose godoc says
// what it means; the comments name its Caddyfile subdirective).
type Config struct {
	HMACKey           string               // hmac_key, placeholders replaced
	Sources           token.Sources        // the named channels: schemes, query_param, form_field, cookies, headers, sizes
	AllowUpgrades     []string             // allow_upgrades
	Routes            []*route.Route       // the routes, profiles expanded
	JWT               []*JWTConfig         // the jwt blocks
	Clients           []*ClientConfig      // the client blocks
	MaxEntries        int64                // max_entries (0: the default)
	MaxOwnerRecords   int64                // max_owner_records (0: the default)
	Quota             *QuotaConfig         // the quota block
	ExemptAddresses   []string             // exempt_addresses
	Introspection     *IntrospectionConfig // the introspection block
	DefaultTTL        time.Duration        // default_ttl
	MaxTokenLifetime  time.Duration        // max_token_lifetime
	ClockSkew         time.Duration        // clock_skew
	FailMode          string               // fail_mode: FailClosed or FailOpen
	RetryAfter        time.Duration        // retry_after
	BodyTimeout       time.Duration        // body_timeout
	MaxUpstreamAnswer int64                // max_upstream_answer
	Namespace         string               // namespace (a template)
	NamespaceDefaults map[string]string    // namespace_defaults
	NamespaceFoldCase bool                 // namespace_fold_case
}

// New builds the runtime of cfg but its store (UseStore): the keys, the
// compiled routes, the guards and limits, the JWT verifiers and their
// status lists (whose JWKS it starts fetching in the background), and the
// environment of the route kinds.
func New(cfg *Config, logger *zap.Logger) (*Runtime, error) {
	h := &Runtime{Logger: logger, Now: time.Now}
	h.ErrLog = route.NewRateLimitedLogger(logger, 10*time.Second)
	h.Keys = &engine.Keys{Hasher: denylist.NewHasher([]byte(cfg.HMACKey)), ClockSkew: cfg.ClockSkew}
	h.Sources = cfg.Sources
	h.Sources.Prepare()
	for _, p := range cfg.AllowUpgrades {
		h.Strict.Upgrades = append(h.Strict.Upgrades, strings.ToLower(p))
	}
	for i, rc := range cfg.Routes {
		rt, err := route.Compile(rc)
		if err != nil {
			return nil, fmt.Errorf("token_revocation: route %d (%s %s): %w", i, rc.Type, rc.Path, err)
		}
		h.Routes = append(h.Routes, rt)
	}
	h.Warnings = NewConfigWarnings(h.Routes, JWTIssuers(cfg.JWT), logger) // warnings.go
	// Client-wide cut-offs come from keycloak_admin routes and from the
	// admin API (a client), which any handler serves: always looked up.
	h.Keys.ClientCutoffs = true
	if err := h.setupGuards(cfg); err != nil {
		return nil, err
	}
	if err := h.setupJWT(cfg); err != nil {
		return nil, err
	}
	h.Verify = newVerify(h.Verifier, h.ErrLog, logger) // jwt.go
	h.FailMode, h.FailOpen = cfg.FailMode, cfg.FailMode == FailOpen
	h.RetryAfter, h.BodyTimeout = cfg.RetryAfter, cfg.BodyTimeout
	h.MaxUpstreamAnswer = cfg.MaxUpstreamAnswer
	h.NamespaceTemplate, h.NamespaceDefaults, h.NamespaceFoldCase = cfg.Namespace, cfg.NamespaceDefaults, cfg.NamespaceFoldCase
	h.Env = h.newRouteEnv(cfg)
	h.recorderConfig = engine.RecorderConfig{DefaultTTL: cfg.DefaultTTL, MaxTokenLifetime: cfg.MaxTokenLifetime, ClockSkew: cfg.ClockSkew}
	return h, nil
}

// setupGuards sets up client authentication, verified_only, the
// ceilings, the exempt addresses, introspection and the quotas: what
// guards a revocation call (guard.go).
func (h *Runtime) setupGuards(cfg *Config) error {
	clients, err := NewClientSet(cfg.Clients) // client_auth.go
	if err != nil {
		return err
	}
	h.Clients = clients
	if err := setClientAuth(h.Routes, clients); err != nil {
		return err
	}
	if err := checkVerifiedOnly(h.Routes, len(cfg.JWT) > 0); err != nil {
		return err
	}
	if h.Ceilings, err = newCeilings(cfg.MaxEntries, cfg.MaxOwnerRecords); err != nil { // ceiling.go
		return err
	}
	if h.Exempt, err = ParseExempt(cfg.ExemptAddresses); err != nil { // ratelimit.go
		return err
	}
	if h.Introspector, err = newIntrospector(cfg.Introspection); err != nil { // quota_introspect.go
		return err
	}
	// The longest an entry lives: a token without exp (default_ttl), a
	// cut-off or a capped exp (max_token_lifetime), plus the skew.
	life := max(cfg.DefaultTTL, cfg.MaxTokenLifetime) + cfg.ClockSkew
	trusted := canTrust(len(cfg.Clients) > 0, len(cfg.JWT) > 0, cfg.Introspection != nil, h.Routes)
	h.Quotas, err = newQuotas(cfg.Quota, h.Ceilings.MaxEntries, trusted, life, h.Exempt, h.Introspector) // quota.go
	return err
}

// setupJWT builds the verifiers of the jwt blocks and their status lists,
// and starts fetching their JWKS in the background.
func (h *Runtime) setupJWT(cfg *Config) error {
	set, cfgs, err := newVerifiers(cfg.JWT, cfg.ClockSkew, h.Logger) // jwt.go
	if err != nil || set == nil {
		return err
	}
	lists := make([]*StatusListConfig, len(cfg.JWT))
	for i, jc := range cfg.JWT {
		lists[i] = jc.StatusList
	}
	status, err := newStatusLists(lists, JWTIssuers(cfg.JWT), cfgs, set, h.Logger) // status_list.go
	if err != nil {
		set.Close()
		return err
	}
	h.Verifier, h.Status = set, status
	set.Start()
	return nil
}

// newRouteEnv is the environment of h's route kinds.
func (h *Runtime) newRouteEnv(cfg *Config) *route.Env {
	e := &route.Env{
		Keys:         h.Keys,
		Verifier:     h.Verifier,
		Verify:       h.Verify,
		CheckRequest: h.CheckRequest,
		Sources:      &h.Sources,
		Logger:       h.Logger,
		ErrLog:       h.ErrLog,
		Now:          func() time.Time { return h.Now() },
		MaxTokenSize: cfg.Sources.MaxTokenSize,
		MaxBodySize:  cfg.Sources.MaxBodySize,
		Schemes:      cfg.Sources.Schemes,
		Cookies:      cfg.Sources.Cookies,
		ClockSkew:    cfg.ClockSkew,
		FailMode:     cfg.FailMode,
		FailOpen:     h.FailOpen,
	}
	if len(cfg.JWT) == 1 {
		e.SoleIssuer = cfg.JWT[0].Issuer
	}
	return e
}

// UseStore builds the engine over store: the checker every request goes
// through, and the recorder of every revocation route, the admin API and
// the ssf receivers.
func (h *Runtime) UseStore(store denylist.Store) {
	h.Store = store
	h.Checker = engine.NewChecker(h.Keys, store, func(c token.Claims) { h.Warnings.NoteClaims(c) })
	h.Checker.SetMaxTokenSize(h.Env.MaxTokenSize)
	var verify func(context.Context, string) (*jwtverify.Token, error)
	if h.Verifier != nil {
		verify = func(ctx context.Context, raw string) (*jwtverify.Token, error) {
			return h.Verify(ctx, raw, jwtverify.Options{})
		}
	}
	rc := h.recorderConfig
	rc.Verify, rc.RecordsGrants, rc.Now = verify, h.RecordsGrants(), func() time.Time { return h.Now() }
	h.Recorder = engine.NewRecorder(h.Keys, store, rc)
	h.Env.Checker, h.Env.Recorder = h.Checker, h.Recorder
}

// Close releases what the runtime holds but its store (which the
// storage package's pool shares): the checker's caches, the verifiers,
// the status lists, the ssf receivers and the live connections' registry.
func (h *Runtime) Close() {
	if h.Checker != nil {
		h.Checker.Release()
	}
	if h.Verifier != nil {
		h.Verifier.Close()
	}
	h.Status.Close()
	h.SSF.Close() // ssf.go
	h.Conns.Close()
}
