// Package token finds bearer tokens in HTTP requests and reads what they
// say about themselves: whether a token is a JWT, its identity (what its
// revocation is keyed by) and its claims, unverified.
//
// Unverified claims are good only for checking a token against the
// denylist: a forged claim there can only get its own token rejected.
// Writing a revocation from claims needs them verified (package jwt) or
// confirmed by the upstream identity provider.
package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// Token is one bearer token as presented.
type Token struct {
	// Raw is the token string exactly as presented.
	Raw string
	// JWT is true when Raw is a compact JWS: three base64url parts whose
	// header and payload decode to JSON objects.
	JWT bool
	// Header and Payload are the decoded JWT header and payload.
	Header, Payload []byte
	// Claims are the JWT's claims, unverified. A claim whose value has
	// another type than the claim's (a number as "sub", say) is left
	// empty: the token is still a JWT, keyed by its decoded parts.
	Claims Claims
	// LegacyOpaque is set for a JWT with such a claim: releases up to
	// 0.1 keyed it as an opaque token (by its raw string), so a
	// revocation stored then is found by that key (see LegacyKeys).
	LegacyOpaque bool
}

// Claims are the registered and OIDC claims the denylist uses.
type Claims struct {
	Issuer    string      `json:"iss,omitempty"`
	Subject   string      `json:"sub,omitempty"`
	SessionID string      `json:"sid,omitempty"`
	ID        string      `json:"jti,omitempty"`
	Type      string      `json:"typ,omitempty"`
	Audience  Audience    `json:"aud,omitempty"`
	IssuedAt  NumericDate `json:"iat,omitempty"`
	Expiry    NumericDate `json:"exp,omitempty"`
	NotBefore NumericDate `json:"nbf,omitempty"`
	// AuthorizedParty is azp, the client the token was issued to
	// (Keycloak's client-wide not-before cut-offs key on it).
	AuthorizedParty string `json:"azp,omitempty"`
}

// Audience is the aud claim: a string or an array of strings.
type Audience []string

// UnmarshalJSON accepts a string or an array of strings (a null element
// is ""; an element of another type is skipped); null is no audience; any
// other value leaves a as it is. It never fails: an odd aud must not make
// the other claims unreadable.
func (a *Audience) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if json.Unmarshal(b, &s) == nil {
			*a = Audience{s}
		}
	case string(b) == "null":
		*a = nil
	case len(b) > 0 && b[0] == '[':
		var elems []json.RawMessage
		if json.Unmarshal(b, &elems) != nil {
			return nil
		}
		aud := Audience{}
		for _, e := range elems {
			var s string
			switch {
			case string(e) == "null":
				aud = append(aud, "")
			case json.Unmarshal(e, &s) == nil:
				aud = append(aud, s)
			}
		}
		*a = aud
	}
	return nil
}

// Contains reports whether aud holds s.
func (a Audience) Contains(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// NumericDate is a JWT time: seconds since the Unix epoch, possibly with a
// fraction, which is dropped.
type NumericDate int64

// UnmarshalJSON accepts a JSON number; anything else (a string, say) is
// treated as absent rather than failing the whole claim set.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		*d = 0
		return nil
	}
	*d = NumericDate(f)
	return nil
}

// Parse reads raw as a JWT when it is one, and as an opaque token otherwise.
// It never fails: a token that is not a well-formed JWT is opaque.
func Parse(raw string) Token {
	t := Token{Raw: raw}
	h, p, ok := splitJWS(raw)
	if !ok {
		return t
	}
	header, err := decodeSegment(h)
	if err != nil || !isJSONObject(header) {
		return t
	}
	payload, err := decodeSegment(p)
	if err != nil {
		return t
	}
	var c Claims
	odd := false
	switch scanClaims(payload, &c) {
	case scanOK:
	case scanTypeError: // a claim of another type: left empty
		odd = true
	case scanSlow: // what the scanner cannot decode exactly
		if c, odd, ok = unmarshalClaims(payload); !ok {
			return t
		}
	default:
		return t
	}
	t.JWT, t.Header, t.Payload, t.Claims, t.LegacyOpaque = true, header, payload, c, odd
	return t
}

// unmarshalClaims decodes the claims with encoding/json. A claim of
// another type is left empty (odd is then set), as json.Unmarshal leaves
// it. (A function of its own so that Parse's Claims stay on the stack.)
func unmarshalClaims(payload []byte) (c Claims, odd, ok bool) {
	if !isJSONObject(payload) {
		return Claims{}, false, false
	}
	err := json.Unmarshal(payload, &c)
	var typeErr *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &typeErr) {
		return Claims{}, false, false
	}
	return c, err != nil || audienceWasOdd(payload), true
}

// audienceWasOdd reports whether payload's aud claim made the claims of
// releases up to 0.1 unreadable (so the token was keyed as opaque): present
// and neither a string, null, nor an array of strings and nulls.
func audienceWasOdd(payload []byte) bool {
	var v struct {
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &v) != nil || v.Aud == nil {
		return false
	}
	var s string
	var ss []string
	return json.Unmarshal(v.Aud, &s) != nil && json.Unmarshal(v.Aud, &ss) != nil
}

// Identity returns the parts a token's revocation is keyed by: for an
// opaque token its raw string; for a JWT its decoded header and payload, so
// that a copy re-encoded differently or with another signature is the same
// token. The first part says which (OpaqueMarker or JWTMarker), so the two
// can never collide. It allocates; the request check hashes the same parts
// without allocating (denylist.Hasher.KeyStrings with OpaqueMarker and
// Raw, or Hasher.Key with JWTMarker, Header and Payload).
func (t *Token) Identity() [][]byte {
	if t.JWT {
		return [][]byte{[]byte(JWTMarker), t.Header, t.Payload}
	}
	return [][]byte{[]byte(OpaqueMarker), []byte(t.Raw)}
}

// The first part of a token's Identity.
const (
	OpaqueMarker = "o"
	JWTMarker    = "j"
)

// splitJWS splits a compact JWS into header and payload segments.
func splitJWS(raw string) (header, payload string, ok bool) {
	i := strings.IndexByte(raw, '.')
	if i <= 0 {
		return "", "", false
	}
	rest := raw[i+1:]
	j := strings.IndexByte(rest, '.')
	if j <= 0 || strings.IndexByte(rest[j+1:], '.') >= 0 {
		return "", "", false
	}
	return raw[:i], rest[:j], true
}

// decodeSegment decodes base64url with or without padding (some encoders
// pad; a padded copy of a revoked token must still be recognised).
func decodeSegment(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && validJSON(b)
}
