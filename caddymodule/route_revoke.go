package caddymodule

import "net/http"

// kindRevoke is OAuth 2.0 Token Revocation (RFC 7009): the form field token.
var kindRevoke = &routeKind{
	methods:             []string{http.MethodPost},
	read:                readFormTokens([]string{"token"}, false),
	respond:             respondOK,
	revokesRefused:      true,
	clientAuthByDefault: true,
	warnsOpen:           true,
}
