package denylist

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// Owners is an index from an owner (a user of an application, the grant of
// a refresh token) to the tokens it holds. It serves the revocations that
// name an owner rather than a token, when the tokens are opaque and carry no
// claim that links them to it: Usergrid's "revoke every token of this user",
// or RFC 7009's "revoking a refresh token revokes the access tokens of its
// grant". The gateway writes it when it sees a token endpoint hand a token
// out, and reads it when the owner is revoked: each token the owner holds is
// then revoked by its own KindToken entry.
//
// The request check never reads the index: checking an opaque token stays
// one map look-up of its own digest, whatever its owner.
//
// An owner is a Digest of kind KindOwner (see Hasher.Digest); an owned token
// is an Entry whose Key is the entry that revokes it and whose Expires says
// when it expires (its Cutoff is not used).
type Owners interface {
	// Own records that the tokens of owned belong to owner, each until
	// its Expires. A token recorded again keeps the later expiry. It
	// returns nil only when every record is stored.
	Own(ctx context.Context, owner Digest, owned ...Entry) error
	// Owned returns the tokens owner holds that have not expired.
	Owned(ctx context.Context, owner Digest) ([]Entry, error)
}

// OwnersOf returns the owner index kept beside store s, or nil when it has
// none. A store that wraps another (an in-process mirror, say) is looked
// through when it has an `Unwrap() Store` method.
func OwnersOf(s Store) Owners {
	o, _ := findWrapped[Owners](s)
	return o
}

