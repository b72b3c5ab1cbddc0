package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
)

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
func (s *RedisStore) ownerKeys(owner denylist.Digest) (set, index, count string) {
	p := s.part(&owner)
	return p.tag + ":owned:" + owner.String(), p.ownersKey(), p.ownerRecordsKey()
}

// Own implements Owners with one script.
func (s *RedisStore) Own(ctx context.Context, owner denylist.Digest, owned ...denylist.Entry) error {
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
	if s.ownersPurge.Due(now) {
		// Best effort: a failed purge is retried at the next due time.
		for i := range s.parts {
			p := &s.parts[i]
			_ = ownersPurgeScript.Run(ctx, s.client, []string{p.ownersKey(), p.ownerRecordsKey()}, now.Unix(), redisPurgeBatch).Err()
		}
	}
	return nil
}

// Owned implements Owners.
func (s *RedisStore) Owned(ctx context.Context, owner denylist.Digest) ([]denylist.Entry, error) {
	set, _, _ := s.ownerKeys(owner)
	now := s.now().Unix()
	zs, err := s.client.ZRangeByScoreWithScores(ctx, set, &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, s.unavailable(err)
	}
	out := make([]denylist.Entry, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		k, err := denylist.ParseKey(m)
		if err != nil {
			continue
		}
		out = append(out, denylist.Entry{Key: k, Cutoff: denylist.CutoffAlways, Expires: int64(z.Score)})
	}
	return out, nil
}

// Interface guard.
var _ denylist.Owners = (*RedisStore)(nil)
