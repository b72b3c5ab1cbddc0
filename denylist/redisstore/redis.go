// Package redisstore is the denylist kept in Redis, shared by every Caddy
// instance: RedisStore (options and their checks, redis_options.go; its
// partitions over hash slots, partition.go; its legacy, upgrade and compact
// layouts, redis_layout.go; the eviction guard, redis_guard.go; replica
// acknowledgements, redis_replicas.go; the events tail of a direct store,
// redis_tail.go) and MirrorStore, an in-process copy of it kept up to date
// (mirror.go: its Store API; mirror_tail.go: the events it reads from the
// stream; mirror_verify.go: its checks against Redis, reloads and epochs;
// mirror_proof.go: when it may trust Redis whole). It is the only package
// that speaks to Redis.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// The operations of the revocation event stream (field "op").
const (
	EventAdd = "add"
	EventDel = "del"
)

const (
	// redisPurgeEvery is how often a RedisStore removes expired entries.
	redisPurgeEvery = time.Minute
	// redisPurgeSlices is how many purge runs walk every bucket of the
	// compact layout once: an expired entry leaves Redis within an hour
	// (the mirrors forget it on time by themselves; it never matches).
	redisPurgeSlices = 60
	// redisPurgeBatch bounds the entries one purge script removes, so a
	// backlog never blocks Redis for long.
	redisPurgeBatch = 1000
	// redisRevokeBatch bounds the entries one revoke script writes.
	redisRevokeBatch = 500
	// loadPartitionsAtOnce bounds the partitions a mirror loads at once.
	loadPartitionsAtOnce = 4
	// redisScanCount is the HSCAN COUNT hint of LoadAll.
	redisScanCount = 1000
)

// revokeScript merges entries into the denylist. KEYS: entries hash, expiry
// zset, events stream. ARGV[1]: the stream's approximate maximum length;
// then, per entry, its field, expires and cut-off. For each entry it keeps
// the later expiry and the later cut-off of the stored and the new value
// (Entry.Merge), and records the merged value in all three keys. It returns
// the number of entries written.
var revokeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local n = 0
for i = 2, #ARGV, 3 do
  local f = ARGV[i]
  local exp = tonumber(ARGV[i + 1])
  local cut = tonumber(ARGV[i + 2])
  local old = redis.call('HGET', KEYS[1], f)
  if old then
    local oe, oc = string.match(old, '^(%-?%d+):(%-?%d+)$')
    if oe then
      oe = tonumber(oe)
      oc = tonumber(oc)
      if oe > exp then exp = oe end
      if oc > cut then cut = oc end
    end
  end
  local v = string.format('%d:%d', exp, cut)
  redis.call('HSET', KEYS[1], f, v)
  redis.call('ZADD', KEYS[2], string.format('%d', exp), f)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'op', 'add', 'k', f, 'v', v)
  n = n + 1
end
return n
`)

// unrevokeScript removes entries. KEYS as revokeScript; ARGV[1]: the
// stream's approximate maximum length, then the fields. A "del" event is
// written for every field, present or not, so that every mirror forgets it.
// It returns the number of entries that were present.
var unrevokeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'op', 'del', 'k', ARGV[i])
end
return n
`)

// purgeScript removes up to ARGV[2] entries whose expiry is at or before
// ARGV[1] (Unix seconds). KEYS: entries hash, expiry zset. No event is
// written: every mirror forgets expired entries by itself. It returns the
// number of entries removed.
var purgeScript = redis.NewScript(`
local m = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #m > 0 then
  redis.call('HDEL', KEYS[1], unpack(m))
  redis.call('ZREM', KEYS[2], unpack(m))
end
return #m
`)

