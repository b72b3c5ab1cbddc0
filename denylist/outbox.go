package denylist

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLocked is returned by OpenOutbox when another process holds the file.
var ErrLocked = errors.New("the file is locked by another process (another Caddy using the same data directory?)")

// ErrOutboxFull is returned by Outbox.Add when the entries would take the
// outbox past its bound: nothing of them is kept (a confirmed revocation
// is then refused, 503, rather than silently dropped).
var ErrOutboxFull = errors.New("the outbox is full: the shared store has not taken what it holds for too long (is Redis reachable, writable?)")

// DefaultOutboxMax bounds the entries an outbox holds (OpenOutbox): about
// 10 MB of file.
const DefaultOutboxMax = 100_000

// EntryFile is the durable file of an Outbox (boltstore.OpenOutboxFile: a
// bbolt file): entries by key, read and changed in transactions.
type EntryFile interface {
	// Update runs fn in a write transaction, synced to disk before it
	// returns: every change fn made is kept when it returns nil, none when
	// it returns an error (which Update returns).
	Update(fn func(EntryTx) error) error
	// View runs fn in a read-only transaction.
	View(fn func(EntryTx) error) error
	// Close closes the file.
	Close() error
}

// EntryTx reads and changes an EntryFile within one of its transactions.
type EntryTx interface {
	// Get returns the entry stored under k; ok is false when there is
	// none, err is not nil when what is stored cannot be read.
	Get(k Key) (e Entry, ok bool, err error)
	// Put stores e under its key, over what was there.
	Put(e Entry) error
	// Delete removes what is stored under k.
	Delete(k Key) error
	// ForEach calls fn with every entry it can read (one it cannot is
	// passed over), until fn returns an error.
	ForEach(fn func(Entry) error) error
}

// OpenEntryFile opens (creating if needed) the entry file at path, waiting
// up to lockTimeout for another process's lock (then an error wrapping
// ErrLocked), and calls load with every entry it holds. When the file was
// unreadable and was set aside for a new, empty one, aside says so (for the
// caller to log at error level).
type OpenEntryFile func(path string, lockTimeout time.Duration, load func(Entry)) (f EntryFile, aside string, err error)

// Outbox is a durable local queue of revocations that a shared store (Redis)
// has not confirmed yet: an EntryFile, synced to disk before Add returns,
// and an Index of what it holds, so the instance enforces a pending
// revocation at once. Entries leave it only once the shared store has
// stored them (Drained). An outbox is opened by one process at a time.
type Outbox struct {
	file    EntryFile
	path    string
	pending *Index
	n       atomic.Int64 // entries held: a cheap emptiness test on the check path
	mu      sync.Mutex   // orders Add and Drained
	aside   string       // see SetAside
	max     int          // see SetMax
	// stored are the entries the shared store has stored but that could
	// not be deleted from the file (a full disk), by key: no longer
	// pending (not counted in n, not rewritten to the store), deleted by
	// RetryDelete. Guarded by mu.
	stored map[Key]Entry
	// writing are the entries callers of AddWriting are writing to the
	// shared store, by key, until Drained or Release: Unclaimed leaves
	// them out while the file holds them as they are. Guarded by mu.
	writing map[Key]Entry
	// failRemove, set by tests, fails deletions from the file.
	failRemove func() error
}

// SetMax bounds the entries the outbox holds (Add fails with
// ErrOutboxFull past it); n <= 0 restores DefaultOutboxMax.
func (o *Outbox) SetMax(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n <= 0 {
		n = DefaultOutboxMax
	}
	o.max = n
}

// Max returns the bound of SetMax.
func (o *Outbox) Max() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.max
}

// SetAside says, when the file was unreadable (cut short by a full disk)
// and was set aside for a new, empty one, what happened; "" otherwise.
func (o *Outbox) SetAside() string { return o.aside }

