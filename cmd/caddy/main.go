// Command caddy is a Caddy binary with the standard modules and the
// token_revocation handler compiled in. It is what `go run ./cmd/caddy`
// runs and what the end-to-end tests build; release binaries are built with
// xcaddy instead (scripts/build, the recipe in xcaddy.json), which
// produces the same set of modules.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-token-revocation/caddy-token-revocation/caddymodule"
)

func main() {
	caddycmd.Main()
}
