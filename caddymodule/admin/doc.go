// Package admin is token_revocation's admin API, the Caddy admin module
// admin.api.token_revocation (api.go): one file per endpoint (revoke,
// unrevoke, check, entries, status, ready), what every endpoint works
// with (call.go), the wire types the CLI shares (wire.go), and the
// registry of provisioned handlers with the store metrics collected
// over it (registry.go). It knows a handler as a Served: its runtime and
// the settings the API reports, never the Handler's configuration.
package admin
