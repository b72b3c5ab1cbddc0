package denylist

import (
	"sync"
	"sync/atomic"
)

// RevokedListeners is the set of listeners of one store. The zero value is
// ready; notify costs one atomic load when nobody listens.
type RevokedListeners struct {
	mu  sync.Mutex
	fns atomic.Pointer[[]*revokedListener]
}

type revokedListener struct{ fn func([]Entry) }

// Add implements RevokedNotifier.OnRevoked for the store holding l.
func (l *RevokedListeners) Add(fn func([]Entry)) (remove func()) {
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

func (l *RevokedListeners) load() []*revokedListener {
	if p := l.fns.Load(); p != nil {
		return *p
	}
	return nil
}

// Listening reports whether anyone listens.
func (l *RevokedListeners) Listening() bool { return len(l.load()) > 0 }

// Notify tells every listener of entries.
func (l *RevokedListeners) Notify(entries []Entry) {
	if len(entries) == 0 {
		return
	}
	for _, rl := range l.load() {
		rl.fn(entries)
	}
}

// EntryBatch collects the entries a batch of events added, for notify;
// nil (collecting nothing) when nobody listens.
type EntryBatch struct{ entries []Entry }

// Batch returns a collector, nil when nobody listens.
func (l *RevokedListeners) Batch() *EntryBatch {
	if !l.Listening() {
		return nil
	}
	return &EntryBatch{}
}

// Add collects e; a nil batch ignores it.
func (b *EntryBatch) Add(e Entry) {
	if b != nil {
		b.entries = append(b.entries, e)
	}
}

// NotifyBatch tells every listener what b collected.
func (l *RevokedListeners) NotifyBatch(b *EntryBatch) {
	if b != nil {
		l.Notify(b.entries)
	}
}
