package denylist

import "sync"

// revokedForward relays a Resilient's backend's revocations to the
// Resilient's listeners. The backend is subscribed to only once someone
// listens and the backend is open (a direct Redis store tails its events
// stream only while subscribed to).
type revokedForward struct {
	listeners RevokedListeners
	mu        sync.Mutex
	forwarded bool
}

// OnRevoked implements RevokedNotifier: fn is told of what the backend
// stores (and what other instances store, for the Redis backends) once the
// backend is open, and of the confirmed revocations only the outbox took.
func (r *Resilient) OnRevoked(fn func([]Entry)) (remove func()) {
	remove = r.revoked.listeners.Add(fn)
	r.forwardRevoked()
	return remove
}

// forwardRevoked subscribes to the backend, once, when it is open and
// someone listens.
func (r *Resilient) forwardRevoked() {
	f := &r.revoked
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.forwarded || !f.listeners.Listening() {
		return
	}
	s := r.Current()
	if s == nil {
		return
	}
	f.forwarded = true
	OnRevokedOf(s, f.listeners.Notify)
}