// OpenOutbox opens (creating if needed) the outbox file at path with open
// and loads what it holds. It waits up to lockTimeout for another process's
// lock, then fails with ErrLocked.
func OpenOutbox(open OpenEntryFile, path string, lockTimeout time.Duration) (*Outbox, error) {
	o := &Outbox{path: path, pending: NewIndex(), max: DefaultOutboxMax, stored: map[Key]Entry{}, writing: map[Key]Entry{}}
	f, aside, err := open(path, lockTimeout, func(e Entry) {
		o.pending.Put(e)
		o.n.Add(1)
	})
	if err != nil {
		return nil, err
	}
	o.file, o.aside = f, aside
	return o, nil
}

// putMerged writes e into tx, merged with the entry already under its key
// (later cut-off, later expiry); isNew is true when there was none.
func putMerged(tx EntryTx, e Entry) (merged Entry, isNew bool, err error) {
	prev, ok, err := tx.Get(e.Key)
	if ok && err == nil {
		e = e.Merge(prev)
	}
	return e, !ok, tx.Put(e)
}

// sameEntry reports whether tx holds e under its key, as it is (its
// cut-off and expiry: what the file keeps).
func sameEntry(tx EntryTx, e Entry) bool {
	old, ok, err := tx.Get(e.Key)
	return ok && err == nil && sameKept(old, e)
}

// sameKept reports whether a and b keep the same cut-off and expiry.
func sameKept(a, b Entry) bool { return a.Cutoff == b.Cutoff && a.Expires == b.Expires }

// Path returns the outbox's file.
func (o *Outbox) Path() string { return o.path }

// Len returns the number of entries waiting for the shared store.
func (o *Outbox) Len() int { return int(o.n.Load()) }

// Add records entries durably (fsync) and enforces them at once (Check).
// It keeps all of them or none: past the bound (SetMax) it fails with
// ErrOutboxFull.
func (o *Outbox) Add(entries ...Entry) error { return o.add(entries, false) }

// AddWriting is Add for a caller that writes the entries to the shared
// store itself at once: until it hands them to Drained (stored) or Release
// (not stored), Unclaimed leaves them out, so the background drain does
// not write them a second time meanwhile.
func (o *Outbox) AddWriting(entries ...Entry) error { return o.add(entries, true) }

// Release ends AddWriting's claim on entries the shared store did not
// take: Unclaimed returns them again, for the drain to write.
func (o *Outbox) Release(entries ...Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.release(entries)
}

// release ends the claims on entries (those still claimed as they are).
// o.mu is held.
func (o *Outbox) release(entries []Entry) {
	for _, e := range entries {
		if w, ok := o.writing[e.Key]; ok && sameKept(w, e) {
			delete(o.writing, e.Key)
		}
	}
}

func (o *Outbox) add(entries []Entry, writing bool) error {
	if len(entries) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	added := 0
	var again []Key // stored entries pending again (merged with a new one)
	merged := make([]Entry, 0, len(entries))
	err := o.file.Update(func(tx EntryTx) error {
		for _, e := range entries {
			k := e.Key
			_, wasStored := o.stored[k]
			e, isNew, err := putMerged(tx, e)
			if err != nil {
				return err
			}
			if isNew || wasStored && !slices.Contains(again, k) {
				added++
			}
			if wasStored {
				again = append(again, k)
			}
			merged = append(merged, e)
		}
		if int(o.n.Load())+added > o.max {
			return fmt.Errorf("%w: %d entries held, bound %d", ErrOutboxFull, o.n.Load(), o.max)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox %q: %w", o.path, err)
	}
	for _, k := range again {
		delete(o.stored, k)
	}
	if writing {
		for _, e := range entries {
			o.writing[e.Key] = e
		}
	}
	o.pending.Put(merged...)
	o.n.Add(int64(added))
	return nil
}

// Pending returns every entry the outbox holds.
func (o *Outbox) Pending() []Entry { return o.pendingEntries(false) }

// Unclaimed returns the entries the outbox holds that no caller of
// AddWriting is writing to the shared store: what the drain writes.
func (o *Outbox) Unclaimed() []Entry { return o.pendingEntries(true) }

func (o *Outbox) pendingEntries(unclaimed bool) []Entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Entry
	_ = o.file.View(func(tx EntryTx) error {
		return tx.ForEach(func(e Entry) error {
			if _, stored := o.stored[e.Key]; stored {
				return nil
			}
			if w, ok := o.writing[e.Key]; unclaimed && ok && sameKept(w, e) {
				return nil
			}
			out = append(out, e)
			return nil
		})
	})
	return out
}

// Drained removes entries the shared store has stored: each as it was
// handed to the store (an entry merged with a later Add since stays until
// that is stored too). When the file cannot be changed (a full disk), it
// fails, but the entries are no longer pending all the same (not handed
// to the store again): RetryDelete deletes them from the file later.
// It ends AddWriting's claim on them.
func (o *Outbox) Drained(entries ...Entry) error {
	return o.remove(entries, true)
}

// Undeleted returns how many stored entries wait for RetryDelete.
func (o *Outbox) Undeleted() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.stored)
}