// RedisStore is a denylist shared by every Caddy instance through Redis
// (standalone, Sentinel or Cluster), spread over one or more partitions
// (partition.go). Each partition's keys, all in one cluster hash slot
// ("{prefix}:..." with one partition), are:
//
//   - {prefix}:entries, a hash from Key.String() to Entry.Value();
//   - {prefix}:expiry, a sorted set of the same fields scored by expiry,
//     from which expired entries are purged;
//   - {prefix}:events, a stream with one message per write: op "add" with
//     k (the field) and v (the merged value), or op "del" with k. Mirrors
//     load the hash (LoadAll) and then tail the stream (ParseEvent);
//   - {prefix}:epoch, written by mirrors (MirrorStore) to notice that Redis
//     lost its data.
//
// Every write is one Lua script per partition, so a partition's three
// keys never disagree.
type RedisStore struct {
	client   redis.UniversalClient
	opts     RedisOptions
	where    string // the addresses, for errors
	topology string
	logger   *zap.Logger
	now      func() time.Time
	// realClock: now is time.Now, whose one reading gives both the wall
	// clock and the monotonic one (a mirror's check reads the clock once).
	realClock bool

	// autoLayout: no layout option; the layout is the marker's
	// (resolveLayout).
	autoLayout bool
	// marker is the key prefix's layout marker as read (or as it would
	// be written, when Redis refused it).
	marker string

	parts      []redisPartition // at least one
	partOf     map[string]int   // a partition's events stream name -> its index in parts
	purgeSlice atomic.Uint64    // the compact layout's next slice of buckets to purge

	eviction atomic.Pointer[evictionState] // maxmemory-policy as last read (redis_guard.go)
	newConn  atomic.Bool                   // a connection was opened since the policy was last read
	lost     atomic.Int64                  // denylist keys found lost (noteLost)
	breaker  readBreaker                   // checks fail at once while Redis does not answer (redis_breaker.go)

	// guarded: the store checks Redis directly (no mirror), and verifies
	// the denylist whole itself (guard, redis_guard.go).
	guarded bool
	direct  directGuard
	settle  time.Duration // see MirrorOptions.Settle

	ownersPurge denylist.OwnersPurgeClock

	revoked denylist.RevokedListeners // see OnRevoked (redis_tail.go)
	tail    eventTail                 // reads the events stream once someone listens

	cancel    context.CancelFunc // stops the purge loop
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// OpenRedis connects to Redis, checks that it answers PING within the dial
// timeout and that its maxmemory-policy cannot evict denylist entries, and
// starts purging expired entries every minute. The error of a failed
// connection names the address(es) and wraps ErrUnavailable.
func OpenRedis(ctx context.Context, o RedisOptions) (*RedisStore, error) {
	return openRedis(ctx, o, nil, redisPurgeEvery)
}

// openRedis is OpenRedis on the clock now (nil: time.Now), purging every
// purgeEvery.
func openRedis(ctx context.Context, o RedisOptions, now func() time.Time, purgeEvery time.Duration) (*RedisStore, error) {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	tc, err := o.TLSClientConfig()
	if err != nil {
		return nil, err
	}
	o.TLSConfig, o.TLS = tc, nil // files read once, here
	s := &RedisStore{
		opts:      o,
		where:     o.describe(),
		logger:    o.Logger,
		now:       now,
		realClock: now == nil,
	}
	if s.realClock {
		s.now = time.Now
	}
	s.setPartitions(max(o.Partitions, 1)) // until resolvePartitions reads the prefix's count
	uo := o.universalOptions()
	uo.OnConnect = func(context.Context, *redis.Conn) error {
		s.newConn.Store(true)
		return nil
	}
	s.client = o.newClient(uo)
	s.settle = DefaultMirrorSettle
	s.guarded = !o.Mirrored()
	switch {
	case o.Cluster:
		s.topology = "cluster"
	case o.MasterName != "":
		s.topology = "sentinel"
	default:
		s.topology = "standalone"
	}

	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	err = s.client.Ping(pctx).Err()
	cancel()
	if err != nil {
		s.client.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer to PING within %s: %v", o.DialTimeout, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", denylist.ErrUnavailable, s.where, err)
	}
	if err := s.checkEvictionPolicy(ctx); err != nil {
		s.client.Close()
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, o.DialTimeout+o.ReadTimeout)
	s.autoLayout = o.Layout == ""
	if o.Capacity != 0 {
		s.logger.Warn("token_revocation: redis capacity is ignored: the compact layout's buckets grow and shrink with the revocations; remove the option",
			zap.Int("capacity", o.Capacity))
	}
	err = s.resolvePartitions(lctx)
	if err == nil {
		err = s.resolveLayout(lctx)
	}
	cancel()
	if err != nil {
		s.client.Close()
		return nil, err
	}
	if s.readsCompact() {
		lctx, cancel := context.WithTimeout(ctx, o.DialTimeout+o.ReadTimeout)
		err := s.loadBuckets(lctx)
		if err != nil && s.opts.Layout == LayoutUpgrade && s.fullFallback(lctx, err) {
			err = nil
		}
		cancel()
		if err != nil {
			s.client.Close()
			return nil, err
		}
	}
	s.checkReplicas(ctx)
	if s.guarded {
		s.awaitGuard(ctx)
	}

	loopCtx, stop := context.WithCancel(context.Background())
	s.cancel = stop
	if purgeEvery > 0 {
		s.done.Add(1)
		go s.purgeLoop(loopCtx, purgeEvery)
	}
	s.done.Add(1)
	go s.watchLoop(loopCtx)
	return s, nil
}

