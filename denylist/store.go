package denylist

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrUnavailable wraps every error a Store returns because its backend
// could not be reached or did not confirm a write. Callers answer 503.
var ErrUnavailable = errors.New("denylist store unavailable")

// DefaultListLimit is the page size of Store.List when the caller gives
// none.
const DefaultListLimit = 100

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

// Optional capabilities. A Store may implement any of these; callers probe
// for them with a type assertion (or As, to look through wrapping stores)
// and do without when a store has none.

// Owners is an index from an owner (a user of an application, the grant of
// a refresh token) to the tokens it holds. It serves the revocations that
// name an owner rather than a token, when the tokens are opaque and carry no
// claim that links them to it: Usergrid's "revoke every token of this user",
// or RFC 7009's "revoking a refresh token revokes the access tokens of its
// grant". The gateway writes it when it sees a token endpoint hand a token
// out, and reads it when the owner is revoked: each token the owner holds is
// then revoked by its own KindToken entry.
//
// The request check never reads the index: checking an opaque token stays
// one map look-up of its own digest, whatever its owner.
//
// An owner is a Digest of kind KindOwner (see Hasher.Digest); an owned token
// is an Entry whose Key is the entry that revokes it and whose Expires says
// when it expires (its Cutoff is not used).
type Owners interface {
	// Own records that the tokens of owned belong to owner, each until
	// its Expires. A token recorded again keeps the later expiry. It
	// returns nil only when every record is stored.
	Own(ctx context.Context, owner Digest, owned ...Entry) error
	// Owned returns the tokens owner holds that have not expired.
	Owned(ctx context.Context, owner Digest) ([]Entry, error)
}

// Counter is a store that knows, cheaply (no scan), how many entries and
// owner records it holds: what a ceiling on its size is checked against.
type Counter interface {
	// Entries returns the number of entries held, live or not yet purged.
	Entries(ctx context.Context) (int64, error)
	// OwnerRecords returns the number of owner records (see Owners) held,
	// live or not yet purged.
	OwnerRecords(ctx context.Context) (int64, error)
}

// Generational is a Store whose checks are answered from memory and that
// can say when what it holds may have changed: its Generation changes
// whenever an entry is added (a local revocation, an event applied, a
// reload), so a caller may remember a Check's "not revoked" answer for as
// long as the Generation stays the same. ok is false while no answer may
// be remembered (a mirror that is not fresh asks Redis, which other
// instances write without telling it). An entry expiring does not change
// it: a remembered "revoked" may outlive its entry, which costs the caller
// a check, never a miss.
//
// now is the caller's current time, as time.Now gave it a moment ago (a
// request's start, say): a store that judges its freshness by the clock
// (the Redis mirror) judges it at now rather than read the clock again.
// The zero Time: the store reads the clock.
type Generational interface {
	Generation(now time.Time) (gen uint64, ok bool)
}

// RevokedNotifier is implemented by stores that tell listeners which
// entries were just stored: by this process (Revoke) and, for the Redis
// stores, by any other instance (read from the events stream). Live
// connections authorised with a token that such an entry revokes are ended
// by a listener (package live).
//
// A listener may be told of an entry more than once (a local write, then
// its event read back from the stream) and must treat the repeat as a
// no-op. It is called on the goroutine that stored or read the entries,
// so it must return quickly and must not keep the slice.
type RevokedNotifier interface {
	// OnRevoked adds fn to the listeners and returns the function that
	// removes it.
	OnRevoked(fn func([]Entry)) (remove func())
}

// ConfirmedRevoker is a store that keeps revocations an upstream has
// confirmed (forward mode) where they are never lost, even while its
// backend does not take writes (Resilient: its Outbox).
type ConfirmedRevoker interface {
	// RevokeConfirmed stores entries an upstream has confirmed revoked;
	// it fails only when they could be kept nowhere.
	RevokeConfirmed(ctx context.Context, entries ...Entry) error
}

// DownReporter is a store that knows when its backend does not take
// writes now (Resilient), so that a caller can refuse early.
type DownReporter interface {
	// Down reports whether the backend is known not to take writes now.
	Down() bool
}

// ReadyReporter is a store that may answer checks before it is up to date
// (a mirror still loading, a store not open yet): what a readiness probe
// asks.
type ReadyReporter interface {
	// Ready reports whether checks are answered from an up-to-date
	// denylist; why says what is missing when they are not.
	Ready() (ready bool, why string)
}

