package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Recorder decides what a revocation stores, and for how long, and stores
// it.
type Recorder struct {
	keys  *Keys
	store denylist.Store
	cfg   RecorderConfig
}

// RecorderConfig is what a Recorder needs besides the keys and the store.
type RecorderConfig struct {
	// DefaultTTL is how long a token without an expiry stays revoked.
	DefaultTTL time.Duration
	// MaxTokenLifetime bounds every entry, and is how long cut-offs stay.
	MaxTokenLifetime time.Duration
	// ClockSkew is added to expiries (a token revoked up to ClockSkew past
	// its exp is still stored).
	ClockSkew time.Duration
	// Verify verifies a JWT (nil: no verifier configured, no claim is
	// trusted unless the upstream vouches). Its errors wrap
	// jwtverify.ErrKeysUnavailable when the issuer's keys cannot be fetched.
	Verify func(ctx context.Context, raw string) (*jwtverify.Token, error)
	// RecordsGrants is set when a route records which tokens a grant holds
	// (oauth_token): revoking a refresh token then revokes them too.
	RecordsGrants bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// NewRecorder returns a Recorder of revocations into store.
func NewRecorder(keys *Keys, store denylist.Store, cfg RecorderConfig) *Recorder {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Recorder{keys: keys, store: store, cfg: cfg}
}

// Now is the Recorder's clock.
func (r *Recorder) Now() time.Time { return r.cfg.Now() }

// Entries turns rev into denylist entries. Every token is revoked by its
// identity. Its jti, and its session when the call ends one (a logout, a
// refresh token), are revoked only when its claims are trusted. Cut-offs,
// the replay guard and the owners' tokens come last.
func (r *Recorder) Entries(ctx context.Context, rev *Revocation) ([]denylist.Entry, error) {
	now := r.Now()
	var out []denylist.Entry
	for i := range rev.Tokens {
		more, err := r.tokenEntries(ctx, rev, &rev.Tokens[i], rev.Vouched, now)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	for i := range rev.Hints {
		more, err := r.tokenEntries(ctx, rev, &rev.Hints[i], false, now)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	if g := rev.Replay; g != nil {
		e, err := r.replayEntry(ctx, rev.Namespace, g)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	for _, c := range rev.Cutoffs {
		out = append(out, r.CutoffEntry(rev.Namespace, c))
	}
	for _, b := range rev.BoundKeys {
		e, err := r.BoundKeyEntry(rev.Namespace, b)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(rev.Owners) > 0 {
		owned, err := r.ownedBy(ctx, rev)
		if err != nil {
			return nil, err
		}
		out = append(out, owned...)
	}
	return out, nil
}

// Store stores entries: through the outbox when confirmed (the upstream
// has revoked them: they must never be lost) and the store has one, else
// directly. An error means the revocation may not be answered 2xx.
func (r *Recorder) Store(ctx context.Context, confirmed bool, entries []denylist.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if c, ok := r.store.(denylist.ConfirmedRevoker); ok && confirmed {
		return c.RevokeConfirmed(ctx, entries...)
	}
	return r.store.Revoke(ctx, entries...)
}

// tokenEntries are the entries that revoke t: its identity always; what
// its grant holds; its jti, and its session when the call ends one, when
// its claims are trusted — verified, or vouched for (the upstream accepted
// this very token).
func (r *Recorder) tokenEntries(ctx context.Context, rev *Revocation, t *token.Token, vouched bool, now time.Time) ([]denylist.Entry, error) {
	expires, live := r.TokenExpiry(t, now)
	if !live {
		return nil, nil // already expired: nothing left to revoke
	}
	out := []denylist.Entry{denylist.NewEntry(r.keys.Token(t), now, expires)}
	if !t.JWT {
		out = r.opaqueMarkers(out, t.Raw, now, expires)
	}
	granted, err := r.grantEntries(ctx, rev.Namespace, t)
	if err != nil {
		return nil, err
	}
	out = append(out, granted...)
	if !t.JWT {
		return out, nil
	}
	endsSession := rev.SessionWide || rev.RefreshHint || IsRefresh(&t.Claims)
	trusted, err := r.claimsTrusted(ctx, vouched, t, endsSession)
	if err != nil || !trusted {
		return out, err
	}
	c := t.Claims
	if c.ID != "" {
		out = append(out, denylist.NewEntry(r.keys.Hasher.JTIKey(rev.Namespace, c.Issuer, c.ID), now, expires))
	}
	if endsSession && c.SessionID != "" {
		out = append(out, r.CutoffEntry(rev.Namespace, Cutoff{Kind: denylist.KindSession, Issuer: c.Issuer, ID: c.SessionID, At: now}))
	}
	return out, nil
}

// opaqueMarkers appends to out what makes the opaque token raw found
// anywhere in a request (see Checker.CheckCandidate) and in any case (see
// Keys.Folded): the identities of Keys.DerivedIdentities, the marker of
// its length (when it is long enough to be looked for) and those of its
// parts (CandidateParts), all until expires.
func (r *Recorder) opaqueMarkers(out []denylist.Entry, raw string, now, expires time.Time) []denylist.Entry {
	derived := func(k denylist.Key) {
		e := denylist.NewEntry(k, now, expires)
		e.Derived = true
		out = append(out, e)
	}
	for _, k := range r.keys.DerivedIdentities(raw) {
		derived(k)
	}
	if len(raw) >= token.MinCandidateLength { // shorter strings are not checked anywhere
		derived(r.keys.Length(len(raw)))
	}
	for _, p := range CandidateParts(raw) {
		derived(r.keys.Length(len(p)))
	}
	return out
}

// claimsTrusted reports whether t's claims may revoke more than t: the
// upstream vouched for it, or it verifies. When the issuer's keys cannot be
// fetched and the call ends a session, it fails (answered 503) rather than
// quietly revoke less than was asked.
func (r *Recorder) claimsTrusted(ctx context.Context, vouched bool, t *token.Token, endsSession bool) (bool, error) {
	if vouched {
		return true, nil
	}
	if r.cfg.Verify == nil {
		return false, nil
	}
	v, err := r.cfg.Verify(ctx, t.Raw)
	switch {
	case err == nil:
		// The claims used are t's: the very payload the signature covers.
		return bytes.Equal(v.Payload, t.Payload), nil
	case errors.Is(err, jwtverify.ErrKeysUnavailable) && endsSession:
		return false, fmt.Errorf("the call ends a session: %w", err)
	}
	return false, nil
}

// IsRefresh reports whether claims c say their token is a refresh token
// (Keycloak's typ claim: Refresh, or Offline for offline tokens).
func IsRefresh(c *token.Claims) bool {
	return strings.EqualFold(c.Type, "Refresh") || strings.EqualFold(c.Type, "Offline")
}

// TokenExpiry returns when a revocation of t may be forgotten: its exp
// plus clock skew, capped at max_token_lifetime; default_ttl for a token
// without exp. live is false when t has already expired.
func (r *Recorder) TokenExpiry(t *token.Token, now time.Time) (expires time.Time, live bool) {
	limit := now.Add(r.cfg.MaxTokenLifetime + r.cfg.ClockSkew)
	if !t.JWT || t.Claims.Expiry == 0 {
		return now.Add(r.cfg.DefaultTTL), true
	}
	expires = time.Unix(int64(t.Claims.Expiry), 0).Add(r.cfg.ClockSkew)
	if !expires.After(now) {
		return expires, false
	}
	if expires.After(limit) {
		expires = limit
	}
	return expires, true
}

// CutoffExpiry is how long a cut-off set at now is kept: until every token
// issued before it has expired.
func (r *Recorder) CutoffExpiry(now time.Time) time.Time {
	return now.Add(r.cfg.MaxTokenLifetime + r.cfg.ClockSkew)
}

// CutoffEntry is the denylist entry of c in namespace ns. It is kept until
// every token c can match has expired.
func (r *Recorder) CutoffEntry(ns string, c Cutoff) denylist.Entry {
	from := r.Now()
	if c.At.After(from) {
		from = c.At
	}
	return denylist.NewEntry(r.keys.Cutoff(ns, c), c.At, r.CutoffExpiry(from))
}

// BoundKeyEntry is the denylist entry that revokes every token bound to b
// in namespace ns: absolute (denylist.CutoffAlways), until b.Until, by
// default until every token bound to the key before now has expired
// (max_token_lifetime). It fails when b is malformed (BoundKey.Check) or
// its Until is past.
func (r *Recorder) BoundKeyEntry(ns string, b BoundKey) (denylist.Entry, error) {
	if err := b.Check(); err != nil {
		return denylist.Entry{}, err
	}
	now := r.Now()
	until := b.Until
	if until.IsZero() {
		until = r.CutoffExpiry(now)
	}
	if !until.After(now) {
		return denylist.Entry{}, fmt.Errorf("the revocation of %s %s would end at %s, which is past: give a time to come", b.Method, b.Thumbprint, until.UTC().Format(time.RFC3339))
	}
	return denylist.NewEntry(r.keys.Bound(ns, b), now, until), nil
}

// NewReplay builds the replay guard of a single-use token (a logout token,
// a SET): it needs a jti and an iat no older than max_token_lifetime, so
// that its replay entry, kept that long, outlives every moment the token
// would be accepted. A problem is returned as fail(description), and a
// replay will be answered fail(...) too.
func (r *Recorder) NewReplay(v *jwtverify.Token, fail func(string) error) (*Replay, error) {
	c := &v.Claims
	if c.ID == "" {
		return nil, fail("jti is missing: it is needed to refuse replays")
	}
	now := r.Now()
	lifetime := r.cfg.MaxTokenLifetime + r.cfg.ClockSkew
	if c.IssuedAt == nil || c.IssuedAt.Time().Add(lifetime).Before(now) {
		return nil, fail("iat is missing or older than max_token_lifetime")
	}
	expires := now.Add(lifetime)
	if c.Expiry != nil {
		if exp := c.Expiry.Time().Add(r.cfg.ClockSkew); exp.Before(expires) {
			expires = exp
		}
	}
	return &Replay{Issuer: c.Issuer, JTI: c.ID, Expires: expires, Err: fail("jti " + c.ID + " was seen before: replay refused")}, nil
}

// replayEntry looks g up, returning g.Err when it was seen before, and
// else the entry that marks it seen.
func (r *Recorder) replayEntry(ctx context.Context, ns string, g *Replay) (denylist.Entry, error) {
	key := r.keys.Hasher.JTIKey(replayNamespace+ns, g.Issuer, g.JTI)
	_, seen, err := r.store.Get(ctx, key)
	if err != nil {
		return denylist.Entry{}, err
	}
	if seen {
		return denylist.Entry{}, g.Err
	}
	return denylist.NewEntry(key, r.Now(), g.Expires), nil
}

// Verified reports whether t verifies (a route that records verified
// tokens only). It fails when the issuer's keys cannot be fetched: t may
// be genuine.
func (r *Recorder) Verified(ctx context.Context, t *token.Token) (bool, error) {
	return r.claimsTrusted(ctx, false, t, true)
}
