package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/statuslist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// StatusListConfig checks the verified tokens of a jwt block's issuer
// against their Token Status Lists (draft-ietf-oauth-status-list): a token
// whose claims carry `status.status_list {idx, uri}` has its signature
// verified with the block's keys (aud and exp are left to the upstream)
// the first time the check path sees it, its list is fetched
// from uri (once, then refreshed in the background, never per request) and
// verified with the same keys; an entry INVALID, SUSPENDED or any value
// but VALID is answered 401 (reason status_list). A list that cannot be
// read (never fetched, too stale) is the handler's fail_mode. See package
// statuslist.
type StatusListConfig struct {
	// AllowHosts are the hosts (host or host:port; *.example.com for any
	// subdomain) the lists may be fetched from. Default: the issuer's
	// host.
	AllowHosts []string `json:"allow_hosts,omitempty"`

	// MaxStale is how long after it should have been refreshed a list is
	// still used while its issuer cannot be reached; never past its exp.
	// Default: 10m.
	MaxStale caddy.Duration `json:"max_stale,omitempty"`

	// FirstFetchWait is how long a request whose list was never fetched
	// waits for it before the list is unknown (fail_mode). Default: 1s.
	FirstFetchWait caddy.Duration `json:"first_fetch_wait,omitempty"`

	// FetchTimeout bounds one fetch of a list. Default: 5s.
	FetchTimeout caddy.Duration `json:"fetch_timeout,omitempty"`

	// MaxSize bounds a Status List Token's size, in bytes. Default: 4 MiB
	// (its decompressed list: 16 MiB).
	MaxSize int64 `json:"max_size,omitempty"`

	// RefreshMin raises a list's ttl below it. Default: 10s.
	RefreshMin caddy.Duration `json:"refresh_min,omitempty"`

	// RefreshMax lowers a list's ttl above it, and is how often a list
	// without ttl is refreshed. Default: 1h.
	RefreshMax caddy.Duration `json:"refresh_max,omitempty"`

	// MaxLists bounds the lists cached at once. Default: 1000.
	MaxLists int `json:"max_lists,omitempty"`
}

// StatusLists is a handler's status list checks: a Checker per issuer
// whose jwt block has status_list, and what the check path learnt of the
// tokens it has seen.
type StatusLists struct {
	Checkers map[string]*statuslist.Checker // by issuer
	seen     seenStatus
}

// newStatusChecker builds the Checker of sc, the status_list of the jwt
// block of issuer (its verifier config cfg), over the verifiers set.
func newStatusChecker(sc *StatusListConfig, issuer string, cfg jwtverify.Config, set *jwtverify.Set, logger *zap.Logger) (*statuslist.Checker, error) {
	c, err := statuslist.New(statuslist.Config{
		Keys:           statuslist.VerifierKeys{Set: set},
		AllowHosts:     sc.AllowHosts,
		MaxStale:       time.Duration(sc.MaxStale),
		FirstFetchWait: time.Duration(sc.FirstFetchWait),
		FetchTimeout:   time.Duration(sc.FetchTimeout),
		MaxSize:        sc.MaxSize,
		RefreshMin:     time.Duration(sc.RefreshMin),
		RefreshMax:     time.Duration(sc.RefreshMax),
		MaxLists:       sc.MaxLists,
		ClockSkew:      cfg.ClockSkew,
		HTTPClient:     cfg.HTTPClient,
		Logger:         logger.Named("status_list"),
	})
	if err != nil {
		return nil, fmt.Errorf("token_revocation: jwt %q: %s", issuer, strings.TrimPrefix(err.Error(), "token_revocation: "))
	}
	return c, nil
}

// newStatusLists builds a Checker per jwt block with a status_list (lists,
// nil for a block without; issuers and cfgs: the blocks' issuers and
// verifier configs, set: their verifiers); nil when none has one. It
// fetches nothing until a token names a list.
func newStatusLists(lists []*StatusListConfig, issuers []string, cfgs []jwtverify.Config, set *jwtverify.Set, logger *zap.Logger) (*StatusLists, error) {
	var s *StatusLists
	for i, sc := range lists {
		if sc == nil {
			continue
		}
		c, err := newStatusChecker(sc, issuers[i], cfgs[i], set, logger)
		if err != nil {
			s.Close()
			return nil, err
		}
		if s == nil {
			s = &StatusLists{Checkers: map[string]*statuslist.Checker{}}
			s.seen.Start()
		}
		s.Checkers[cfgs[i].Issuer] = c
	}
	return s, nil
}

// Close stops the Checkers' refreshers.
func (s *StatusLists) Close() {
	if s == nil {
		return
	}
	for _, c := range s.Checkers {
		c.Close()
	}
	s.seen.clear()
}

// seenStatus remembers, for each JWT the check path has seen, whether it
// has a status list entry to check, and which. No token is kept: a token
// is keyed by its maphash under a random seed and its length (two tokens
// share a key with a chance of 2^-64 per pair, and the seed, unknown
// outside the process, leaves no way to aim at one). Two generations
// bound it, as the engine's query cache.
type seenStatus struct {
	seed     maphash.Seed
	mu       sync.Mutex
	cur, old map[seenKey]seenToken
}

// seenKey is what seenStatus keys a token by.
type seenKey struct {
	hash uint64
	n    int
}

// seenToken is what was learnt of a token when it was verified.
type seenToken struct {
	has   bool // it is verified and carries a status claim
	entry statuslist.Entry
}

