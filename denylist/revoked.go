package denylist

import (
	"sync"
	"sync/atomic"
)

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

// OnRevokedOf subscribes fn to s when s tells listeners of revocations;
// ok is false (and remove a no-op) when it does not.
func OnRevokedOf(s Store, fn func([]Entry)) (remove func(), ok bool) {
	if n, is := s.(RevokedNotifier); is {
		return n.OnRevoked(fn), true
	}
	return func() {}, false
}

// revokedListeners is the set of listeners of one store. The zero value is
// ready; notify costs one atomic load when nobody listens.
type revokedListeners struct {
	mu  sync.Mutex
	fns atomic.Pointer[[]*revokedListener]
}

type revokedListener struct{ fn func([]Entry) }

// add implements RevokedNotifier.OnRevoked for the store holding l.
func (l *revokedListeners) add(fn func([]Entry)) (remove func()) {
	rl := &revokedListener{fn}
	l.mu.Lock()
	old := l.load()
	next := append(make([]*revokedListener, 0, len(old)+1), old...)
	next = append(next, rl)
	l.fns.Store(&next)
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			old := l.load()
			next := make([]*revokedListener, 0, len(old))
			for _, o := range old {
				if o != rl {
					next = append(next, o)
				}
			}
			l.fns.Store(&next)
		})
	}
}

func (l *revokedListeners) load() []*revokedListener {
	if p := l.fns.Load(); p != nil {
		return *p
	}
	return nil
}

// listening reports whether anyone listens.
func (l *revokedListeners) listening() bool { return len(l.load()) > 0 }

// notify tells every listener of entries.
func (l *revokedListeners) notify(entries []Entry) {
	if len(entries) == 0 {
		return
	}
	for _, rl := range l.load() {
		rl.fn(entries)
	}
}

// entryBatch collects the entries a batch of events added, for notify;
// nil (collecting nothing) when nobody listens.
type entryBatch struct{ entries []Entry }

// batch returns a collector, nil when nobody listens.
func (l *revokedListeners) batch() *entryBatch {
	if !l.listening() {
		return nil
	}
	return &entryBatch{}
}

// add collects e; a nil batch ignores it.
func (b *entryBatch) add(e Entry) {
	if b != nil {
		b.entries = append(b.entries, e)
	}
}

// notifyBatch tells every listener what b collected.
func (l *revokedListeners) notifyBatch(b *entryBatch) {
	if b != nil {
		l.notify(b.entries)
	}
}

// OnRevoked implements RevokedNotifier: fn is told of every entry this
// store's Revoke stores, once synced to disk.
func (s *EmbeddedStore) OnRevoked(fn func([]Entry)) (remove func()) { return s.revoked.add(fn) }

// OnRevoked implements RevokedNotifier: fn is told of every entry this
// mirror's Revoke stores, and of every entry another instance stored, as
// soon as the mirror reads its event from the stream, or, when its event
// was trimmed from the stream before the mirror read it, as soon as a
// reload finds it.
func (m *MirrorStore) OnRevoked(fn func([]Entry)) (remove func()) { return m.revoked.add(fn) }
