package admin

// The admin API's wire types: the requests and answers of its endpoints
// (api.go), which the CLI (command/admin.go) sends and reads too.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// AdminRequest is the body of the revoke, unrevoke and check endpoints. It
// names exactly one thing: a token; a jti, session, user or client with
// its issuer; a key tokens are bound to (JKT, X5TS256); or (unrevoke and
// check only) an entry key as the entries endpoint lists it.
type AdminRequest struct {
	// Token is a raw token, opaque or JWT. It is hashed with the handler's
	// settings (hmac_key, namespace) and never logged. Revoking it revokes
	// its identity, and its jti when the handler can verify it (see
	// Handler.JWT), as the revoke route does. Checking it checks it as a
	// request carrying it would be: by identity, jti, session and user.
	Token string `json:"token,omitempty"`

	// JTI names one JWT by its jti claim; Issuer is required with it.
	JTI string `json:"jti,omitempty"`

	// Session names a session by its sid claim; Issuer is required with
	// it. Revoking it revokes every token of the session issued at or
	// before Cutoff.
	Session string `json:"session,omitempty"`

	// User names a user by the sub claim; Issuer is required with it.
	// Revoking it revokes every token of the user issued at or before
	// Cutoff ("log out everywhere").
	User string `json:"user,omitempty"`

	// Client names an OAuth client by its client id, the azp claim of
	// the tokens issued to it (or client_id, for tokens without azp); Issuer is required with it. Revoking it
	// revokes every token issued to the client at or before Cutoff, as a
	// keycloak_admin route's client-wide not-before does.
	Client string `json:"client,omitempty"`

	// Issuer is the iss claim of the tokens a JTI, Session, User or
	// Client belongs to, exactly as the tokens carry it. Use "" for tokens without iss.
	Issuer *string `json:"issuer,omitempty"`

	// JKT names a DPoP key (RFC 9449) by its JWK SHA-256 thumbprint (RFC
	// 7638): the 43 base64url characters of the cnf.jkt claim of the
	// tokens bound to it. Revoking it revokes every token bound to the
	// key, issued before or after, until Until; no Issuer (a key is one
	// key whoever bound a token to it) and no Cutoff.
	JKT string `json:"jkt,omitempty"`

	// X5TS256 names a client certificate (RFC 8705) by its SHA-256
	// thumbprint: the 43 base64url characters of the cnf["x5t#S256"]
	// claim of the tokens bound to it. Revoking it revokes every
	// certificate-bound token of that certificate, as JKT does.
	X5TS256 string `json:"x5t#S256,omitempty"`

	// Key is an entry key as the entries endpoint lists it
	// ("<kind letter>:<32 hex digits>"), for unrevoke and check.
	Key string `json:"key,omitempty"`

	// Namespace is the namespace (tenant) of the revocation. Default: the
	// handler's namespace when it is a constant; it is required when the
	// handler's namespace is a placeholder template.
	Namespace *string `json:"namespace,omitempty"`

	// Cutoff, for a session, user or client revocation, is the time up
	// to which issued tokens are revoked: RFC 3339 text or Unix seconds. Default:
	// now. It may not be later than now plus max_token_lifetime.
	Cutoff *Timestamp `json:"cutoff,omitempty"`

	// Until, for revoking a JKT or X5TS256, is when the revocation may be
	// forgotten: RFC 3339 text or Unix seconds, in the future. Default:
	// now plus max_token_lifetime, when every token bound to the key
	// before the revocation has expired. A key that may get new tokens
	// longer (a DPoP key for as long as its client instance lives, a
	// certificate until its notAfter) should be revoked until then.
	Until *Timestamp `json:"until,omitempty"`
}

// Timestamp is a point in time in an AdminRequest: RFC 3339 text
// ("2025-01-02T15:04:05Z") or a number of Unix seconds.
type Timestamp struct{ time.Time }

// UnmarshalJSON accepts RFC 3339 text or Unix seconds.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(b)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		t.Time = time.Unix(n, 0).UTC()
		return nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a time (cutoff, until) is RFC 3339 text or Unix seconds, not %s", b)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		t.Time = time.Unix(n, 0).UTC()
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("a time (cutoff, until) is RFC 3339 text (2025-01-02T15:04:05Z) or Unix seconds, not %q", s)
	}
	t.Time = v
	return nil
}

