// Package boltstore holds what is kept in bbolt files, the only package
// that imports bbolt: EmbeddedStore, the denylist of a single Caddy
// instance, with its owner index (owners.go); the file of a Resilient
// store's outbox (OpenOutboxFile); and what a full disk does to such a
// file (boltfile.go).
package boltstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

var entriesBucket = []byte("entries")

// embeddedLockTimeout is how long OpenEmbedded waits for another process's
// lock on the file before giving up (a variable so tests can shorten it).
var embeddedLockTimeout = 5 * time.Second

// EmbeddedStore is a single-instance denylist kept in a bbolt file. Every
// revocation is synced to disk before Revoke returns; the live entries are
// also held in an Index, so a check never touches the disk.
type EmbeddedStore struct {
	db    *bolt.DB
	path  string
	index *denylist.Index
	now   func() time.Time

	ownerRecords atomic.Int64 // see OwnerRecords
	ownersPurge  denylist.OwnersPurgeClock
	revoked      denylist.RevokedListeners // see OnRevoked

	aside string // see SetAside

	stop chan struct{}
	done sync.WaitGroup
}

// SetAside says, when the file was unreadable (cut short by a full disk)
// and was set aside for a new, empty one, what happened; "" otherwise. The
// caller logs it at error level: the revocations it held are not enforced
// until the file set aside is recovered by hand.
func (s *EmbeddedStore) SetAside() string { return s.aside }

// OpenEmbedded opens (creating if needed) the bbolt file at path, loads its
// live entries and starts purging expired ones every purgeEvery.
func OpenEmbedded(path string, purgeEvery time.Duration) (*EmbeddedStore, error) {
	s := &EmbeddedStore{path: path, index: denylist.NewIndex(), now: time.Now, stop: make(chan struct{})}
	now := s.now().Unix()
	db, aside, err := openBoltEntries("embedded store", path, embeddedLockTimeout, entriesBucket, func(e denylist.Entry) {
		if e.Live(now) {
			s.index.Put(e)
		}
	})
	if err != nil {
		return nil, err
	}
	s.db, s.aside = db, aside
	_ = db.View(func(tx *bolt.Tx) error {
		s.ownerRecords.Store(countOwnerRecords(tx))
		return nil
	})
	if purgeEvery > 0 {
		s.done.Add(1)
		go s.purgeLoop(purgeEvery)
	}
	return s, nil
}

// Path returns the file the store lives in.
func (s *EmbeddedStore) Path() string { return s.path }

// Revoke implements Store. Concurrent calls are batched into one fsync.
func (s *EmbeddedStore) Revoke(_ context.Context, entries ...denylist.Entry) error {
	merged := make([]denylist.Entry, len(entries))
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(entriesBucket)
		for i, e := range entries {
			var err error
			if merged[i], _, err = putMerged(b, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: embedded store %q: %v", denylist.ErrUnavailable, s.path, err)
	}
	s.index.Put(merged...)
	s.revoked.Notify(merged)
	return nil
}

// Unrevoke implements Store.
func (s *EmbeddedStore) Unrevoke(_ context.Context, keys ...denylist.Key) error {
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(entriesBucket)
		for _, key := range keys {
			k, _ := encodeBolt(denylist.Entry{Key: key})
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: embedded store %q: %v", denylist.ErrUnavailable, s.path, err)
	}
	s.index.Delete(keys...)
	return nil
}

// Check implements Store; it reads only memory.
func (s *EmbeddedStore) Check(_ context.Context, q *denylist.Query) (denylist.Match, error) {
	return s.index.Check(q, s.now().Unix()), nil
}

// Get implements Store.
func (s *EmbeddedStore) Get(_ context.Context, key denylist.Key) (denylist.Entry, bool, error) {
	e, ok := s.index.Get(key, s.now().Unix())
	return e, ok, nil
}

// List implements Store. The cursor is the storage key of the last entry
// returned.
func (s *EmbeddedStore) List(_ context.Context, cursor string, limit int) ([]denylist.Entry, string, error) {
	if limit <= 0 {
		limit = denylist.DefaultListLimit // with limit 0, the loop below would index out[-1]
	}
	var after []byte
	if cursor != "" {
		k, err := denylist.ParseKey(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("cursor: %w", err)
		}
		after, _ = encodeBolt(denylist.Entry{Key: k})
	}
	now := s.now().Unix()
	var out []denylist.Entry
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(entriesBucket).Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(after)
			if k != nil && string(k) == string(after) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			e, err := decodeBolt(k, v)
			if err != nil || !e.Live(now) {
				continue
			}
			if len(out) == limit {
				next = out[len(out)-1].Key.String()
				break
			}
			out = append(out, e)
		}
		return nil
	})
	return out, next, err
}

// Status implements Store.
func (s *EmbeddedStore) Status(context.Context) denylist.Status {
	return denylist.Status{Backend: "embedded", Healthy: true, Entries: s.index.Len(),
		Details: map[string]any{"path": s.path}}
}

// Purge deletes the entries expired at now from disk and memory.
func (s *EmbeddedStore) Purge(now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(entriesBucket)
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if e, err := decodeBolt(k, v); err == nil && !e.Live(now.Unix()) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	s.index.Purge(now.Unix())
	return n, err
}

func (s *EmbeddedStore) purgeLoop(every time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_, _ = s.Purge(s.now())
		}
	}
}

// Close stops purging and closes the file.
func (s *EmbeddedStore) Close() error {
	close(s.stop)
	s.done.Wait()
	return s.db.Close()
}

// Generation implements Generational: the embedded store answers every
// check from its Index.
func (s *EmbeddedStore) Generation(time.Time) (uint64, bool) { return s.index.Generation(), true }

// OnRevoked implements RevokedNotifier: fn is told of every entry this
// store's Revoke stores, once synced to disk.
func (s *EmbeddedStore) OnRevoked(fn func([]denylist.Entry)) (remove func()) {
	return s.revoked.Add(fn)
}