// RetryDelete deletes from the file the entries Drained could not delete
// (unless an Add has changed them since).
func (o *Outbox) RetryDelete() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.stored) == 0 {
		return nil
	}
	err := o.update(func(tx EntryTx) error {
		for k, e := range o.stored {
			if sameEntry(tx, e) {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox %q: deleting %d stored entries: %w", o.path, len(o.stored), err)
	}
	clear(o.stored)
	return nil
}

// update runs fn in a write transaction (failRemove first).
func (o *Outbox) update(fn func(EntryTx) error) error {
	if o.failRemove != nil {
		if err := o.failRemove(); err != nil {
			return err
		}
	}
	return o.file.Update(fn)
}

// Drop removes the entries with these keys, whatever they hold (an
// un-revocation).
func (o *Outbox) Drop(keys ...Key) error {
	es := make([]Entry, len(keys))
	for i, k := range keys {
		es[i] = Entry{Key: k}
	}
	return o.remove(es, false)
}

func (o *Outbox) remove(entries []Entry, sameOnly bool) error {
	if len(entries) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if sameOnly {
		defer o.release(entries)
	}
	var gone []Key // pending entries deleted
	var wasStored []Key
	err := o.update(func(tx EntryTx) error {
		gone, wasStored = gone[:0], wasStored[:0]
		for _, e := range entries {
			k := e.Key
			if _, ok, _ := tx.Get(k); !ok || (sameOnly && !sameEntry(tx, e)) {
				continue
			}
			if err := tx.Delete(k); err != nil {
				return err
			}
			if _, ok := o.stored[k]; ok {
				wasStored = append(wasStored, k)
				continue
			}
			gone = append(gone, k)
		}
		return nil
	})
	if err != nil {
		if sameOnly {
			o.markStored(entries)
		}
		return fmt.Errorf("outbox %q: %w", o.path, err)
	}
	for _, k := range wasStored {
		delete(o.stored, k)
	}
	o.pending.Delete(gone...)
	o.n.Add(-int64(len(gone)))
	return nil
}

// markStored notes entries the shared store has stored but the file could
// not lose: those the file holds as they are (not changed by an Add since)
// are no longer pending, and wait for RetryDelete. o.mu is held.
func (o *Outbox) markStored(entries []Entry) {
	var gone []Key
	_ = o.file.View(func(tx EntryTx) error {
		for _, e := range entries {
			if _, ok := o.stored[e.Key]; ok {
				continue
			}
			if sameEntry(tx, e) {
				o.stored[e.Key] = e
				gone = append(gone, e.Key)
			}
		}
		return nil
	})
	o.pending.Delete(gone...)
	o.n.Add(-int64(len(gone)))
}

// Check answers q from the pending entries at Unix time now.
func (o *Outbox) Check(q *Query, now int64) Match {
	if o.n.Load() == 0 {
		return Match{}
	}
	return o.pending.Check(q, now)
}

// Get returns the pending live entry with this key, if any.
func (o *Outbox) Get(k Key, now int64) (Entry, bool) {
	if o.n.Load() == 0 {
		return Entry{}, false
	}
	return o.pending.Get(k, now)
}

// Close closes the file.
func (o *Outbox) Close() error { return o.file.Close() }
