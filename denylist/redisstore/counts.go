package redisstore

import (
	"context"
	"errors"
	"strconv"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
)

// ownerRecordsKey is the counter of owner records that the owner scripts
// keep, one per partition, in the partition's hash slot. Records written
// before the counter existed are not counted (it never goes below 0).
func (p *redisPartition) ownerRecordsKey() string { return p.tag + ":owned_records" }

// ownersKey is the sorted set of the owners a partition's index holds, by
// expiry.
func (p *redisPartition) ownersKey() string { return p.tag + ":owners" }

// Entries implements Counter: HLEN of the legacy entries hashes, and the
// compact layout's counts (expired entries count until the purge removes
// them).
func (s *RedisStore) Entries(ctx context.Context) (int64, error) {
	legacy, err := s.sumPartitions(ctx, func(p redis.Pipeliner, part *redisPartition) *redis.IntCmd {
		return p.HLen(ctx, part.entriesKey)
	})
	if err == nil { // not the sentinels (redis_guard.go)
		var sentinels int64
		pipe := s.client.Pipeline()
		has := make([]*redis.BoolCmd, len(s.parts))
		for i := range s.parts {
			has[i] = pipe.HExists(ctx, s.parts[i].entriesKey, sentinelField)
		}
		if _, err = pipe.Exec(ctx); err != nil {
			return 0, s.unavailable(err)
		}
		for _, h := range has {
			if h.Val() {
				sentinels++
			}
		}
		legacy = max(legacy-sentinels, 0)
	}
	if err != nil || s.opts.Layout != LayoutCompact {
		return legacy, err // the upgrade layout holds every entry in both
	}
	compact, err := s.sumCounters(ctx, (*redisPartition).countKey)
	return legacy + compact, err
}

// OwnerRecords implements Counter: the sum of the counters the owner
// scripts keep.
func (s *RedisStore) OwnerRecords(ctx context.Context) (int64, error) {
	return s.sumCounters(ctx, (*redisPartition).ownerRecordsKey)
}

// sumCounters returns the sum of a counter of every partition (missing or
// negative counters count 0).
func (s *RedisStore) sumCounters(ctx context.Context, key func(*redisPartition) string) (int64, error) {
	var total int64
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(s.parts))
	for i := range s.parts {
		cmds[i] = pipe.Get(ctx, key(&s.parts[i]))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, s.unavailable(err)
	}
	for _, c := range cmds {
		n, _ := strconv.ParseInt(c.Val(), 10, 64)
		total += max(n, 0)
	}
	return total, nil
}

// sumPartitions sends cmd for every partition in one pipeline and returns
// the sum of the answers.
func (s *RedisStore) sumPartitions(ctx context.Context, cmd func(redis.Pipeliner, *redisPartition) *redis.IntCmd) (int64, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(s.parts))
	for i := range s.parts {
		cmds[i] = cmd(pipe, &s.parts[i])
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, s.unavailable(err)
	}
	var total int64
	for _, c := range cmds {
		total += c.Val()
	}
	return total, nil
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
	_ denylist.Counter = (*RedisStore)(nil)
	_ denylist.Counter = (*MirrorStore)(nil)
)
