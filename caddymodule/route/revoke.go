package route

import "net/http"

// kindRevoke is OAuth 2.0 Token Revocation (RFC 7009): the form field token.
var kindRevoke = &Kind{
	Methods:             []string{http.MethodPost},
	Read:                readFormTokens([]string{"token"}, false),
	Respond:             respondOK,
	revokesRefused:      true,
	ClientAuthByDefault: true,
	WarnsOpen:           true,
}
