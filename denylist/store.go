package denylist

import (
	"context"
	"errors"
)

// ErrUnavailable wraps every error a Store returns because its backend
// could not be reached or did not confirm a write. Callers answer 503.
var ErrUnavailable = errors.New("denylist store unavailable")

// Store is a durable denylist shared by every request of a Caddy instance
// (and, for Redis, by every instance).
type Store interface {
	// Revoke records entries durably. It returns nil only when every entry
	// is stored; an entry already present is merged (later cut-off, later
	// expiry), never shortened.
	Revoke(ctx context.Context, entries ...Entry) error
	// Unrevoke removes the entries with these keys; absent keys are ignored.
	Unrevoke(ctx context.Context, keys ...Key) error
	// Check reports whether q matches a live entry.
	Check(ctx context.Context, q *Query) (Match, error)
	// Get returns the live entry with this key, if any.
	Get(ctx context.Context, key Key) (Entry, bool, error)
	// List returns up to limit live entries after cursor ("" for the first
	// page) and the cursor of the next page ("" after the last one).
	List(ctx context.Context, cursor string, limit int) ([]Entry, string, error)
	// Status describes the store for operators (admin API, logs).
	Status(ctx context.Context) Status
	// Close releases the store's resources.
	Close() error
}

// Status describes a store's health.
type Status struct {
	// Backend is "embedded", "redis" or "memory".
	Backend string `json:"backend"`
	// Healthy is false when the backend cannot be reached.
	Healthy bool `json:"healthy"`
	// Error says why the store is unhealthy.
	Error string `json:"error,omitempty"`
	// Entries is the number of live entries held in memory, when known.
	Entries int `json:"entries"`
	// Details holds backend-specific facts (address, mirror lag, ...).
	Details map[string]any `json:"details,omitempty"`
}
