package denylist

import (
	"sync"
	"sync/atomic"
)

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
