package gateway

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
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
//	                                   header:<name>; keys: the request was made with a
//	                                   revoked key (its DPoP proof's, its TLS client certificate's)
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

// checkOutcome is what a request's check found: the values of the
// placeholders, set on the request's replacer once, when the check ends
// (publish). An empty field is not set.
type checkOutcome struct {
	result any    // a Result constant: stored without allocating
	reason string // the rejected_total metric's reason label
	ns     string // the namespace the request was checked in
	source string // where the refused token was
	kind   string // the kind of the denylist entry that revoked it
	hash   string // that entry's short digest
}

// invalid is the outcome of a request whose tokens could not be read.
func (o *checkOutcome) invalid(reason string) {
	o.result, o.reason = resultInvalid, reason
}

// revoked is the outcome of a request refused for the token at source,
// checked in namespace ns: revoked by a denylist entry (reason its kind,
// and kind and hash set too) or by its status list.
func (o *checkOutcome) revoked(reason, ns, source string) {
	o.result, o.reason, o.ns, o.source = ResultRevoked, reason, ns, source
	if reason != reasonStatusList {
		o.kind = reason
	}
}

// publish sets the placeholders of o on r's replacer.
func (o *checkOutcome) publish(r *http.Request) {
	repl := replacerOf(r)
	if repl == nil {
		return
	}
	if o.result != nil {
		repl.Set(PlaceholderResult, o.result)
	}
	for _, p := range [...]struct{ name, v string }{
		{PlaceholderReason, o.reason}, {PlaceholderKind, o.kind}, {PlaceholderHash, o.hash},
		{PlaceholderNamespace, o.ns}, {PlaceholderSource, o.source},
	} {
		if p.v != "" {
			repl.Set(p.name, p.v)
		}
	}
}
