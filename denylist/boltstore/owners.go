package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// Entries implements Counter: the size of the in-memory index.
func (s *EmbeddedStore) Entries(context.Context) (int64, error) { return int64(s.index.Len()), nil }

// OwnerRecords implements Counter: counted at open, then kept by Own.
func (s *EmbeddedStore) OwnerRecords(context.Context) (int64, error) {
	return max(s.ownerRecords.Load(), 0), nil
}

// countOwnerRecords counts the owner records of the file (once, at open).
func countOwnerRecords(tx *bolt.Tx) int64 {
	b := tx.Bucket(ownersBucket)
	if b == nil {
		return 0
	}
	return int64(b.Stats().KeyN)
}

// ---------------------------------------------------------------------------
// Embedded: a bbolt bucket beside the entries.

// ownersBucket holds one record per owned token: the key is the owner's
// digest, the owned entry's kind and its digest; the value its expiry
// (8 bytes, big endian Unix seconds). An owner's records are contiguous, so
// Owned is one range scan.
var ownersBucket = []byte("owners")

const ownerRecordKeySize = denylist.DigestSize + 1 + denylist.DigestSize

func ownerRecordKey(owner denylist.Digest, k denylist.Key) []byte {
	b := make([]byte, 0, ownerRecordKeySize)
	b = append(b, owner[:]...)
	b = append(b, byte(k.Kind))
	return append(b, k.Digest[:]...)
}

// Own implements Owners. The records are synced to disk before it returns;
// expired records of the same owner are removed on the way.
func (s *EmbeddedStore) Own(_ context.Context, owner denylist.Digest, owned ...denylist.Entry) error {
	for _, e := range owned {
		if !e.Kind.Valid() {
			return fmt.Errorf("denylist: own: entry of unknown kind %v", e.Kind)
		}
	}
	now := s.now()
	purgeAll := s.ownersPurge.Due(now)
	var added int64 // records added less records purged, by the last run of the batch function
	err := s.db.Batch(func(tx *bolt.Tx) error {
		added = 0
		b, err := tx.CreateBucketIfNotExists(ownersBucket)
		if err != nil {
			return err
		}
		for _, e := range owned {
			k := ownerRecordKey(owner, e.Key)
			old := b.Get(k)
			if len(old) == 8 && int64(binary.BigEndian.Uint64(old)) >= e.Expires {
				continue
			}
			if old == nil {
				added++
			}
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], uint64(e.Expires))
			if err := b.Put(k, v[:]); err != nil {
				return err
			}
		}
		prefix := owner[:]
		if purgeAll {
			prefix = nil
		}
		purged, err := purgeExpiredRecords(b, prefix, now.Unix())
		added -= int64(purged)
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: embedded store %q: recording token owners: %v", denylist.ErrUnavailable, s.path, err)
	}
	s.ownerRecords.Add(added)
	return nil
}

// purgeExpiredRecords deletes the records under prefix (nil: all) whose
// value, an expiry (8 bytes, big endian Unix seconds: owner records,
// signal set members), has passed at now (or that have none), and returns
// how many.
func purgeExpiredRecords(b *bolt.Bucket, prefix []byte, now int64) (int, error) {
	var expired [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= now {
			expired = append(expired, append([]byte(nil), k...))
		}
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(expired), nil
}

// Owned implements Owners.
func (s *EmbeddedStore) Owned(_ context.Context, owner denylist.Digest) ([]denylist.Entry, error) {
	now := s.now().Unix()
	var out []denylist.Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(ownersBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(owner[:]); k != nil && bytes.HasPrefix(k, owner[:]); k, v = c.Next() {
			if len(k) != ownerRecordKeySize || len(v) != 8 {
				continue
			}
			e := denylist.Entry{Cutoff: denylist.CutoffAlways, Expires: int64(binary.BigEndian.Uint64(v))}
			e.Kind = denylist.Kind(k[denylist.DigestSize])
			copy(e.Digest[:], k[denylist.DigestSize+1:])
			if e.Kind.Valid() && e.Live(now) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: embedded store %q: reading token owners: %v", denylist.ErrUnavailable, s.path, err)
	}
	return out, nil
}

// Interface guards.
var (
	_ denylist.Owners  = (*EmbeddedStore)(nil)
	_ denylist.Counter = (*EmbeddedStore)(nil)
)
