package redisstore

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// ---------------------------------------------------------------------------
// SignalState: per source, a string per value and a sorted set per set,
// its members scored by their expiry, named "<tag>:signals:<source>:..."
// in the hash tag of the first partition ("{trv}" by default): one
// cluster slot, and the keys the documented ACL pattern (~{trv}:*)
// already grants. No key gets a TTL: a volatile-* maxmemory-policy must
// not evict the events a receiver applied, nor the stream it uses.

// signalKey returns the name of source's key of kind ("v" a value, "s" a
// set) called name.
func (s *RedisStore) signalKey(source, kind, name string) string {
	return s.parts[0].tag + ":signals:" + source + ":" + kind + ":" + name
}

// SignalValue implements SignalState.
func (s *RedisStore) SignalValue(ctx context.Context, source, name string) (string, error) {
	v, err := s.client.Get(ctx, s.signalKey(source, "v", name)).Result()
	if err == redis.Nil {
		return "", nil
	}
	if err != nil {
		return "", s.unavailable(err)
	}
	return v, nil
}

// SetSignalValue implements SignalState.
func (s *RedisStore) SetSignalValue(ctx context.Context, source, name, value string) error {
	if err := s.client.Set(ctx, s.signalKey(source, "v", name), value, 0).Err(); err != nil {
		return s.unavailable(err)
	}
	return nil
}

// swapSignalValue sets KEYS[1] to ARGV[2] if its value is ARGV[1] (""
// for none), and returns the value it holds after.
var swapSignalValue = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or ''
if cur == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2])
	return ARGV[2]
end
return cur`)

// SwapSignalValue implements SignalState: one script, so two instances
// swapping at once are served one after the other.
func (s *RedisStore) SwapSignalValue(ctx context.Context, source, name, old, value string) (string, error) {
	v, err := swapSignalValue.Run(ctx, s.client, []string{s.signalKey(source, "v", name)}, old, value).Text()
	if err != nil {
		return "", s.unavailable(err)
	}
	return v, nil
}

// AddSignalMembers implements SignalState: ZADD GT (a later expiry wins)
// and the set's expired members removed, in one transaction.
func (s *RedisStore) AddSignalMembers(ctx context.Context, source, set string, expires int64, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	key := s.signalKey(source, "s", set)
	zs := make([]redis.Z, len(members))
	for i, m := range members {
		zs[i] = redis.Z{Score: float64(expires), Member: m}
	}
	now := strconv.FormatInt(s.now().Unix(), 10)
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAddGT(ctx, key, zs...)
		p.ZRemRangeByScore(ctx, key, "-inf", now)
		return nil
	})
	if err != nil {
		return s.unavailable(err)
	}
	return nil
}

// SignalMember implements SignalState.
func (s *RedisStore) SignalMember(ctx context.Context, source, set, member string) (bool, error) {
	score, err := s.client.ZScore(ctx, s.signalKey(source, "s", set), member).Result()
	if err == redis.Nil {
		return false, nil
	}
	if err != nil {
		return false, s.unavailable(err)
	}
	return int64(score) > s.now().Unix(), nil
}

// SignalMembers implements SignalState.
func (s *RedisStore) SignalMembers(ctx context.Context, source, set string) ([]string, error) {
	m, err := s.client.ZRangeByScore(ctx, s.signalKey(source, "s", set), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(s.now().Unix(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, s.unavailable(err)
	}
	return m, nil
}

// RemoveSignalMembers implements SignalState.
func (s *RedisStore) RemoveSignalMembers(ctx context.Context, source, set string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	if err := s.client.ZRem(ctx, s.signalKey(source, "s", set), args...).Err(); err != nil {
		return s.unavailable(err)
	}
	return nil
}

var _ denylist.SignalState = (*RedisStore)(nil)
