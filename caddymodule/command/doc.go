// Package command is token_revocation's command line, caddy
// token-revocation: revoke, unrevoke, check, list and status call the
// admin API (package admin) of a running Caddy (admin.go); version
// prints the module's version (help.go); migrate-layout moves a Redis
// denylist between layouts (migrate.go).
package command
