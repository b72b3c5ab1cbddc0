package gateway

// Version is this module's version, as CHANGELOG.md records it. A binary
// reports it in `caddy token-revocation version`, in the admin API's
// status (version), and as the metric
// caddy_token_revocation_build_info{version="..."} 1. `caddy list-modules
// --versions` shows the Go module version from the binary's build info
// instead: the tag when built from a published version, the version
// xcaddy.json pins for a build from a checkout (scripts/build), nothing
// for `go build ./cmd/caddy` (there the module is the main module).
const Version = "v0.2.0"
