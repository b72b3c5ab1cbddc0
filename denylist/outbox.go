package denylist

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var outboxBucket = []byte("pending")

// ErrLocked is returned by OpenOutbox when another process holds the file.
var ErrLocked = errors.New("the file is locked by another process (another Caddy using the same data directory?)")

// ErrOutboxFull is returned by Outbox.Add when the entries would take the
// outbox past its bound: nothing of them is kept (a confirmed revocation
// is then refused, 503, rather than silently dropped).
var ErrOutboxFull = errors.New("the outbox is full: the shared store has not taken what it holds for too long (is Redis reachable, writable?)")

// DefaultOutboxMax bounds the entries an outbox holds (OpenOutbox): about
// 10 MB of file.
const DefaultOutboxMax = 100_000

// Outbox is a durable local queue of revocations that a shared store (Redis)
// has not confirmed yet: a bbolt file, synced to disk before Add returns,
// and an Index of what it holds, so the instance enforces a pending
// revocation at once. Entries leave it only once the shared store has
// stored them (Drained). An outbox is opened by one process at a time.
type Outbox struct {
	db      *bolt.DB
	path    string
	pending *Index
	n       atomic.Int64 // entries held: a cheap emptiness test on the check path
	mu      sync.Mutex   // orders Add and Drained
	aside   string       // see SetAside
	max     int          // see SetMax
	// stored are the entries the shared store has stored but that could
	// not be deleted from the file (a full disk), by bbolt key: no longer
	// pending (not counted in n, not rewritten to the store), deleted by
	// RetryDelete. Guarded by mu.
	stored map[string][]byte
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

// OpenOutbox opens (creating if needed) the outbox file at path and loads
// what it holds. It waits up to lockTimeout for another process's lock,
// then fails with ErrLocked.
func OpenOutbox(path string, lockTimeout time.Duration) (*Outbox, error) {
	o := &Outbox{path: path, pending: NewIndex(), max: DefaultOutboxMax, stored: map[string][]byte{}}
	db, aside, err := OpenBoltEntries("outbox", path, lockTimeout, outboxBucket, func(e Entry) {
		o.pending.Put(e)
		o.n.Add(1)
	})
	if err != nil {
		return nil, err
	}
	o.db, o.aside = db, aside
	return o, nil
}

// OpenBoltEntries opens (creating if needed, whole or not at all) the
// bbolt file at path, waiting up to lockTimeout for another process's lock
// (then ErrLocked), creates bucket, and calls fn with every entry it
// holds. A file that a full disk cut short is set aside (boltfile.go) for
// a new one, and aside says so (for the caller to log at error level).
// Errors name what and path.
func OpenBoltEntries(what, path string, lockTimeout time.Duration, bucket []byte, fn func(Entry)) (_ *bolt.DB, aside string, _ error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("%s %q: %w", what, path, err)
	}
	if err := createBoltFile(path, bucket); err != nil {
		return nil, "", fmt.Errorf("%s %q: creating it: %w (is the disk full?)", what, path, err)
	}
	if err := checkBoltFile(path); err != nil {
		moved, rerr := setAsideBolt(path)
		if rerr != nil {
			return nil, "", fmt.Errorf("%s %q is unreadable: %v; setting it aside failed: %w: move it away by hand", what, path, err, rerr)
		}
		aside = fmt.Sprintf("%s %q was unreadable: %v: set aside as %q; starting with a new, empty one", what, path, err, moved)
		if err := createBoltFile(path, bucket); err != nil {
			return nil, "", fmt.Errorf("%s %q: creating it: %w (is the disk full?)", what, path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, "", fmt.Errorf("%s %q: %w", what, path, ErrLocked)
		}
		return nil, "", fmt.Errorf("%s %q: %w", what, path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			e, err := DecodeBolt(k, v)
			if err != nil {
				return err
			}
			fn(e)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, "", fmt.Errorf("%s %q: loading entries: %w", what, path, err)
	}
	return db, aside, nil
}

// PutMerged writes e into bucket b, merged with the entry already under
// its key (later cut-off, later expiry); isNew is true when there was none.
func PutMerged(b *bolt.Bucket, e Entry) (merged Entry, isNew bool, err error) {
	k, v := EncodeBolt(e)
	old := b.Get(k)
	if old != nil {
		if prev, err := DecodeBolt(k, old); err == nil {
			e = e.Merge(prev)
			_, v = EncodeBolt(e)
		}
	}
	return e, old == nil, b.Put(k, v)
}

// Path returns the outbox's file.
func (o *Outbox) Path() string { return o.path }

// Len returns the number of entries waiting for the shared store.
func (o *Outbox) Len() int { return int(o.n.Load()) }

// Add records entries durably (fsync) and enforces them at once (Check).
// It keeps all of them or none: past the bound (SetMax) it fails with
// ErrOutboxFull.
func (o *Outbox) Add(entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	added := 0
	var again []string // stored entries pending again (merged with a new one)
	merged := make([]Entry, 0, len(entries))
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket)
		for _, e := range entries {
			k, _ := EncodeBolt(e)
			_, wasStored := o.stored[string(k)]
			e, isNew, err := PutMerged(b, e)
			if err != nil {
				return err
			}
			if isNew || wasStored && !slices.Contains(again, string(k)) {
				added++
			}
			if wasStored {
				again = append(again, string(k))
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
	o.pending.Put(merged...)
	o.n.Add(int64(added))
	return nil
}

// Pending returns every entry the outbox holds.
func (o *Outbox) Pending() []Entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Entry
	_ = o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(outboxBucket).ForEach(func(k, v []byte) error {
			if _, stored := o.stored[string(k)]; stored {
				return nil
			}
			if e, err := DecodeBolt(k, v); err == nil {
				out = append(out, e)
			}
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
	err := o.update(func(b *bolt.Bucket) error {
		for k, v := range o.stored {
			if old := b.Get([]byte(k)); old != nil && bytes.Equal(old, v) {
				if err := b.Delete([]byte(k)); err != nil {
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

// update runs fn on the bucket in a write transaction (failRemove first).
func (o *Outbox) update(fn func(b *bolt.Bucket) error) error {
	if o.failRemove != nil {
		if err := o.failRemove(); err != nil {
			return err
		}
	}
	return o.db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(outboxBucket)) })
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
	var gone []Key // pending entries deleted
	var wasStored []string
	err := o.update(func(b *bolt.Bucket) error {
		gone, wasStored = gone[:0], wasStored[:0]
		for _, e := range entries {
			k, v := EncodeBolt(e)
			old := b.Get(k)
			if old == nil || (sameOnly && !bytes.Equal(old, v)) {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			if _, ok := o.stored[string(k)]; ok {
				wasStored = append(wasStored, string(k))
				continue
			}
			gone = append(gone, e.Key)
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
	_ = o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket)
		for _, e := range entries {
			k, v := EncodeBolt(e)
			if _, ok := o.stored[string(k)]; ok {
				continue
			}
			if old := b.Get(k); old != nil && bytes.Equal(old, v) {
				o.stored[string(k)] = v
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
func (o *Outbox) Close() error { return o.db.Close() }