// universalOptions returns the go-redis options for o.
func (o RedisOptions) universalOptions() *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:            o.Addrs,
		MasterName:       o.MasterName,
		Username:         o.Username,
		Password:         o.Password,
		SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword,
		DB:               o.DB,
		TLSConfig:        o.TLSConfig,
		IsClusterMode:    o.Cluster,
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      o.ReadTimeout,
		WriteTimeout:     o.WriteTimeout,
		PoolSize:         o.PoolSize,
		// Let callers' deadlines bound a call, and give up on a dead
		// server after one redial: a revocation or a check waiting on an
		// unreachable Redis should be answered 503 quickly.
		ContextTimeoutEnabled: true,
		DialerRetries:         2,
	}
}

// newClient returns the client of the topology uo names, as go-redis's
// NewUniversalClient picks it: a failover (Sentinel) client when
// MasterName is set, a cluster client when IsClusterMode is (universalOptions
// sets it from Cluster, so one seed address is enough), a single-server
// client otherwise. Validate has excluded the mixes NewUniversalClient
// would read otherwise (cluster and master_name; several addresses alone).
func (o RedisOptions) newClient(uo *redis.UniversalOptions) redis.UniversalClient {
	return redis.NewUniversalClient(uo)
}

// maxmemoryPolicies returns the maxmemory-policy of the server (of every
// master, in a cluster), as get reads it.
func (s *RedisStore) maxmemoryPolicies(ctx context.Context, get func(context.Context, redis.Cmdable) (string, error)) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout+s.opts.ReadTimeout)
	defer cancel()
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		var out []string
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			p, err := get(ctx, c)
			if err != nil {
				return err
			}
			mu.Lock()
			out = append(out, p)
			mu.Unlock()
			return nil
		})
		return out, err
	}
	p, err := get(ctx, s.client)
	if err != nil {
		return nil, err
	}
	return []string{p}, nil
}

// checkEvictionPolicy reads maxmemory-policy (CONFIG GET, else INFO
// memory) and warns (or, when the options say "refuse", fails) when it is
// allkeys-*: such a server evicts denylist entries under memory pressure,
// which silently un-revokes tokens. A policy that cannot be read (both
// commands denied) is unknown: a warning, and with "refuse" a failure too.
// volatile-* policies evict only keys with a TTL, and the store's keys have
// none; noeviction makes writes fail, which Revoke reports. It is called at
// open and again by watchLoop; it logs only what changed.
func (s *RedisStore) checkEvictionPolicy(ctx context.Context) error {
	policies, err := s.readPolicies(ctx)
	var st evictionState
	fix := "set maxmemory-policy to noeviction (or a volatile-* policy)"
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		return nil
	case err != nil:
		st.risk = true
		if s.opts.EvictionPolicy == EvictionPolicyRefuse {
			st.refused = fmt.Sprintf("%s: cannot read maxmemory-policy (%v), so cannot rule out that redis evicts denylist entries, which silently un-revokes tokens; allow this user CONFIG GET or INFO (see the Redis ACL in docs/operations.md), or set eviction_policy warn", s.where, err)
		}
	default:
		st.policy = strings.Join(policies, ",")
		for _, p := range policies {
			if strings.HasPrefix(p, "allkeys-") {
				st.risk = true
				if s.opts.EvictionPolicy == EvictionPolicyRefuse {
					st.refused = fmt.Sprintf("%s: maxmemory-policy is %q, which evicts denylist entries under memory pressure and so silently un-revokes tokens; %s", s.where, p, fix)
				}
			}
		}
	}
	old := s.eviction.Swap(&st)
	if old == nil || *old != st {
		switch {
		case st.refused != "":
			s.logger.Error("token_revocation: refusing to serve from this redis (eviction_policy refuse): checks get the fail mode", zap.String("redis", s.where), zap.String("why", st.refused))
		case st.risk && st.policy == "":
			s.logger.Warn("REDIS MAY EVICT REVOCATIONS: cannot read maxmemory-policy (CONFIG GET and INFO denied), so cannot rule out that redis evicts denylist entries; allow CONFIG GET or INFO, and "+fix,
				zap.String("redis", s.where), zap.Error(err))
		case st.risk:
			s.logger.Warn("REDIS CAN EVICT REVOCATIONS: maxmemory-policy evicts denylist entries under memory pressure, silently un-revoking tokens; "+fix,
				zap.String("redis", s.where), zap.String("maxmemory_policy", st.policy))
		case old != nil && old.risk:
			s.logger.Info("redis maxmemory-policy no longer evicts denylist entries", zap.String("redis", s.where), zap.String("maxmemory_policy", st.policy))
		}
	}
	if st.refused != "" {
		return errors.New(st.refused)
	}
	return nil
}

