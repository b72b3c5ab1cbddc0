package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Owners and grants.
//
// An opaque token says nothing about who holds it, so revoking "every token
// of a user" or "the access tokens of this refresh token's grant" needs the
// gateway to have seen the tokens handed out. The glue's token endpoint
// observers (oauth_token, usergrid_token) call RecordGrant and RecordOwned
// with what each 2xx answer hands out: each access token is recorded as
// owned by its grant (the refresh token it came with) or its user, in the
// store's owner index (denylist.Owners). Revoking an owner then revokes
// each token it owns by that token's own KindToken entry.
//
// Why not a per-user cut-off checked on every request: to compare an
// opaque token with its user's cut-off, the check would first have to find
// the token's user and issue time, a second, dependent look-up on every
// request, for a link that only matters when a user is revoked. Fanning out
// at revocation time keeps the request check as it is, one look-up per
// opaque token, and moves the cost to the rare revocation and to the token
// endpoint. The owner index holds digests only (never a token), keyed like
// the denylist (HMAC when hmac_key is set).

// Owners returns the store's owner index.
func (r *Recorder) Owners() (denylist.Owners, error) {
	if o := denylist.OwnersOf(r.store); o != nil {
		return o, nil
	}
	return nil, fmt.Errorf("token_revocation: the %T store keeps no owner index, which the oauth_token and usergrid routes need", r.store)
}

// OwnedEntry is the record of token t, handed out with expires_in
// expiresIn seconds (0: unknown), as held by an owner: the key that revokes
// it and when it expires (capped at max_token_lifetime).
func (r *Recorder) OwnedEntry(t *token.Token, expiresIn int64, now time.Time) denylist.Entry {
	limit := r.CutoffExpiry(now)
	expires := limit
	switch {
	case t.JWT && t.Claims.Expiry != 0:
		expires = time.Unix(int64(t.Claims.Expiry), 0).Add(r.cfg.ClockSkew)
	case expiresIn > 0:
		expires = now.Add(time.Duration(expiresIn)*time.Second + r.cfg.ClockSkew)
	}
	if expires.After(limit) {
		expires = limit
	}
	return denylist.NewEntry(r.keys.Token(t), now, expires)
}

// Grant is what a token endpoint's 2xx answer hands out.
type Grant struct {
	// Presented is the refresh token the call presented (grant_type
	// refresh_token), nil for another grant.
	Presented *token.Token
	// Access and Refresh are the tokens answered (Refresh may be empty).
	Access, Refresh string
	// ExpiresIn is the answer's expires_in in seconds (0: unknown).
	ExpiresIn int64
}

// ownedEntries are the entries an owner holds for t: OwnedEntry, and for
// an opaque token what makes it found anywhere in a request (its length's
// marker, its parts), with the same expiry.
func (r *Recorder) ownedEntries(t *token.Token, expiresIn int64, now time.Time) []denylist.Entry {
	e := r.OwnedEntry(t, expiresIn, now)
	out := []denylist.Entry{e}
	if !t.JWT {
		out = r.opaqueMarkers(out, t.Raw, now, time.Unix(e.Expires, 0))
	}
	return out
}

// RecordGrant records what the grant of a token answer holds: the grant of
// the new refresh token holds the access token, and what the grant of the
// presented refresh token held (refresh token rotation); the presented
// refresh token's grant holds the new tokens too. Revoking any of the
// grant's refresh tokens then revokes them all.
func (r *Recorder) RecordGrant(ctx context.Context, ns string, g Grant) error {
	o, err := r.Owners()
	if err != nil {
		return err
	}
	now := r.Now()
	access := token.Parse(g.Access)
	accessEntry := r.ownedEntries(&access, g.ExpiresIn, now)
	var refresh *token.Token
	if g.Refresh != "" {
		t := token.Parse(g.Refresh)
		refresh = &t
	}
	presented := g.Presented
	switch {
	case presented == nil && refresh == nil:
		return nil // no grant to hold the access token (client credentials)
	case presented == nil:
		return o.Own(ctx, r.keys.GrantOwner(ns, refresh), accessEntry...)
	case refresh == nil || refresh.Raw == presented.Raw:
		return o.Own(ctx, r.keys.GrantOwner(ns, presented), accessEntry...)
	}
	prev, err := o.Owned(ctx, r.keys.GrantOwner(ns, presented))
	if err != nil {
		return err
	}
	held := append(append(prev, accessEntry...), r.ownedEntries(presented, 0, now)...)
	if err := o.Own(ctx, r.keys.GrantOwner(ns, refresh), held...); err != nil {
		return err
	}
	return o.Own(ctx, r.keys.GrantOwner(ns, presented), append(accessEntry, r.ownedEntries(refresh, 0, now)...)...)
}

// RecordOwned records the token raw, handed out with expires_in expiresIn,
// as held by each of owners.
func (r *Recorder) RecordOwned(ctx context.Context, raw string, expiresIn int64, owners ...denylist.Digest) error {
	o, err := r.Owners()
	if err != nil {
		return err
	}
	t := token.Parse(raw)
	owned := r.ownedEntries(&t, expiresIn, r.Now())
	for _, owner := range owners {
		if err := o.Own(ctx, owner, owned...); err != nil {
			return err
		}
	}
	return nil
}

// grantEntries returns the entries that revoke the tokens t's grant holds,
// when a route records grants. Holding t is what entitles a caller to
// revoke its grant, as RFC 7009 has it; the grant holds only tokens the
// gateway saw the token endpoint hand out.
func (r *Recorder) grantEntries(ctx context.Context, ns string, t *token.Token) ([]denylist.Entry, error) {
	if !r.cfg.RecordsGrants {
		return nil, nil
	}
	o, err := r.Owners()
	if err != nil {
		return nil, err
	}
	return o.Owned(ctx, r.keys.GrantOwner(ns, t))
}

// ownedBy returns the records of rev.Owners, refusing (rev.NotHolder) a
// caller that holds none of them when that is asked.
func (r *Recorder) ownedBy(ctx context.Context, rev *Revocation) ([]denylist.Entry, error) {
	o, err := r.Owners()
	if err != nil {
		return nil, err
	}
	var owned []denylist.Entry
	for _, owner := range rev.Owners {
		more, err := o.Owned(ctx, owner)
		if err != nil {
			return nil, err
		}
		owned = append(owned, more...)
	}
	if rev.NotHolder != nil && !rev.Vouched && !r.holdsOneOf(rev.Namespace, rev.Holding, owned) {
		return nil, rev.NotHolder
	}
	return owned, nil
}

// holdsOneOf reports whether one of tokens is among owned.
func (r *Recorder) holdsOneOf(ns string, tokens []token.Token, owned []denylist.Entry) bool {
	for i := range tokens {
		for _, e := range owned {
			if r.keys.TokenOrLegacy(e.Key, ns, &tokens[i]) {
				return true
			}
		}
	}
	return false
}