// Pinger is a store that can tell cheaply whether its backend answers.
type Pinger interface {
	// Ping returns nil when the backend answers.
	Ping(ctx context.Context) error
}

// FreshnessReporter is a store that answers from an in-process copy of a
// shared store (a mirror) and knows how up to date the copy is.
type FreshnessReporter interface {
	// Freshness returns how long ago the shared store last proved the
	// copy up to date, and whether that is within the staleness bound.
	Freshness() (age time.Duration, fresh bool)
}

// SignalState is a store's small memory for a receiver of another
// system's signals (the Shared Signals receiver, package ssf), shared by
// every instance and restart as the denylist is: per source (a
// transmitter's issuer), values by name (the stream in use) and sets
// whose members each expire (the events applied, the acknowledgements
// owed). It is not the denylist: no check reads it.
type SignalState interface {
	// SignalValue returns the value saved for source under name ("" when
	// none).
	SignalValue(ctx context.Context, source, name string) (string, error)
	// SetSignalValue saves value for source under name.
	SetSignalValue(ctx context.Context, source, name, value string) error
	// SwapSignalValue saves value for source under name if the value
	// saved there is old ("" for none), at once: two instances swapping
	// from the same old value, one wins. It returns the value saved once
	// it is done: value when it won, the other's when it lost.
	SwapSignalValue(ctx context.Context, source, name, old, value string) (string, error)
	// AddSignalMembers adds members to source's set, each kept until
	// expires (Unix seconds, by the store's clock); a member added again
	// keeps the later expiry. It returns nil only when all are stored.
	AddSignalMembers(ctx context.Context, source, set string, expires int64, members ...string) error
	// SignalMember reports whether member is in source's set, unexpired.
	SignalMember(ctx context.Context, source, set, member string) (bool, error)
	// SignalMembers returns the unexpired members of source's set.
	SignalMembers(ctx context.Context, source, set string) ([]string, error)
	// RemoveSignalMembers removes members from source's set; absent ones
	// are ignored.
	RemoveSignalMembers(ctx context.Context, source, set string, members ...string) error
}

// SignalStateOf returns the signal state kept beside store s, looking
// through wrapping stores as OwnersOf does, or nil when it has none.
func SignalStateOf(s Store) SignalState {
	v, _ := As[SignalState](s)
	return v
}

// Wrapper is a store that wraps another (a mirror over Redis, a Resilient
// over its backend): As and OwnersOf look through it.
type Wrapper interface {
	// Unwrap returns the wrapped store, nil when there is none yet.
	Unwrap() Store
}

// OwnersOf returns the owner index kept beside store s, or nil when it has
// none. A store that wraps another (an in-process mirror, say) is looked
// through when it is a Wrapper.
func OwnersOf(s Store) Owners {
	o, _ := As[Owners](s)
	return o
}

// CounterOf returns the counter of store s, looking through wrapping
// stores as OwnersOf does, or nil when it has none.
func CounterOf(s Store) Counter {
	c, _ := As[Counter](s)
	return c
}

// OnRevokedOf subscribes fn to s when s tells listeners of revocations;
// ok is false (and remove a no-op) when it does not.
func OnRevokedOf(s Store, fn func([]Entry)) (remove func(), ok bool) {
	if n, is := s.(RevokedNotifier); is {
		return n.OnRevoked(fn), true
	}
	return func() {}, false
}

// As returns the first of s and the stores it wraps (through Wrapper) that
// is a T, as errors.As does for errors.
func As[T any](s Store) (T, bool) {
	for i := 0; s != nil && i < 8; i++ {
		if v, ok := s.(T); ok {
			return v, true
		}
		u, ok := s.(Wrapper)
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	var zero T
	return zero, false
}

// OwnersPurgeEvery is how often a store removes the records of owners
// whose tokens have all expired (records of an owner that is written again
// are pruned on every write).
const OwnersPurgeEvery = 10 * time.Minute

// OwnersPurgeClock is when a store last purged its owner index in full
// (Unix seconds), a field of each store that keeps owners, so it lives and
// dies with its store. The zero value is ready.
type OwnersPurgeClock struct{ last atomic.Int64 }

// Due reports whether the store should purge its owner index now, and if
// so marks it done.
func (c *OwnersPurgeClock) Due(now time.Time) bool {
	prev := c.last.Load()
	if now.Unix()-prev < int64(OwnersPurgeEvery/time.Second) {
		return false
	}
	return c.last.CompareAndSwap(prev, now.Unix())
}
