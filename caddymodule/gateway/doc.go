// Package gateway is the runtime of a provisioned token_revocation
// handler, apart from its configuration: the store and the engine over
// it, the compiled routes (package route) and how they are served and
// forwarded, the guards and limits of revocation calls, the check of
// every other request, live connections, status lists and the Shared
// Signals receivers, with the metrics they count. Package caddymodule
// holds the configuration and the Caddy lifecycle, and builds a Runtime
// when it provisions.
package gateway
