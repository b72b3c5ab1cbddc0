// Package caddytokenrevocation is the module's root package, the one
// `xcaddy build --with github.com/caddy-token-revocation/caddy-token-revocation`
// compiles in (xcaddy imports the path given to --with). Importing it
// registers the http.handlers.token_revocation module and the
// token_revocation Caddyfile directive, which live in package caddymodule.
package caddytokenrevocation

import _ "github.com/caddy-token-revocation/caddy-token-revocation/caddymodule"
