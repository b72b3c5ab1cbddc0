package gateway

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// Placeholders the handler sets on the request's replacer when it checks a
// request (not on revocation routes), for later handlers (`header`,
// `respond`, `reverse_proxy`'s header_up), `handle_errors` routes and access
// logs (`log_append`):
//
//	{http.token_revocation.result}     none: the request carried no token;
//	                                   pass: every token it carried was checked, none is revoked;
//	                                   revoked: one is revoked (answered 401);
//	                                   unavailable: the store could not be read (503, fail closed);
//	                                   fail_open: the store could not be read and fail open let it pass;
//	                                   invalid: the tokens could not be read (400, 413)
//	{http.token_revocation.reason}     why it was refused, as the rejected_total metric's
//	                                   reason label: token, jti, session, user, client, cnf,
//	                                   too_large, body_too_large, bad_request, ambiguous,
//	                                   unavailable, status_list (its Token Status List entry
//	                                   is not VALID); empty when it passed
//	{http.token_revocation.kind}       the kind of entry that revoked the token: token, jti, session,
//	                                   user, client, cnf
//	{http.token_revocation.hash}       the 12-hex-digit prefix of that entry's digest (as the logs and
//	                                   `caddy token-revocation list` show it; never the token)
//	{http.token_revocation.namespace}  the namespace the request was checked in
//	{http.token_revocation.source}     where the revoked token was: header, query, form, cookie,
//	                                   header:<name>
//
// kind and hash are set only for a token the denylist revoked, source for
// any refused token; namespace when a
// token was checked. The no-token path sets result alone, to a constant:
// no allocation.
const (
	PlaceholderResult    = "http.token_revocation.result"
	PlaceholderReason    = "http.token_revocation.reason"
	PlaceholderKind      = "http.token_revocation.kind"
	PlaceholderHash      = "http.token_revocation.hash"
	PlaceholderNamespace = "http.token_revocation.namespace"
	PlaceholderSource    = "http.token_revocation.source"
)

// Values of {http.token_revocation.result}.
const (
	ResultNone        = "none"
	ResultPass        = "pass"
	ResultRevoked     = "revoked"
	resultUnavailable = "unavailable"
	resultFailOpen    = "fail_open"
	resultInvalid     = "invalid"
)

// replacerOf is r's replacer, nil outside Caddy's server.
func replacerOf(r *http.Request) *caddy.Replacer {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	return repl
}

// setCheckResult sets the result and reason placeholders, and the
// namespace when ns is not nil. result is an interface value so that a
// constant passed in is stored without an allocation.
func setCheckResult(r *http.Request, result any, reason string, ns *string) {
	repl := replacerOf(r)
	if repl == nil {
		return
	}
	repl.Set(PlaceholderResult, result)
	if reason != "" {
		repl.Set(PlaceholderReason, reason)
	}
	if ns != nil && *ns != "" {
		repl.Set(PlaceholderNamespace, *ns)
	}
}

// setRevokedPlaceholders sets every placeholder for a token revoked by e.
func setRevokedPlaceholders(r *http.Request, ns, source string, e *denylist.Entry) {
	repl := replacerOf(r)
	if repl == nil {
		return
	}
	kind := e.Kind.String()
	repl.Set(PlaceholderResult, ResultRevoked)
	repl.Set(PlaceholderReason, kind)
	repl.Set(PlaceholderKind, kind)
	repl.Set(PlaceholderHash, e.Digest.Short())
	repl.Set(PlaceholderNamespace, ns)
	repl.Set(PlaceholderSource, source)
}