// seenGeneration bounds one generation of seenStatus.
const seenGeneration = 1 << 16

func (s *seenStatus) Start() {
	s.seed = maphash.MakeSeed()
	s.cur, s.old = map[seenKey]seenToken{}, map[seenKey]seenToken{}
}

func (s *seenStatus) clear() {
	s.mu.Lock()
	s.cur, s.old = map[seenKey]seenToken{}, map[seenKey]seenToken{}
	s.mu.Unlock()
}

func (s *seenStatus) key(raw string) seenKey {
	return seenKey{maphash.String(s.seed, raw), len(raw)}
}

func (s *seenStatus) get(k seenKey) (seenToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[k]; ok {
		return v, true
	}
	v, ok := s.old[k]
	if ok {
		s.putLocked(k, v)
	}
	return v, ok
}

func (s *seenStatus) put(k seenKey, v seenToken) {
	s.mu.Lock()
	s.putLocked(k, v)
	s.mu.Unlock()
}

func (s *seenStatus) putLocked(k seenKey, v seenToken) {
	if len(s.cur) >= seenGeneration {
		s.old, s.cur = s.cur, map[seenKey]seenToken{}
	}
	s.cur[k] = v
}

// errStatusUnknown is why a token's status could not be said: answered
// as a store failure is, by the fail mode.
var errStatusUnknown = fmt.Errorf("%w: token status list unknown", denylist.ErrUnavailable)

// entryOf is the status list entry of the JWT raw, found the first time
// it is seen: when its issuer has status_list, its signature is verified
// with that jwt block's keys and, when its claims carry a status claim,
// its list resolved (and fetched in the background). ok is false for a token
// without an entry to check (not a JWT of such an issuer, not verified);
// err says the token could not be verified for want of keys, and is not
// remembered.
func (s *StatusLists) entryOf(ctx context.Context, verifier *jwtverify.Set, raw string) (e statuslist.Entry, ok bool, err error) {
	k := s.seen.key(raw)
	if v, found := s.seen.get(k); found {
		return v.entry, v.has, nil
	}
	t := token.Parse(raw)
	if !t.JWT || s.Checkers[t.Claims.Issuer] == nil {
		s.seen.put(k, seenToken{})
		return e, false, nil
	}
	// The signature alone: it makes the status claim the issuer's; aud
	// and exp are the upstream's to judge (a token of the issuer for
	// another audience is checked too).
	payload, verr := verifier.Verifier(t.Claims.Issuer).VerifySignature(ctx, raw, jwtverify.Options{})
	if verr != nil {
		if errors.Is(verr, jwtverify.ErrKeysUnavailable) {
			return e, false, verr
		}
		// Not a token of the issuer: the upstream refuses it; remembered,
		// so a flood of forged tokens costs one verification each.
		s.seen.put(k, seenToken{})
		return e, false, nil
	}
	ref, has, rerr := statuslist.ReadReference(payload)
	switch {
	case rerr != nil:
		// Issued broken: never known, the fail mode decides each time.
		return e, false, fmt.Errorf("%w: %v", errStatusUnknown, rerr)
	case !has:
		s.seen.put(k, seenToken{})
		return e, false, nil
	}
	e = s.Checkers[t.Claims.Issuer].Resolve(t.Claims.Issuer, ref)
	s.seen.put(k, seenToken{has: true, entry: e})
	return e, true, nil
}

// looksJWT reports whether s has the shape of a compact JWS.
func looksJWT(s string) bool { return strings.Count(s, ".") == 2 }

// check is the status of raw by its status list, has false when raw is
// not a JWT of an issuer with status_list or names no list: a token
// whose list cannot be known is Unknown, with why.
func (s *StatusLists) check(ctx context.Context, verifier *jwtverify.Set, raw string) (res statuslist.Result, has bool) {
	if !looksJWT(raw) {
		return res, false
	}
	e, ok, err := s.entryOf(ctx, verifier, raw)
	switch {
	case err != nil:
		return statuslist.Result{Verdict: statuslist.Unknown, Err: err}, true
	case !ok:
		return res, false
	}
	return e.Check(ctx), true
}

// tokenShort is the short digest of the token s, for the logs.
func tokenShort(keys *engine.Keys, s string) string {
	t := token.Parse(s)
	return keys.Token(&t).Digest.Short()
}

// unmarshalStatusList parses `status_list { ... }` inside a jwt block;
// see UnmarshalCaddyfile.
func unmarshalStatusList(dst **StatusListConfig, issuer string, d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.Errf("token_revocation: jwt %s: status_list takes no argument, its settings go in a block: status_list { allow_hosts <host> }", issuer)
	}
	sc := &StatusListConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "allow_hosts":
			err = AtLeastOneArg(d, &sc.AllowHosts)
		case "max_stale":
			err = DurationArg(d, &sc.MaxStale)
		case "first_fetch_wait":
			err = DurationArg(d, &sc.FirstFetchWait)
		case "fetch_timeout":
			err = DurationArg(d, &sc.FetchTimeout)
		case "refresh_min":
			err = DurationArg(d, &sc.RefreshMin)
		case "refresh_max":
			err = DurationArg(d, &sc.RefreshMax)
		case "max_size":
			err = SizeInto(d, &sc.MaxSize)
		case "max_lists":
			err = IntArg(d, &sc.MaxLists)
		default:
			err = UnknownName(d, "jwt "+issuer+" status_list", "option", d.Val(), statusListOptions)
		}
		if err != nil {
			return err
		}
	}
	*dst = sc
	return nil
}
