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
	"unsafe"
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
	// ClientID is client_id, the client an RFC 9068 access token was
	// issued to (client-wide cut-offs key on azp, or else on it).
	ClientID string `json:"client_id,omitempty"`
	// Confirmation is cnf, the key the token is bound to (RFC 7800):
	// revoking that key revokes the token (engine.Keys looks it up).
	Confirmation Confirmation `json:"cnf"`
}

// Confirmation is the cnf claim of a key-bound token (RFC 7800 §3.1), as
// a JWT carries it and as an RFC 7662 introspection answer does: the
// thumbprint of the key whose holder alone may present the token. Both are
// base64url SHA-256 digests, kept as the token spells them.
type Confirmation struct {
	// JKT is jkt, the JWK SHA-256 thumbprint (RFC 7638) of the DPoP
	// public key a DPoP-bound token is bound to (RFC 9449 §6.1).
	JKT string `json:"jkt,omitempty"`
	// X5TS256 is x5t#S256, the SHA-256 thumbprint of the DER client
	// certificate an mTLS-bound token is bound to (RFC 8705 §3.1).
	X5TS256 string `json:"x5t#S256,omitempty"`
}

// UnmarshalJSON reads cnf as encoding/json reads the object into the
// struct (members by case-insensitive name, a later duplicate over an
// earlier one, null leaving a member as it is) but never fails: a cnf, or
// a member, of another type is left as it is, so that an odd cnf makes
// neither the other claims unreadable nor the token LegacyOpaque (releases
// up to 0.1 did not read cnf).
func (c *Confirmation) UnmarshalJSON(b []byte) error {
	type plain Confirmation
	_ = json.Unmarshal(b, (*plain)(c)) // a type error leaves what it cannot read
	return nil
}

// Client is the client the token was issued to: azp, or else client_id.
func (c *Claims) Client() string {
	if c.AuthorizedParty != "" {
		return c.AuthorizedParty
	}
	return c.ClientID
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
// It never fails: a token that is not a well-formed JWT is opaque. A JWT's
// header and payload are decoded into one new buffer, which its claims
// share: treat Header and Payload as read-only.
func Parse(raw string) Token { return parse(raw, nil, true) }

// ParseInto is Parse for the request check: the decoded header and payload,
// and the claims (substrings of the payload), are kept in buf when they fit
// (a new buffer otherwise), so parsing a JWT that fits allocates nothing.
// The Token, its claims included, is valid only until buf is reused. The
// aud claim is checked (a token with an odd aud is still LegacyOpaque) but
// not kept: Claims.Audience is nil, as a denylist query needs no audience.
func ParseInto(raw string, buf []byte) Token { return parse(raw, buf, false) }

// parse is Parse (with audience) or ParseInto, decoding into buf. A raw
// string that is not a JWT but holds one (trailing dots, a wrapper such as
// an Express signed cookie's "s:"..".<hmac>") is that JWT: an upstream
// that trims or unwraps it verifies the JWT, so a revocation of either
// spelling revokes the JWT, and either spelling is checked as the JWT.
func parse(raw string, buf []byte, audience bool) Token {
	if strings.IndexByte(raw, '.') < 0 {
		return Token{Raw: raw} // opaque: no JWT, nor one inside
	}
	t := parseJWS(raw, buf, audience)
	if t.JWT || strings.Count(raw, ".") < 2 {
		return t
	}
	for at := 0; ; {
		jwt, next, ok := nextJWT(raw, at)
		if !ok {
			return t
		}
		if jwt != raw {
			if found := parseJWS(jwt, buf, audience); found.JWT {
				return found
			}
		}
		at = next
	}
}

// parseJWS is parse for raw as it is: a compact JWS, or opaque.
func parseJWS(raw string, buf []byte, audience bool) Token {
	t := Token{Raw: raw}
	h, p, ok := splitJWS(raw)
	if !ok {
		return t
	}
	// Some encoders pad: a padded copy of a revoked token must still be
	// recognised.
	h, p = strings.TrimRight(h, "="), strings.TrimRight(p, "=")
	enc := base64.RawURLEncoding
	hn := enc.DecodedLen(len(h))
	need := hn + enc.DecodedLen(len(p))
	if cap(buf) < need {
		buf = make([]byte, need)
	}
	header, ok := decodeInto(buf[:hn:hn], h)
	if !ok || !isJSONObject(header) {
		return t
	}
	payload, ok := decodeInto(buf[hn:need:need], p)
	if !ok {
		return t
	}
	var c Claims
	odd := false
	switch scanClaims(payload, &c, audience) {
	case scanOK:
	case scanTypeError: // a claim of another type: left empty
		odd = true
	case scanSlow: // what the scanner cannot decode exactly
		if c, odd, ok = unmarshalClaims(payload); !ok {
			return t
		}
		if !audience {
			c.Audience = nil
		}
	default:
		return t
	}
	t.JWT, t.Header, t.Payload, t.Claims, t.LegacyOpaque = true, header, payload, c, odd
	return t
}

// decodeInto decodes the unpadded base64url s into dst, which is
// DecodedLen(len(s)) long.
func decodeInto(dst []byte, s string) ([]byte, bool) {
	n, err := base64.RawURLEncoding.Decode(dst, unsafe.Slice(unsafe.StringData(s), len(s))) // read only
	return dst[:n], err == nil
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

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && validJSON(b)
}