// unavailable wraps err in ErrUnavailable, naming the server (and keeping
// errRedisNotAnswering, the breaker's, in the chain).
func (s *RedisStore) unavailable(err error) error {
	if err == errRedisNotAnswering {
		return fmt.Errorf("%w: %s: %w", denylist.ErrUnavailable, s.where, err)
	}
	return fmt.Errorf("%w: %s: %v", denylist.ErrUnavailable, s.where, err)
}

// Client returns the store's Redis client (for the in-process mirror).
func (s *RedisStore) Client() redis.UniversalClient { return s.client }

// Keys returns the names of the entries hash, the expiry sorted set and the
// events stream of the first partition (the only one, by default).
func (s *RedisStore) Keys() (entries, expiry, events string) {
	return s.PartitionKeys(0)
}

// Revoke implements Store: per partition, one script per batch of entries
// merges them into the hash and the expiry set and appends an "add" event
// for each. The partitions are written concurrently; Revoke returns nil
// only when every one stored its entries.
func (s *RedisStore) Revoke(ctx context.Context, entries ...denylist.Entry) error {
	for _, e := range entries {
		if !e.Kind.Valid() {
			return fmt.Errorf("denylist: revoke: entry of unknown kind %v", e.Kind)
		}
	}
	byPart := groupByPartition(len(s.parts), entries, func(e *denylist.Entry) *denylist.Digest { return &e.Digest })
	return eachPartition(s, byPart, func(p *redisPartition, entries []denylist.Entry) error {
		for len(entries) > 0 {
			batch := entries[:min(len(entries), redisRevokeBatch)]
			entries = entries[len(batch):]
			n, err := s.runRevoke(ctx, p, func(c redis.Scripter) (int64, error) {
				if s.writesCompact() {
					return s.revokeCompact(ctx, c, p, s.compactMode(), batch)
				}
				args := make([]any, 0, 1+3*len(batch))
				args = append(args, s.streamMaxLen())
				for _, e := range batch {
					args = append(args, e.Key.String(), e.Expires, e.Cutoff)
				}
				return revokeScript.Run(ctx, c, p.keys, args...).Int64()
			})
			if err != nil {
				return s.unavailable(err)
			}
			if n != int64(len(batch)) {
				return s.unavailable(fmt.Errorf("revoke script wrote %d of %d entries", n, len(batch)))
			}
		}
		return nil
	})
}

