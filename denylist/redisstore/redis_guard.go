package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Redis can lose part of the denylist without losing all of it: a
// maxmemory-policy of allkeys-* evicts whole keys under memory pressure,
// the entries hash or the expiry set among them, while the epoch and the
// stream stay. The epoch alone (mirror_proof.go) does not see that. So an
// epoch written by this release (its value starts with "s") comes with a
// sentinel in each key that holds entries: a field sentinelField of the
// entries hash whose value is the epoch, and a member sentinelField of the
// expiry set scored +inf (never purged). A key evicted takes its sentinel
// with it; a write recreating the key does not put it back (only renewEpoch
// does). An epoch whose sentinels are gone is replaced by a new one, as if
// Redis had restarted empty: every mirror writes back what it holds, new
// instances wait Settle, and a direct store fails its checks meanwhile.
//
// The compact layout's buckets carry no sentinel: with it, the
// eviction-policy check is the guard.

// sentinelField is the sentinel's field in the entries hash and member of
// the expiry set: not a Key.String(), so never read as an entry.
const sentinelField = "!sentinel"

// evictionCheckEvery is how often a RedisStore reads maxmemory-policy
// again (and at once after a new connection).
const evictionCheckEvery = 10 * time.Second

// epochHasSentinel reports whether an epoch value was written with its
// sentinels (by this release); earlier ones were not.
func epochHasSentinel(epoch string) bool { return strings.HasPrefix(epoch, "s") }

// sameEpoch reports whether a and b are the same epoch, one of them
// perhaps upgraded to carry sentinels since (the same value with an "s"
// before it): no data was lost in between.
func sameEpoch(a, b string) bool {
	return strings.TrimPrefix(a, "s") == strings.TrimPrefix(b, "s")
}

