// Package storage opens the denylist store a token_revocation handler
// is configured with (StoreConfig: embedded or Redis, with its mirror,
// outbox and fail timeout), and shares one open store between the
// handlers and config reloads that name the same settings.
package storage