// findWrapped returns the first of s and the stores it wraps (through
// `Unwrap() Store`) that is a T.
func findWrapped[T any](s Store) (T, bool) {
	for i := 0; s != nil && i < 8; i++ {
		if v, ok := s.(T); ok {
			return v, true
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	var zero T
	return zero, false
}

// ownersPurgeEvery is how often a store removes the records of owners
// whose tokens have all expired (records of an owner that is written again
// are pruned on every write).
const ownersPurgeEvery = 10 * time.Minute

// ownersPurgeClock is when a store last purged its owner index in full
// (Unix seconds), a field of each store that keeps owners, so it lives and
// dies with its store.
type ownersPurgeClock struct{ last atomic.Int64 }

// due reports whether the store should purge its owner index now, and if
// so marks it done.
func (c *ownersPurgeClock) due(now time.Time) bool {
	prev := c.last.Load()
	if now.Unix()-prev < int64(ownersPurgeEvery/time.Second) {
		return false
	}
	return c.last.CompareAndSwap(prev, now.Unix())
}

// ---------------------------------------------------------------------------
// Embedded: a bbolt bucket beside the entries.

// ownersBucket holds one record per owned token: the key is the owner's
// digest, the owned entry's kind and its digest; the value its expiry
// (8 bytes, big endian Unix seconds). An owner's records are contiguous, so
// Owned is one range scan.
var ownersBucket = []byte("owners")

const ownerRecordKeySize = DigestSize + 1 + DigestSize

func ownerRecordKey(owner Digest, k Key) []byte {
	b := make([]byte, 0, ownerRecordKeySize)
	b = append(b, owner[:]...)
	b = append(b, byte(k.Kind))
	return append(b, k.Digest[:]...)
}

// Own implements Owners. The records are synced to disk before it returns;
// expired records of the same owner are removed on the way.
func (s *EmbeddedStore) Own(_ context.Context, owner Digest, owned ...Entry) error {
	for _, e := range owned {
		if !e.Kind.Valid() {
			return fmt.Errorf("denylist: own: entry of unknown kind %v", e.Kind)
		}
	}
	now := s.now()
	purgeAll := s.ownersPurge.due(now)
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
		purged, err := purgeOwnerRecords(b, prefix, now.Unix())
		added -= int64(purged)
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: embedded store %q: recording token owners: %v", ErrUnavailable, s.path, err)
	}
	s.ownerRecords.Add(added)
	return nil
}

// purgeOwnerRecords deletes the records under prefix (nil: all) that have
// expired at now, and returns how many.
func purgeOwnerRecords(b *bolt.Bucket, prefix []byte, now int64) (int, error) {
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
func (s *EmbeddedStore) Owned(_ context.Context, owner Digest) ([]Entry, error) {
	now := s.now().Unix()
	var out []Entry
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
			e := Entry{Cutoff: CutoffAlways, Expires: int64(binary.BigEndian.Uint64(v))}
			e.Kind = Kind(k[DigestSize])
			copy(e.Digest[:], k[DigestSize+1:])
			if e.Kind.Valid() && e.Live(now) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: embedded store %q: reading token owners: %v", ErrUnavailable, s.path, err)
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Redis: one sorted set per owner, in the hash slot of its partition.

// ownScript records owned tokens. KEYS: the owner's sorted set, the index
// of owner sets. ARGV[1]: now (Unix seconds); then pairs of member (the
// owned entry's Key.String()) and expiry. A member keeps the later expiry;
// members expired at now are dropped; the owner's set is scored in the
// index by its latest expiry, from which ownersPurgeScript removes it once
// everything it holds has expired. KEYS[3], the count of owner records
// (see OwnerRecords), follows the set's size. No key gets a TTL: a
// volatile-* maxmemory-policy must not be able to evict an owner's tokens.
var ownScript = redis.NewScript(`
local before = redis.call('ZCARD', KEYS[1])
for i = 2, #ARGV, 2 do
  local m = ARGV[i]
  local e = tonumber(ARGV[i + 1])
  local old = redis.call('ZSCORE', KEYS[1], m)
  if (not old) or tonumber(old) < e then
    redis.call('ZADD', KEYS[1], ARGV[i + 1], m)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #top == 2 then
  redis.call('ZADD', KEYS[2], top[2], KEYS[1])
else
  redis.call('ZREM', KEYS[2], KEYS[1])
end
redis.call('INCRBY', KEYS[3], redis.call('ZCARD', KEYS[1]) - before)
return 1
`)

// ownersPurgeScript removes up to ARGV[2] owner sets whose tokens have all
// expired at ARGV[1]. KEYS: the index of owner sets (the sets share its
// hash slot), the count of owner records.
var ownersPurgeScript = redis.NewScript(`
local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local n = 0
for _, k in ipairs(m) do
  n = n + redis.call('ZCARD', k)
  redis.call('DEL', k)
end
redis.call('DECRBY', KEYS[2], n)
if #m > 0 then
  redis.call('ZREM', KEYS[1], unpack(m))
end
return #m
`)

// ownerKeys returns the name of owner's sorted set, of the index of owner
// sets and of the count of owner records: "{prefix}:owned:<hex>",
// "{prefix}:owners" and "{prefix}:owned_records", in the hash slot of the
// owner's partition.
func (s *RedisStore) ownerKeys(owner Digest) (set, index, count string) {
	p := s.part(&owner)
	return p.tag + ":owned:" + owner.String(), p.ownersKey(), p.ownerRecordsKey()
}

// Own implements Owners with one script.
func (s *RedisStore) Own(ctx context.Context, owner Digest, owned ...Entry) error {
	args := make([]any, 0, 1+2*len(owned))
	now := s.now()
	args = append(args, now.Unix())
	for _, e := range owned {
		if !e.Kind.Valid() {
			return fmt.Errorf("denylist: own: entry of unknown kind %v", e.Kind)
		}
		args = append(args, e.Key.String(), e.Expires)
	}
	set, index, count := s.ownerKeys(owner)
	if err := ownScript.Run(ctx, s.client, []string{set, index, count}, args...).Err(); err != nil {
		return s.unavailable(err)
	}
	if s.ownersPurge.due(now) {
		// Best effort: a failed purge is retried at the next due time.
		for i := range s.parts {
			p := &s.parts[i]
			_ = ownersPurgeScript.Run(ctx, s.client, []string{p.ownersKey(), p.ownerRecordsKey()}, now.Unix(), redisPurgeBatch).Err()
		}
	}
	return nil
}

// Owned implements Owners.
func (s *RedisStore) Owned(ctx context.Context, owner Digest) ([]Entry, error) {
	set, _, _ := s.ownerKeys(owner)
	now := s.now().Unix()
	zs, err := s.client.ZRangeByScoreWithScores(ctx, set, &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, s.unavailable(err)
	}
	out := make([]Entry, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		k, err := ParseKey(m)
		if err != nil {
			continue
		}
		out = append(out, Entry{Key: k, Cutoff: CutoffAlways, Expires: int64(z.Score)})
	}
	return out, nil
}

// Interface guards.
var (
	_ Owners = (*EmbeddedStore)(nil)
	_ Owners = (*RedisStore)(nil)
)
