package caddymodule

// The CLI's subcommands (caddy token-revocation) register themselves with
// Caddy in their package's init, as the Handler does in module.go and the
// admin API in package admin: importing this package brings them all in.
import _ "github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/command"