// renewEpochScript replaces partition's epoch, when it still holds
// ARGV[1] ("" for none), by ARGV[2] and writes ARGV[2]'s sentinels. KEYS:
// epoch, entries hash, expiry set. It returns the epoch now held.
var renewEpochScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], '` + sentinelField + `', ARGV[2])
redis.call('ZADD', KEYS[3], '+inf', '` + sentinelField + `')
return ARGV[2]
`)

// epochState reads partition p's epoch ("" when missing) and whether the
// keys that hold its entries still hold its sentinels (always true for an
// epoch without sentinels, which cannot tell): one round trip, no write.
func (s *RedisStore) epochState(ctx context.Context, c redis.Cmdable, p int) (epoch string, whole bool, err error) {
	part := &s.parts[p]
	pipe := c.Pipeline()
	get := pipe.Get(ctx, part.epochKey())
	field := pipe.HGet(ctx, part.entriesKey, sentinelField)
	member := pipe.ZScore(ctx, part.expiryKey, sentinelField)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", false, s.unavailable(fmt.Errorf("reading the epoch: %w", err))
	}
	epoch = get.Val()
	if epoch == "" {
		return "", false, nil
	}
	if !epochHasSentinel(epoch) {
		return epoch, true, nil
	}
	return epoch, field.Val() == epoch && member.Err() == nil, nil
}

// renewEpoch replaces partition p's epoch old ("" when there is none) by a
// new one with sentinels, unless another instance changed it meanwhile; it
// returns the epoch now held. upgrade keeps the epoch (old with an "s"
// before it: the same epoch, now with sentinels) rather than making a new
// one, which tells everyone that data was lost.
func (s *RedisStore) renewEpoch(ctx context.Context, c redis.Scripter, p int, old string, upgrade bool) (string, error) {
	next := "s" + old
	if !upgrade {
		t, err := c.(redis.Cmdable).Time(ctx).Result()
		if err != nil {
			return "", s.unavailable(fmt.Errorf("TIME: %w", err))
		}
		next = newEpoch(t.UnixMilli())
	}
	part := &s.parts[p]
	v, err := renewEpochScript.Run(ctx, c, []string{part.epochKey(), part.entriesKey, part.expiryKey}, old, next).Text()
	if err != nil {
		return "", s.unavailable(fmt.Errorf("writing the epoch: %w", err))
	}
	return v, nil
}

// eventsKept reports whether partition p's events stream is in Redis. With
// no epoch, it tells keys lost from a Redis restarted empty or flushed (or
// a new deployment): a restart or a flush takes the stream with the rest,
// an eviction or a DEL of the epoch does not (LRU keeps the stream, which
// mirrors read every second).
func (s *RedisStore) eventsKept(ctx context.Context, c redis.Cmdable, p int) (bool, error) {
	n, err := c.Exists(ctx, s.parts[p].eventsKey).Result()
	if err != nil {
		return false, s.unavailable(fmt.Errorf("EXISTS %s: %w", s.parts[p].eventsKey, err))
	}
	return n == 1, nil
}

// noteLost records that Redis lost denylist keys while it kept running
// (evicted, or deleted by hand): the keys holding partition p's entries
// under its epoch, or that epoch too ("") while the events stream stayed
// (eventsKept). It says so at error level.
func (s *RedisStore) noteLost(p int, epoch string) {
	s.lost.Add(1)
	s.logger.Error("REDIS LOST DENYLIST KEYS: keys holding revocations are gone while redis kept running (evicted by maxmemory-policy, or deleted): handling it as a redis restarted empty (mirrors write back what they hold; checks get the fail mode until then); set maxmemory-policy to noeviction",
		zap.String("redis", s.where), zap.Int("partition", p), zap.String("epoch", epoch), zap.String("maxmemory_policy", s.Policy()), zap.Int64("losses", s.lost.Load()))
}

// Lost returns how many times this store found denylist keys lost while
// Redis kept running (noteLost).
func (s *RedisStore) Lost() int64 { return s.lost.Load() }

// evictionState is what a RedisStore knows of Redis's maxmemory-policy.
type evictionState struct {
	policy  string // the policies read, comma-separated; "" while unknown
	risk    bool   // some policy is allkeys-*, or the policy cannot be read
	refused string // with eviction_policy refuse: why the store refuses to serve
}

// Policy returns Redis's maxmemory-policy as last read ("unknown" when it
// cannot be read, "" before the first read).
func (s *RedisStore) Policy() string {
	if st := s.eviction.Load(); st != nil {
		if st.policy == "" {
			return "unknown"
		}
		return st.policy
	}
	return ""
}

// EvictionRisk reports whether Redis may evict denylist keys: its
// maxmemory-policy is allkeys-*, or it cannot be read.
func (s *RedisStore) EvictionRisk() bool {
	st := s.eviction.Load()
	return st != nil && st.risk
}

// readPolicies returns the maxmemory-policy of the server (every master of
// a cluster): CONFIG GET, or, where CONFIG is denied (managed Redis, an
// ACL), INFO memory's maxmemory_policy.
func (s *RedisStore) readPolicies(ctx context.Context) ([]string, error) {
	policies, err := s.maxmemoryPolicies(ctx, configPolicy)
	if err == nil {
		return policies, nil
	}
	policies, err2 := s.maxmemoryPolicies(ctx, infoPolicy)
	if err2 == nil {
		return policies, nil
	}
	return nil, fmt.Errorf("CONFIG GET maxmemory-policy: %v; INFO memory: %v", err, err2)
}

// configPolicy reads maxmemory-policy with CONFIG GET.
func configPolicy(ctx context.Context, c redis.Cmdable) (string, error) {
	m, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", err
	}
	p, ok := m["maxmemory-policy"]
	if !ok {
		return "", errors.New("CONFIG GET maxmemory-policy returned nothing")
	}
	return p, nil
}

// infoPolicy reads maxmemory_policy from INFO memory.
func infoPolicy(ctx context.Context, c redis.Cmdable) (string, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			return v, nil
		}
	}
	return "", errors.New("INFO memory holds no maxmemory_policy")
}

// watchLoop reads maxmemory-policy again every evictionCheckEvery and
// after each new connection, and, for a direct store, verifies every
// second that Redis still holds the denylist whole (guard).
func (s *RedisStore) watchLoop(ctx context.Context) {
	defer s.done.Done()
	lastPolicy := time.Now()
	everyTick(ctx, time.Second, func() {
		if s.newConn.Swap(false) || time.Since(lastPolicy) >= evictionCheckEvery {
			lastPolicy = time.Now()
			_ = s.checkEvictionPolicy(ctx)
		}
		if s.guarded {
			if err := s.guard(ctx); err != nil && ctx.Err() == nil {
				s.logger.Debug("verifying the redis denylist failed", zap.String("redis", s.where), zap.Error(err))
			}
		}
	})
}

// directGuard is what a store that checks Redis directly (check_mode
// direct) knows of the denylist's wholeness, kept up to date by guard.
type directGuard struct {
	epochs []atomic.Pointer[string] // per partition: the epoch whose sentinel a check expects
	proven atomic.Bool
	why    atomic.Pointer[string]
}

// guard verifies, for a direct store, that Redis holds the denylist whole:
// every partition has an epoch with its sentinels, older than settle. A
// missing epoch is written (a Redis restarted empty or a new deployment);
// one whose sentinels are gone is replaced (noteLost); an epoch written by
// an earlier release is given sentinels. Until then checks that find no
// revoking entry fail with ErrUnavailable: the fail mode applies.
func (s *RedisStore) guard(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout+s.opts.ReadTimeout)
	defer cancel()
	t, err := s.client.Time(ctx).Result()
	if err != nil {
		return s.unavailable(fmt.Errorf("TIME: %w", err))
	}
	s.breaker.answered()
	now := t.UnixMilli()
	why := ""
	for p := range s.parts {
		epoch, whole, err := s.epochState(ctx, s.client, p)
		if err != nil {
			return err
		}
		switch {
		case epoch == "":
			why = "redis holds no epoch (just restarted empty, flushed, or a new deployment): waiting for mirrors to write back"
			if kept, err := s.eventsKept(ctx, s.client, p); err != nil {
				return err
			} else if kept {
				s.noteLost(p, "")
				why = "redis lost the denylist's epoch (evicted?) while its events stayed: waiting for mirrors to write back"
			}
			if epoch, err = s.renewEpoch(ctx, s.client, p, "", false); err != nil {
				return err
			}
		case !whole:
			s.noteLost(p, epoch)
			why = "redis lost denylist keys (evicted?): waiting for mirrors to write back"
			if epoch, err = s.renewEpoch(ctx, s.client, p, epoch, false); err != nil {
				return err
			}
		case !epochHasSentinel(epoch):
			if up, err := s.renewEpoch(ctx, s.client, p, epoch, true); err == nil {
				epoch = up
			} // else (a full redis refusing writes): read on under the old epoch
		}
		if created := epochCreated(epoch); created > 0 && why == "" {
			if age := time.Duration(now-created) * time.Millisecond; age < s.settle {
				why = fmt.Sprintf("the denylist epoch is %s old: waiting %s for running instances to write back what redis may have lost", age.Round(time.Millisecond), s.settle)
			}
		}
		s.direct.epochs[p].Store(&epoch)
	}
	was := s.direct.proven.Load()
	s.direct.why.Store(&why)
	s.direct.proven.Store(why == "")
	if was && why != "" {
		s.logger.Warn("redis denylist not proven whole: checks that find no revocation get the fail mode", zap.String("redis", s.where), zap.String("why", why))
	}
	return nil
}

// awaitGuard verifies a direct store until it is proven whole, at most
// settle and a little (a new deployment's first epoch).
func (s *RedisStore) awaitGuard(ctx context.Context) {
	deadline := time.Now().Add(s.settle + time.Second)
	for {
		if err := s.guard(ctx); err != nil || s.direct.proven.Load() || time.Now().After(deadline) {
			return
		}
		if !denylist.Sleep(ctx, 50*time.Millisecond) {
			return
		}
	}
}

// Ready reports whether the store answers checks from a denylist proven
// whole (direct stores; a mirror has its own Ready) and serves at all
// (eviction_policy refuse on an evicting Redis does not).
func (s *RedisStore) Ready() (bool, string) {
	if st := s.eviction.Load(); st != nil && st.refused != "" {
		return false, st.refused
	}
	if s.guarded && !s.direct.proven.Load() {
		return false, s.errUnproven().Error()
	}
	return true, ""
}

// errUnproven is the error of a direct check while the denylist is not
// proven whole.
func (s *RedisStore) errUnproven() error {
	why := "not verified yet"
	if p := s.direct.why.Load(); p != nil && *p != "" {
		why = *p
	}
	return fmt.Errorf("%w: %s: %s", denylist.ErrUnavailable, s.where, why)
}

// refusal returns, with eviction_policy refuse, the error of a check on an
// evicting Redis; nil otherwise.
func (s *RedisStore) refusal() error {
	if st := s.eviction.Load(); st != nil && st.refused != "" {
		return fmt.Errorf("%w: %s", denylist.ErrUnavailable, st.refused)
	}
	return nil
}
