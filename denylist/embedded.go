package denylist

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
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
	index *Index
	now   func() time.Time

	ownerRecords atomic.Int64 // see OwnerRecords
	ownersPurge  OwnersPurgeClock
	revoked      revokedListeners // see OnRevoked

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
	s := &EmbeddedStore{path: path, index: NewIndex(), now: time.Now, stop: make(chan struct{})}
	now := s.now().Unix()
	db, aside, err := openBoltEntries("embedded store", path, embeddedLockTimeout, entriesBucket, func(e Entry) {
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

func encodeBolt(e Entry) (k, v []byte) {
	k = make([]byte, 1+DigestSize)
	k[0] = byte(e.Kind)
	copy(k[1:], e.Digest[:])
	v = make([]byte, 16)
	binary.BigEndian.PutUint64(v[:8], uint64(e.Expires))
	binary.BigEndian.PutUint64(v[8:], uint64(e.Cutoff))
	return k, v
}

func decodeBolt(k, v []byte) (Entry, error) {
	var e Entry
	if len(k) != 1+DigestSize || len(v) != 16 || !Kind(k[0]).Valid() {
		return e, fmt.Errorf("corrupt entry %x", k)
	}
	e.Kind = Kind(k[0])
	copy(e.Digest[:], k[1:])
	e.Expires = int64(binary.BigEndian.Uint64(v[:8]))
	e.Cutoff = int64(binary.BigEndian.Uint64(v[8:]))
	return e, nil
}

// Revoke implements Store. Concurrent calls are batched into one fsync.
func (s *EmbeddedStore) Revoke(_ context.Context, entries ...Entry) error {
	merged := make([]Entry, len(entries))
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
		return fmt.Errorf("%w: embedded store %q: %v", ErrUnavailable, s.path, err)
	}
	s.index.Put(merged...)
	s.revoked.notify(merged)
	return nil
}

// Unrevoke implements Store.
func (s *EmbeddedStore) Unrevoke(_ context.Context, keys ...Key) error {
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(entriesBucket)
		for _, key := range keys {
			k, _ := encodeBolt(Entry{Key: key})
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: embedded store %q: %v", ErrUnavailable, s.path, err)
	}
	s.index.Delete(keys...)
	return nil
}

// Check implements Store; it reads only memory.
func (s *EmbeddedStore) Check(_ context.Context, q *Query) (Match, error) {
	return s.index.Check(q, s.now().Unix()), nil
}

// Get implements Store.
func (s *EmbeddedStore) Get(_ context.Context, key Key) (Entry, bool, error) {
	e, ok := s.index.Get(key, s.now().Unix())
	return e, ok, nil
}

// List implements Store. The cursor is the storage key of the last entry
// returned.
func (s *EmbeddedStore) List(_ context.Context, cursor string, limit int) ([]Entry, string, error) {
	if limit <= 0 {
		limit = defaultListLimit // with limit 0, the loop below would index out[-1]
	}
	var after []byte
	if cursor != "" {
		k, err := ParseKey(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("cursor: %w", err)
		}
		after, _ = encodeBolt(Entry{Key: k})
	}
	now := s.now().Unix()
	var out []Entry
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
func (s *EmbeddedStore) Status(context.Context) Status {
	return Status{Backend: "embedded", Healthy: true, Entries: s.index.Len(),
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
func (s *EmbeddedStore) Generation() (uint64, bool) { return s.index.Generation(), true }

// OnRevoked implements RevokedNotifier: fn is told of every entry this
// store's Revoke stores, once synced to disk.
func (s *EmbeddedStore) OnRevoked(fn func([]Entry)) (remove func()) { return s.revoked.add(fn) }
