package denylist

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// Counter is a store that knows, cheaply (no scan), how many entries and
// owner records it holds: what a ceiling on its size is checked against.
type Counter interface {
	// Entries returns the number of entries held, live or not yet purged.
	Entries(ctx context.Context) (int64, error)
	// OwnerRecords returns the number of owner records (see Owners) held,
	// live or not yet purged.
	OwnerRecords(ctx context.Context) (int64, error)
}

// CounterOf returns the counter of store s, looking through wrapping
// stores as OwnersOf does, or nil when it has none.
func CounterOf(s Store) Counter {
	c, _ := findWrapped[Counter](s)
	return c
}

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

// ownerRecordsKey is the counter of owner records that the owner scripts
// keep, in the store's hash slot. Records written before the counter
// existed are not counted (it never goes below 0).
func (s *RedisStore) ownerRecordsKey() string {
	return strings.TrimSuffix(s.entriesKey, "entries") + "owned_records"
}

// Entries implements Counter: HLEN of the entries hash (expired entries
// count until the purge, every minute, removes them).
func (s *RedisStore) Entries(ctx context.Context) (int64, error) {
	n, err := s.client.HLen(ctx, s.entriesKey).Result()
	if err != nil {
		return 0, s.unavailable(err)
	}
	return n, nil
}

// OwnerRecords implements Counter: the counter the owner scripts keep.
func (s *RedisStore) OwnerRecords(ctx context.Context) (int64, error) {
	v, err := s.client.Get(ctx, s.ownerRecordsKey()).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return 0, nil
		}
		return 0, s.unavailable(err)
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return max(n, 0), nil
}

// Entries implements Counter from the in-process mirror, without asking
// Redis.
func (m *MirrorStore) Entries(context.Context) (int64, error) { return int64(m.Len()), nil }

// OwnerRecords implements Counter: the owner index lives in Redis only.
func (m *MirrorStore) OwnerRecords(ctx context.Context) (int64, error) {
	return m.rs.OwnerRecords(ctx)
}

// Interface guards.
var (
	_ Counter = (*EmbeddedStore)(nil)
	_ Counter = (*RedisStore)(nil)
	_ Counter = (*MirrorStore)(nil)
)