// AdminEntry is one denylist entry in the admin API's answers.
type AdminEntry struct {
	// Key identifies the entry: "<kind letter>:<32 hex digits>". Give it to
	// unrevoke to remove the entry.
	Key string `json:"key"`
	// Kind is what the entry revokes: token, jti, session, user,
	// client, or cnf (every token bound to a key).
	Kind string `json:"kind"`
	// Hash is the short form of the digest, as the logs show it.
	Hash string `json:"hash"`
	// Cutoff, for a session, user or client, is the time up to which
	// issued tokens are revoked.
	Cutoff *time.Time `json:"cutoff,omitempty"`
	// Expires is when the entry is dropped: every token it can match has
	// expired by then.
	Expires time.Time `json:"expires"`
}

func adminEntry(e denylist.Entry) AdminEntry {
	out := AdminEntry{Key: e.Key.String(), Kind: e.Kind.String(), Hash: e.Digest.Short(), Expires: time.Unix(e.Expires, 0).UTC()}
	if e.Kind.IsCutoff() {
		c := time.Unix(e.Cutoff, 0).UTC()
		out.Cutoff = &c
	}
	return out
}

func adminEntries(es []denylist.Entry) []AdminEntry {
	out := make([]AdminEntry, 0, len(es))
	for _, e := range es {
		out = append(out, adminEntry(e))
	}
	return out
}

// AdminRevokeResponse answers the revoke endpoint.
type AdminRevokeResponse struct {
	// Handler is the name of the handler that served the call.
	Handler string `json:"handler"`
	// Namespace is the namespace the revocation was made in.
	Namespace string `json:"namespace"`
	// Revoked are the entries stored (merged with any already present).
	Revoked []AdminEntry `json:"revoked"`
	// Note explains an empty Revoked (an already expired token).
	Note string `json:"note,omitempty"`
}

// AdminUnrevokeResponse answers the unrevoke endpoint.
type AdminUnrevokeResponse struct {
	// Handler is the name of the handler that served the call.
	Handler string `json:"handler"`
	// Namespace is the namespace of the entry removed.
	Namespace string `json:"namespace"`
	// Removed are the entries that were present and are now removed.
	Removed []AdminEntry `json:"removed"`
	// NotFound are the keys that held no live entry.
	NotFound []string `json:"not_found,omitempty"`
	// StillRevokedBy, for a token, is another entry that still revokes it
	// (its jti, session or user): remove that one as well to let the token
	// through.
	StillRevokedBy *AdminEntry `json:"still_revoked_by,omitempty"`
}

// AdminCheckResponse answers the check endpoint.
type AdminCheckResponse struct {
	// Handler is the name of the handler that served the call.
	Handler string `json:"handler"`
	// Namespace is the namespace checked.
	Namespace string `json:"namespace"`
	// Revoked reports whether a request would be rejected (for a token) or
	// whether the named entry is live (otherwise).
	Revoked bool `json:"revoked"`
	// Entry is the entry that revokes it.
	Entry *AdminEntry `json:"entry,omitempty"`
}

// AdminListResponse answers the entries endpoint.
type AdminListResponse struct {
	// Handler is the name of the handler whose store is listed.
	Handler string `json:"handler"`
	// Entries is one page of live entries, of every namespace in the
	// store. A Redis store's page may hold somewhat more or fewer than
	// the limit.
	Entries []AdminEntry `json:"entries"`
	// NextCursor, when not empty, is the cursor of the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// AdminStatusResponse answers the status endpoint.
type AdminStatusResponse struct {
	// Version is the token_revocation module's version (Version).
	Version string `json:"version"`
	// Handlers are the token_revocation handlers of the running config,
	// identical ones counted once.
	Handlers []AdminHandlerStatus `json:"handlers"`
}

// AdminHandlerStatus describes one handler and its store.
type AdminHandlerStatus struct {
	// Name is the handler's name (Handler.Name), "" when it has none.
	Name string `json:"name"`
	// Instances is how many identical handlers (same settings and store,
	// possibly other routes) this entry stands for.
	Instances int `json:"instances"`
	// Namespace is the handler's namespace setting (maybe a template).
	Namespace string `json:"namespace"`
	// Routes are the revocation routes, "<type> <path>".
	Routes []string `json:"routes"`
	// FailMode is what a request gets when the store cannot be read.
	FailMode string `json:"fail_mode"`
	// Store is the store's health, size and, with a mirror, freshness.
	Store denylist.Status `json:"store"`
}