// eachPartition calls fn with every partition that has items, concurrently
// when there are several, and returns the first error.
func eachPartition[T any](s *RedisStore, byPart [][]T, fn func(p *redisPartition, items []T) error) error {
	var first int = -1
	n := 0
	for i, items := range byPart {
		if len(items) > 0 {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case 1:
		return fn(&s.parts[first], byPart[first])
	}
	errs := make([]error, len(byPart))
	var wg sync.WaitGroup
	for i, items := range byPart {
		if len(items) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(&s.parts[i], items)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Unrevoke implements Store.
func (s *RedisStore) Unrevoke(ctx context.Context, keys ...denylist.Key) error {
	byPart := groupByPartition(len(s.parts), keys, func(k *denylist.Key) *denylist.Digest { return &k.Digest })
	return eachPartition(s, byPart, func(p *redisPartition, keys []denylist.Key) error {
		for len(keys) > 0 {
			batch := keys[:min(len(keys), redisRevokeBatch)]
			keys = keys[len(batch):]
			if s.writesCompact() {
				if err := s.unrevokeCompact(ctx, p, batch); err != nil {
					return s.unavailable(err)
				}
				continue
			}
			args := make([]any, 0, 1+len(batch))
			args = append(args, s.streamMaxLen())
			for _, k := range batch {
				args = append(args, k.String())
			}
			if err := unrevokeScript.Run(ctx, s.client, p.keys, args...).Err(); err != nil {
				return s.unavailable(err)
			}
		}
		return nil
	})
}

// Check implements Store with one pipelined round trip: an HMGET of the
// legacy hash of each partition the query's keys fall in, and an HGET of
// each key's compact bucket when the layout has them. The round trip is
// bounded by FailTimeout. A direct store (no mirror) also reads each
// partition's sentinel in the HMGET: a check that finds no revoking entry
// fails with ErrUnavailable (the fail mode) while the denylist is not
// proven whole (redis_guard.go). Once a read went unanswered, the others
// fail at once while one asks Redis again (readBreaker, redis_breaker.go).
func (s *RedisStore) Check(ctx context.Context, q *denylist.Query) (denylist.Match, error) {
	if q.N == 0 {
		return denylist.Match{}, nil
	}
	entries, found, whole, err := s.boundedLookup(ctx, q.Keys[:q.N])
	if err != nil {
		return denylist.Match{}, s.unavailable(err)
	}
	now := s.now().Unix()
	for i, e := range entries {
		if found[i] && e.Matches(q.IssuedAt, now) {
			return denylist.Match{Revoked: true, Entry: e}, nil
		}
	}
	if err := s.notWhole(whole); err != nil {
		return denylist.Match{}, err
	}
	return denylist.Match{}, nil
}

// notWhole returns the error of a check that found nothing when the
// denylist cannot be trusted whole: the sentinels it read (whole) did not
// match, the store is unproven, or it refuses an evicting Redis.
func (s *RedisStore) notWhole(whole bool) error {
	if err := s.refusal(); err != nil {
		return err
	}
	if !s.guarded {
		return nil
	}
	if !whole {
		s.direct.proven.Store(false)
		why := "the denylist's sentinel is gone from redis (keys evicted?): verifying"
		s.direct.why.Store(&why)
		return s.errUnproven()
	}
	if !s.direct.proven.Load() {
		return s.errUnproven()
	}
	return nil
}

// queueLegacy queues, on pipe, an HMGET of fields (the String of keys) in
// the legacy hash of each partition they fall in; the returned func, called
// after the pipeline ran, returns the values in the order of keys and, for
// a direct store, whether each partition's sentinel (read in the same
// HMGET) is the epoch guard last proved.
func (s *RedisStore) queueLegacy(ctx context.Context, pipe redis.Pipeliner, keys []denylist.Key, fields []string) func() ([]any, bool) {
	byPart := map[int][]int{} // partition -> positions in keys
	for i := range keys {
		p := 0
		if len(s.parts) > 1 {
			p = partitionOf(&keys[i].Digest, len(s.parts))
		}
		byPart[p] = append(byPart[p], i)
	}
	cmds := make(map[int]*redis.SliceCmd, len(byPart))
	for p, pos := range byPart {
		f := make([]string, len(pos), len(pos)+1)
		for j, i := range pos {
			f[j] = fields[i]
		}
		if s.guarded {
			f = append(f, sentinelField)
		}
		cmds[p] = pipe.HMGet(ctx, s.parts[p].entriesKey, f...)
	}
	return func() ([]any, bool) {
		vals := make([]any, len(keys))
		whole := true
		for p, pos := range byPart {
			got := cmds[p].Val()
			for j, i := range pos {
				if j < len(got) {
					vals[i] = got[j]
				}
			}
			if s.guarded {
				var sentinel any
				if len(got) > len(pos) {
					sentinel = got[len(pos)]
				}
				v, ok := sentinel.(string)
				switch want := s.direct.epochs[p].Load(); {
				case want == nil:
					whole = false
				case !epochHasSentinel(*want): // an earlier release's epoch: cannot tell
				case !ok || v != *want:
					whole = false
				}
			}
		}
		return vals, whole
	}
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, key denylist.Key) (denylist.Entry, bool, error) {
	entries, found, whole, err := s.boundedLookup(ctx, []denylist.Key{key})
	if err != nil {
		return denylist.Entry{}, false, s.unavailable(err)
	}
	if !found[0] || !entries[0].Live(s.now().Unix()) {
		return denylist.Entry{}, false, s.notWhole(whole)
	}
	return entries[0], true, nil
}

// parseField decodes one field and value of the entries hash. A value
// that does not parse under a field that does is unreadableEntry, with an
// error that says so (see keyRead).
func parseField(field, value string) (denylist.Entry, error) {
	k, err := denylist.ParseKey(field)
	if err != nil {
		return denylist.Entry{}, err
	}
	return parseValue(k, value)
}

// parseValue decodes the legacy value stored under k (see parseField).
func parseValue(k denylist.Key, value string) (denylist.Entry, error) {
	e := denylist.Entry{Key: k}
	if err := e.ParseValue(value); err != nil {
		return unreadableEntry(k), fmt.Errorf("entry %s: %w: %w", k.Digest.Short(), err, ErrUnreadableValue)
	}
	return e, nil
}

// readStored returns an entry read from Redis (e and err from parseField
// or parseCompact) and whether to keep it (keyRead), logging what it
// could not read: a warning names the server and the entry's short digest.
func (s *RedisStore) readStored(e denylist.Entry, err error) (denylist.Entry, bool) {
	if err != nil {
		s.logger.Warn("unreadable redis denylist entry", zap.String("redis", s.where), zap.Bool("kept_as_revoking", keyRead(err)), zap.Error(err))
	}
	return e, keyRead(err)
}

// List implements Store, partition after partition: its legacy hash with
// HSCAN, then (compact layout) its bucket hashes, by classes of hashes
// (readClasses). The cursor is HSCAN's (with several partitions or
// buckets, preceded by the partition's number and a dot; a class cursor
// after "b", classCursor). A page may hold somewhat more
// or fewer than limit entries (HSCAN's COUNT is a hint); an entry present
// during the whole listing is returned at least once, and exactly once
// unless its hash is resized meanwhile.
func (s *RedisStore) List(ctx context.Context, cursor string, limit int) ([]denylist.Entry, string, error) {
	if limit <= 0 {
		limit = denylist.DefaultListLimit
	}
	c, err := s.parseListCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	now := s.now().Unix()
	var out []denylist.Entry
	for {
		p := &s.parts[c.p]
		var next uint64
		if c.bucket {
			if out, next, err = s.listCompact(ctx, p, c.cur, limit, now, out); err != nil {
				return nil, "", s.unavailable(err)
			}
		} else {
			kv, n, err := s.client.HScan(ctx, p.entriesKey, c.cur, "", int64(limit-len(out))).Result()
			if err != nil {
				return nil, "", s.unavailable(err)
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == sentinelField {
					continue
				}
				if e, ok := s.readStored(parseField(kv[i], kv[i+1])); ok && e.Live(now) {
					out = append(out, e)
				}
			}
			next = n
		}
		c.cur = next
		if next == 0 { // this hash (or the buckets) done: on to the next
			switch {
			case !c.bucket && s.readsCompact():
				c.bucket = true
			case c.p+1 < len(s.parts):
				c = listCursor{p: c.p + 1}
			default:
				return out, "", nil
			}
		}
		if len(out) >= limit {
			return out, s.formatListCursor(c), nil
		}
	}
}

// LoadAll calls fn with every live entry and returns the ID of each
// partition's events stream's last message before the load began ("0-0"
// when the stream is empty), comma-separated in partition order (one ID
// with one partition). A mirror that loads with LoadAll and then reads the
// streams after those IDs misses no write; it may see a write twice, which
// Merge makes harmless. fn is called on the caller's goroutine; the next
// page of a hash is fetched meanwhile, so Redis and fn work at the same
// time.
func (s *RedisStore) LoadAll(ctx context.Context, fn func(denylist.Entry)) (lastEventID string, err error) {
	return s.loadAll(ctx, func(es []denylist.Entry) {
		for _, e := range es {
			fn(e)
		}
	})
}

// loadAll is LoadAll handing over the entries a page at a time (a
// mirror's index takes a page with a lock per shard, not per entry), one
// partition after the other.
func (s *RedisStore) loadAll(ctx context.Context, fn func([]denylist.Entry)) (lastEventID string, err error) {
	ids := make([]string, len(s.parts))
	for i := range s.parts {
		if ids[i], err = s.loadOne(ctx, i, fn); err != nil {
			return "", err
		}
	}
	return strings.Join(ids, ","), nil
}

// loadOne loads partition i, both layouts as s reads them, and returns
// its stream's last event ID before the load.
func (s *RedisStore) loadOne(ctx context.Context, i int, fn func([]denylist.Entry)) (string, error) {
	id, err := s.loadPartition(ctx, &s.parts[i], fn)
	if err == nil && s.readsCompact() {
		err = s.loadCompact(ctx, &s.parts[i], fn)
	}
	return id, err
}

// loadConcurrently is loadAll with up to loadPartitionsAtOnce partitions
// loaded at once (on a Cluster, from their primaries side by side); fn
// must be safe for concurrent use.
func (s *RedisStore) loadConcurrently(ctx context.Context, fn func([]denylist.Entry)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, loadPartitionsAtOnce)
	errs := make([]error, len(s.parts))
	var wg sync.WaitGroup
	for i := range s.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, errs[i] = s.loadOne(ctx, i, fn); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadPartition is LoadAll for one partition.
func (s *RedisStore) loadPartition(ctx context.Context, part *redisPartition, fn func([]denylist.Entry)) (lastEventID string, err error) {
	msgs, err := s.client.XRevRangeN(ctx, part.eventsKey, "+", "-", 1).Result()
	if err != nil {
		return "", s.unavailable(err)
	}
	lastEventID = "0-0"
	if len(msgs) > 0 {
		lastEventID = msgs[0].ID
	}
	type page struct {
		kv  []string
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 2)
	go func() {
		defer close(pages)
		var cur uint64
		for {
			kv, next, err := s.client.HScan(ctx, part.entriesKey, cur, "", redisScanCount).Result()
			select {
			case pages <- page{kv, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || next == 0 {
				return
			}
			cur = next
		}
	}()
	now := s.now().Unix()
	for p := range pages {
		if p.err != nil {
			return "", s.unavailable(p.err)
		}
		batch := make([]denylist.Entry, 0, len(p.kv)/2)
		for i := 0; i+1 < len(p.kv); i += 2 {
			if p.kv[i] == sentinelField {
				continue
			}
			if e, ok := s.readStored(parseField(p.kv[i], p.kv[i+1])); ok && e.Live(now) {
				batch = append(batch, e)
			}
		}
		fn(batch)
	}
	if err := ctx.Err(); err != nil { // canceled before the last page
		return "", s.unavailable(err)
	}
	return lastEventID, nil
}

// ParseEvent decodes a message of the events stream: op is EventAdd (e is
// the merged entry now stored) or EventDel (only e.Key is set). Both
// layouts' events are read: op/k/v (legacy) and a/d (compact). An add
// whose value cannot be read returns the entry that revokes everything its
// key names, with an error wrapping ErrUnreadableValue.
func ParseEvent(msg redis.XMessage) (op string, e denylist.Entry, err error) {
	if a, ok := msg.Values["a"].(string); ok && len(a) == denylist.DigestSize+8 {
		e, err = parseCompact(a[:denylist.DigestSize], a[denylist.DigestSize:])
		if err != nil {
			return "", denylist.Entry{}, fmt.Errorf("event %s: %w", msg.ID, err)
		}
		return EventAdd, e, nil
	}
	if d, ok := msg.Values["d"].(string); ok && len(d) == denylist.DigestSize {
		e, err = parseCompact(d, "\x00\x00\x00\x00\x00\x00\x00\x00")
		if err != nil {
			return "", denylist.Entry{}, fmt.Errorf("event %s: %w", msg.ID, err)
		}
		return EventDel, denylist.Entry{Key: e.Key}, nil
	}
	op, _ = msg.Values["op"].(string)
	k, _ := msg.Values["k"].(string)
	if e.Key, err = denylist.ParseKey(k); err != nil {
		return "", denylist.Entry{}, fmt.Errorf("event %s: %w", msg.ID, err)
	}
	switch op {
	case EventAdd:
		v, _ := msg.Values["v"].(string)
		if e, err = parseValue(e.Key, v); err != nil {
			return EventAdd, e, fmt.Errorf("event %s: %w", msg.ID, err)
		}
	case EventDel:
	default:
		return "", denylist.Entry{}, fmt.Errorf("event %s: unknown op %q", msg.ID, op)
	}
	return op, e, nil
}

// Purge removes the entries expired at now and returns how many it removed.
func (s *RedisStore) Purge(ctx context.Context, now time.Time) (int, error) {
	return s.purge(ctx, now, 1)
}

// purge is Purge, walking 1/slices of the compact layout's buckets.
func (s *RedisStore) purge(ctx context.Context, now time.Time, slices int) (int, error) {
	total := 0
	if s.readsCompact() {
		n, err := s.purgeCompact(ctx, now.Unix(), slices)
		if err != nil {
			return n, err
		}
		total = n
	}
	for i := range s.parts {
		for {
			n, err := purgeScript.Run(ctx, s.client, s.parts[i].keys[:2], now.Unix(), redisPurgeBatch).Int()
			if err != nil {
				return total, s.unavailable(err)
			}
			total += n
			if n < redisPurgeBatch {
				break
			}
		}
	}
	return total, nil
}

// purgeLoop purges expired entries every every until ctx ends.
func (s *RedisStore) purgeLoop(ctx context.Context, every time.Duration) {
	defer s.done.Done()
	everyTick(ctx, every, func() {
		pctx, cancel := context.WithTimeout(ctx, every)
		n, err := s.purge(pctx, s.now(), redisPurgeSlices)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("purging expired redis denylist entries failed", zap.Error(err))
		case n > 0:
			s.logger.Debug("purged expired redis denylist entries", zap.String("redis", s.where), zap.Int("entries", n))
		}
	})
}

// everyTick calls fn every every until ctx ends (the first call after one
// period).
func everyTick(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Status implements Store. Entries is the size of the entries hash, which
// counts expired entries until they are purged (every minute).
func (s *RedisStore) Status(ctx context.Context) denylist.Status {
	st := denylist.Status{
		Backend: "redis",
		Details: map[string]any{
			"addresses":  s.opts.Addrs,
			"topology":   s.topology,
			"key_prefix": s.opts.KeyPrefix,
		},
	}
	if s.opts.MasterName != "" {
		st.Details["master_name"] = s.opts.MasterName
	}
	if s.opts.MinReplicas > 0 {
		st.Details["min_replicas"] = s.opts.MinReplicas
	}
	if p := s.Policy(); p != "" {
		st.Details["maxmemory_policy"] = p
	}
	if s.EvictionRisk() {
		st.Details["eviction_risk"] = true
	}
	if n := s.lost.Load(); n > 0 {
		st.Details["keys_lost"] = n
	}
	if s.breaker.open.Load() {
		st.Details["not_answering"] = true // checks fail at once (redis_breaker.go)
	}
	if ready, why := s.Ready(); !ready {
		st.Details["not_ready"] = why
	}
	if len(s.parts) > 1 {
		st.Details["partitions"] = len(s.parts)
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		st.Error = s.unavailable(err).Error()
		return st
	}
	n, err := s.Entries(ctx)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.Healthy = true
	st.Entries = int(n)
	if l, err := s.sumPartitions(ctx, func(p redis.Pipeliner, part *redisPartition) *redis.IntCmd {
		return p.XLen(ctx, part.eventsKey)
	}); err == nil {
		st.Details["events"] = l
	}
	return st
}

// Close stops purging and closes the client. It is safe to call twice.
func (s *RedisStore) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.stopTail()
		s.done.Wait()
		s.closeErr = s.client.Close()
	})
	return s.closeErr
}

var _ denylist.Store = (*RedisStore)(nil)

// Ping reports whether Redis answers (PING), as ErrUnavailable when not:
// a cheap probe of reachability, for retrying promptly what waits for it.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %s: %v", denylist.ErrUnavailable, s.where, err)
	}
	return nil
}
