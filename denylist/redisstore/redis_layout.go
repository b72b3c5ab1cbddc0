package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Layouts of a Redis denylist (RedisOptions.Layout).
//
// The legacy layout keeps, per partition, a hash from Key.String() (34
// bytes of hex) to "<expires>:<cutoff>", a sorted set of the same fields
// by expiry, and a stream of op/k/v events: about 345 bytes of Redis
// memory per live revocation (make bench-scale).
//
// The compact layout keeps an entry as a 16-byte field (the raw Digest,
// whose first byte is the kind) and an 8-byte value (expires and cut-off,
// two big-endian uint32 Unix seconds, the mirror's own packing) in one of
// a partition's bucket hashes "{tag}:c:<n>", picked by the digest. A
// bucket holds 10 to 40 entries on average (80 at most, on average, in
// the buckets a round of splits has not reached yet), few enough for
// Redis to keep it a listpack (hash-max-listpack-entries, 128 by default):
// no per-entry allocation, no dictionary entry. There is no expiry set:
// the purge walks the buckets, a slice of them per run. Events are two
// fields, "a" (field and value, 24 bytes) or "d" (the field). About 75
// bytes per live revocation from 10^3 to 10^6, stream included, less
// past the stream's cap (make bench-scale, section growth).
//
// The bucket count follows the entries, with no sizing option (linear
// hashing): a partition starts with one bucket, and its count n
// ("{tag}:c:buckets") goes up by one each time the partition holds more
// than growAbove entries per bucket on average, and down by one below
// shrinkBelow. A step splits bucket n-2^l into itself and bucket n (or
// merges bucket n-1 back), in one script (resizeScript) that checks the
// n it was given and writes the new count, so instances racing to take
// it take it once. A script that writes entries picks their buckets
// itself, for the count it reads (bucketLua); a read reads the count in
// the same transaction (MULTI) as the buckets, and again, with the
// buckets of the counts around it, when it changed since last read
// (bucketWindow). So an entry present throughout is found by every read,
// whatever splits and merges other instances make meanwhile: nothing is
// ever un-revoked by a resize.
const (
	// LayoutLegacy is the layout of every release before the compact one
	// (0.1 and 0.2).
	LayoutLegacy = "legacy"
	// LayoutUpgrade reads both layouts and writes both, so that instances
	// of an earlier release sharing the Redis keep seeing every
	// revocation: the layout of a rolling upgrade.
	LayoutUpgrade = "upgrade"
	// LayoutCompact reads both layouts and writes the compact one only.
	LayoutCompact = "compact"
)

const (
	// growAbove is the average number of entries per bucket above which
	// a partition gains a bucket. The buckets not yet split in a round of
	// linear hashing hold up to twice the average: 80 on average, under
	// hash-max-listpack-entries (128) by four standard deviations.
	growAbove = 40
	// shrinkBelow is the average below which a partition loses a bucket
	// (a quarter of growAbove: a count going up and down by a few never
	// splits and merges the same bucket back and forth).
	shrinkBelow = 10
	// resizeStepsPerCall bounds the buckets one resize call splits or
	// merges before it returns (the purge loop and the next revocations
	// go on from there).
	resizeStepsPerCall = 1024
	// staleRetries bounds how often a read that found the bucket count
	// changed reads again (with the buckets of bucketWindow counts
	// around it, so a second read is almost always the last).
	staleRetries = 20
	// bucketsPerCall bounds the buckets one load pipeline or purge script
	// reads.
	bucketsPerCall = 256
	// bucketScanCount is the HSCAN COUNT of a bucket: a listpack's
	// entries come in one reply whatever the count.
	bucketScanCount = 1000
	// loadFetchers is how many round trips of a load are on their way at
	// once: Redis serialises one while the last one's reply travels and
	// the caller applies the one before.
	loadFetchers = 3
)

// writesLegacy and writesCompact say which layouts s writes; readsCompact
// whether it reads the compact one (every layout but legacy reads the
// legacy one too, so nothing stored before a switch is un-revoked).
func (s *RedisStore) writesLegacy() bool  { return s.opts.Layout != LayoutCompact }
func (s *RedisStore) writesCompact() bool { return s.opts.Layout != LayoutLegacy }
func (s *RedisStore) readsCompact() bool  { return s.opts.Layout != LayoutLegacy }

// bucketsKey holds a partition's bucket count.
func (p *redisPartition) bucketsKey() string { return p.tag + ":c:buckets" }

// countKey counts a partition's compact entries (live or not yet purged).
func (p *redisPartition) countKey() string { return p.tag + ":c:count" }

// bucketKey names bucket b of partition p.
func (p *redisPartition) bucketKey(b int) string { return p.tag + ":c:" + strconv.Itoa(b) }

// bucketOf returns the bucket of digest d among n, by linear hashing of
// h, its bytes 6-9 (the partition takes 2-5, the mirror's shard byte 1):
// with 2^l <= n < 2^(l+1), h mod 2^l, or h mod 2^(l+1) for the buckets
// below n-2^l, already split in this round. An entry in bucket b is where
// bucketOf puts it for every n > b: a split or a merge moves only the
// entries of the bucket it adds or removes.
func bucketOf(d *denylist.Digest, n int) int {
	return linearBucket(digestHash(d), n)
}

// digestHash is the part of d that picks its bucket.
func digestHash(d *denylist.Digest) uint32 { return binary.BigEndian.Uint32(d[6:10]) }

// linearBucket is bucketOf for hash h.
func linearBucket(h uint32, n int) int {
	l := bits.Len(uint(n)) - 1
	b := int(h & (1<<l - 1))
	if b < n-1<<l {
		b = int(uint64(h) & (1<<(l+1) - 1))
	}
	return b
}

// bucketState is a partition's bucket count as this instance last read
// it (a read of buckets reads the count in the same transaction, and
// reads again when it changed; a write picks its buckets in its script),
// and the lock that has one goroutine of the instance resize the
// partition at a time.
type bucketState struct {
	n        atomic.Int64
	resizing sync.Mutex
}

func (b *bucketState) load() int   { return max(int(b.n.Load()), 1) }
func (b *bucketState) store(n int) { b.n.Store(int64(n)) }

// bucketWindow is how far from the count it last read a read that found
// the count changed looks: it reads the buckets of every count in
// [n-bucketWindow, n+bucketWindow] (two or three per hash), so that the
// splits and merges of other instances during its round trip do not have
// it read again.
const bucketWindow = 64

// bucketsBetween calls add with the bucket of hash h for every count in
// [lo, hi] (and maybe a few more), a bucket possibly twice.
func bucketsBetween(h uint64, lo, hi int, add func(int)) {
	if lo == hi {
		add(linearBucket(uint32(h), lo))
		return
	}
	for l := bits.Len(uint(lo)) - 1; l < bits.Len(uint(hi)); l++ {
		for _, b := range [2]int{int(h & (1<<l - 1)), int(h & (1<<(l+1) - 1))} {
			if b < hi {
				add(b)
			}
		}
	}
}

// window returns the counts a read looks at after it read count n (try
// 0: the count it knew; later tries, bucketWindow around the one read).
func window(n, try int) (lo, hi int) {
	if try == 0 {
		return n, n
	}
	return max(1, n-bucketWindow), n + bucketWindow
}

// parseCompact decodes a compact field and value. A value that is not 8
// bytes under a field that reads is unreadableEntry, with an error that
// says so (see keyRead).
func parseCompact(field, value string) (denylist.Entry, error) {
	if len(field) != denylist.DigestSize {
		return denylist.Entry{}, fmt.Errorf("malformed compact entry: %d-byte field, want %d", len(field), denylist.DigestSize)
	}
	var e denylist.Entry
	copy(e.Digest[:], field)
	e.Kind = e.Digest.Kind()
	if !e.Kind.Valid() {
		return denylist.Entry{}, fmt.Errorf("malformed compact entry: unknown kind %v", e.Kind)
	}
	if len(value) != 8 {
		return unreadableEntry(e.Key), fmt.Errorf("compact entry %s: %d-byte value, want 8: %w", e.Digest.Short(), len(value), ErrUnreadableValue)
	}
	e.Expires = int64(binary.BigEndian.Uint32([]byte(value[:4])))
	e.Cutoff = int64(binary.BigEndian.Uint32([]byte(value[4:])))
	return e, nil
}

// loadBuckets reads the bucket count of every partition, writing 1 (a
// partition's first bucket) where there is none yet: a read first, so
// that a full Redis (noeviction) does not stop an instance from starting.
func (s *RedisStore) loadBuckets(ctx context.Context) error {
	for i := range s.parts {
		p := &s.parts[i]
		n, err := s.client.Get(ctx, p.bucketsKey()).Int()
		if errors.Is(err, redis.Nil) { // written only when missing: a full redis refuses writes, not reads
			if err = s.client.SetNX(ctx, p.bucketsKey(), 1, 0).Err(); err != nil {
				return s.unavailable(fmt.Errorf("writing the bucket count: %w", err))
			}
			n, err = s.client.Get(ctx, p.bucketsKey()).Int()
		}
		if err != nil {
			return s.unavailable(fmt.Errorf("reading the bucket count: %w", err))
		}
		if n <= 0 {
			return fmt.Errorf("redis: %s holds %d buckets: want a positive count", p.bucketsKey(), n)
		}
		p.buckets.store(n)
	}
	return nil
}

// bucketLua starts every script that writes entries: bucketOf in Lua,
// for the bucket count KEYS[5] holds (missing: 1), read in the script so
// that a split or merge never comes between picking a bucket and writing
// it. A bucket's key is derived from KEYS[5] ("{tag}:c:buckets" ->
// "{tag}:c:<n>"): not among KEYS, since which one is known only inside,
// but in the same hash slot, which a Cluster's check of a script's keys
// asks for.
const bucketLua = `
local nb = tonumber(redis.call('GET', KEYS[5]) or '1')
local lvl = 1
while lvl * 2 <= nb do lvl = lvl * 2 end
local bprefix = string.sub(KEYS[5], 1, #KEYS[5] - 7)
local function bucket(f)
  local h = struct.unpack('>I4', f, 7)
  local b = h % lvl
  if b < nb - lvl then b = h % (2 * lvl) end
  return bprefix .. b
end
`

// compactRevokeScript merges entries into the compact layout (and, with
// ARGV[2] "u", the legacy one too). KEYS: legacy entries hash, legacy
// expiry set, events stream, compact count, bucket count. ARGV[1]: the stream's approximate maximum length; ARGV[2]: "c"
// (compact) or "u" (upgrade: both, and a legacy event, which instances of
// earlier releases read), or "m" (migrate: compact only, no event); then
// per entry: its compact field (whose bucket the script picks, bucketLua),
// expires, cut-off and its legacy field. The merged value
// (Entry.Merge of every stored copy and the new one) is written to each
// layout written. It returns the number of entries written and the
// partition's compact count.
var compactRevokeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
` + bucketLua + `
local mode = ARGV[2]
local n = 0
for i = 3, #ARGV, 4 do
  local f = ARGV[i]
  local b = bucket(f)
  local exp = tonumber(ARGV[i + 1])
  local cut = tonumber(ARGV[i + 2])
  local lf = ARGV[i + 3]
  local old = redis.call('HGET', b, f)
  if old and #old == 8 then
    local oe, oc = struct.unpack('>I4I4', old)
    if oe > exp then exp = oe end
    if oc > cut then cut = oc end
  end
  if not old then redis.call('INCR', KEYS[4]) end
  if mode ~= 'c' then
    local lold = redis.call('HGET', KEYS[1], lf)
    if lold then
      local oe, oc = string.match(lold, '^(%-?%d+):(%-?%d+)$')
      if oe then
        oe = math.min(math.max(tonumber(oe), 0), 4294967295)
        oc = math.min(math.max(tonumber(oc), 0), 4294967295)
        if oe > exp then exp = oe end
        if oc > cut then cut = oc end
      end
    end
  end
  local v = struct.pack('>I4I4', exp, cut)
  redis.call('HSET', b, f, v)
  if mode == 'u' then
    local lv = string.format('%d:%d', exp, cut)
    redis.call('HSET', KEYS[1], lf, lv)
    redis.call('ZADD', KEYS[2], string.format('%d', exp), lf)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'op', 'add', 'k', lf, 'v', lv)
  elseif mode == 'm' then
    redis.call('HDEL', KEYS[1], lf)
    redis.call('ZREM', KEYS[2], lf)
  else
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'a', f .. v)
  end
  n = n + 1
end
return {n, tonumber(redis.call('GET', KEYS[4]) or '0')}
`)

// compactUnrevokeScript removes entries from both layouts. KEYS as
// compactRevokeScript; ARGV[1] and ARGV[2] ("u": a legacy event, "c": a
// compact one) too; then per key: its compact field and its legacy field. It returns the number of
// entries present and the partition's compact count.
var compactUnrevokeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
` + bucketLua + `
local n = 0
for i = 3, #ARGV, 2 do
  local f = ARGV[i]
  local lf = ARGV[i + 1]
  local c = redis.call('HDEL', bucket(f), f)
  if c > 0 then redis.call('DECR', KEYS[4]) end
  local l = redis.call('HDEL', KEYS[1], lf)
  redis.call('ZREM', KEYS[2], lf)
  n = n + math.max(c, l)
  if ARGV[2] == 'u' then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'op', 'del', 'k', lf)
  else
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'd', f)
  end
end
return {n, tonumber(redis.call('GET', KEYS[4]) or '0')}
`)

// compactPurgeScript removes the entries of buckets KEYS[2..] expired at
// ARGV[1]; a value it cannot read stays (see unreadableEntry). KEYS[1]:
// the compact count. It returns how many it removed. It reads no bucket
// count: an entry it removes is expired wherever it is.
var compactPurgeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = 0
for i = 2, #KEYS do
  local kv = redis.call('HGETALL', KEYS[i])
  local dead = {}
  for j = 1, #kv, 2 do
    local v = kv[j + 1]
    if #v == 8 and struct.unpack('>I4', v) <= now then dead[#dead + 1] = kv[j] end
  end
  if #dead > 0 then
    redis.call('HDEL', KEYS[i], unpack(dead))
    n = n + #dead
  end
end
if n > 0 then redis.call('DECRBY', KEYS[1], n) end
return n
`)

// resizeScript adds or removes one bucket of a partition. KEYS: the bucket
// count, the compact count, bucket lo and bucket hi. ARGV[1]: the bucket
// count n the caller read; ARGV[2]: "g" (grow: hi is bucket n, lo the one
// it splits, ARGV[4] the modulus 2^(l+1) whose remainder picks the entries
// that move to hi) or "s" (shrink: hi is bucket n-1, merged into lo);
// ARGV[3]: the average entries per bucket above which it grows (below
// which it shrinks). It does nothing when n is stale or the count no
// longer calls for the step (another instance took it), and returns the
// bucket count and the compact count. The bucket split is written anew, so
// a bucket grown past a listpack becomes one again. An entry already in
// the bucket it moves to (a bucket left over from a lost count) is
// merged with it, as Entry.Merge (a value that does not read wins: it
// revokes all its key names).
var resizeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local n = tonumber(redis.call('GET', KEYS[1]) or '1')
local count = tonumber(redis.call('GET', KEYS[2]) or '0')
if n ~= tonumber(ARGV[1]) then return {n, count} end
local avg = tonumber(ARGV[3])
local dups = 0
local function put(key, kv)
  for j = 1, #kv, 2 do
    local f, v = kv[j], kv[j + 1]
    if redis.call('HSETNX', key, f, v) == 0 then
      dups = dups + 1
      local old = redis.call('HGET', key, f)
      if #old == 8 and #v == 8 then
        local oe, oc = struct.unpack('>I4I4', old)
        local ne, nc = struct.unpack('>I4I4', v)
        redis.call('HSET', key, f, struct.pack('>I4I4', math.max(oe, ne), math.max(oc, nc)))
      elseif #old == 8 then
        redis.call('HSET', key, f, v)
      end
    end
  end
end
local function hsetAll(key, kv)
  for j = 1, #kv, 1000 do
    redis.call('HSET', key, unpack(kv, j, math.min(j + 999, #kv)))
  end
end
if ARGV[2] == 'g' then
  if count <= n * avg then return {n, count} end
  local m = tonumber(ARGV[4])
  local kv = redis.call('HGETALL', KEYS[3])
  local stay, move = {}, {}
  for j = 1, #kv, 2 do
    local t = stay
    if #kv[j] == 16 and struct.unpack('>I4', kv[j], 7) % m == n then t = move end
    t[#t + 1] = kv[j]
    t[#t + 1] = kv[j + 1]
  end
  redis.call('DEL', KEYS[3])
  hsetAll(KEYS[3], stay)
  if redis.call('EXISTS', KEYS[4]) == 0 then hsetAll(KEYS[4], move) else put(KEYS[4], move) end
  n = n + 1
else
  if n <= 1 or count >= n * avg then return {n, count} end
  put(KEYS[3], redis.call('HGETALL', KEYS[4]))
  redis.call('DEL', KEYS[4])
  n = n - 1
end
redis.call('SET', KEYS[1], n)
if dups > 0 then count = redis.call('DECRBY', KEYS[2], dups) end
return {n, count}
`)

// resize splits or merges buckets of partition p, one resizeScript a step,
// until its compact count (count, as last read, then as each step reads
// it) is between shrinkBelow and growAbove entries per bucket, or
// resizeStepsPerCall steps; nothing when another goroutine of s is
// resizing p.
func (s *RedisStore) resize(ctx context.Context, p *redisPartition, count int64) error {
	if n := p.buckets.load(); count <= int64(n)*growAbove && (n == 1 || count >= int64(n)*shrinkBelow) {
		return nil
	}
	if !p.buckets.resizing.TryLock() {
		return nil // another goroutine is at it, and goes on until the count is right
	}
	defer p.buckets.resizing.Unlock()
	for range resizeStepsPerCall {
		n := p.buckets.load()
		var args []any
		var lo, hi int
		switch {
		case count > int64(n)*growAbove:
			l := bits.Len(uint(n)) - 1
			lo, hi = n-1<<l, n
			args = []any{n, "g", growAbove, 1 << (l + 1)}
		case n > 1 && count < int64(n)*shrinkBelow:
			l := bits.Len(uint(n-1)) - 1
			lo, hi = n-1-1<<l, n-1
			args = []any{n, "s", shrinkBelow}
		default:
			return nil
		}
		res, err := resizeScript.Run(ctx, s.client, []string{p.bucketsKey(), p.countKey(), p.bucketKey(lo), p.bucketKey(hi)}, args...).Int64Slice()
		if err != nil {
			return s.unavailable(fmt.Errorf("resizing the buckets of %s: %w", p.tag, err))
		}
		if len(res) != 2 || res[0] <= 0 {
			return fmt.Errorf("redis: resizing the buckets of %s: unexpected reply %v", p.tag, res)
		}
		p.buckets.store(int(res[0]))
		count = res[1]
	}
	return nil
}

// runCompact runs a compact write script for partition p with the
// arguments of items (argsOf appends an item's), and then resizes p when
// the compact count it returns calls for it. It returns the script's
// first result.
func runCompact[T any](ctx context.Context, s *RedisStore, c redis.Scripter, p *redisPartition, script *redis.Script, mode string, items []T, argsOf func([]any, *T) []any) (int64, error) {
	keys := []string{p.entriesKey, p.expiryKey, p.eventsKey, p.countKey(), p.bucketsKey()}
	args := []any{s.streamMaxLen(), mode}
	for i := range items {
		args = argsOf(args, &items[i])
	}
	res, err := script.Run(ctx, c, keys, args...).Int64Slice()
	if err != nil {
		return 0, err
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("unexpected reply %v", res)
	}
	return res[0], s.resize(ctx, p, res[1])
}

// compactMode is the mode argument of the compact scripts for s's layout.
func (s *RedisStore) compactMode() string {
	if s.writesLegacy() {
		return "u"
	}
	return "c"
}

// revokeCompact runs compactRevokeScript for a batch of partition p.
func (s *RedisStore) revokeCompact(ctx context.Context, c redis.Scripter, p *redisPartition, mode string, batch []denylist.Entry) (int64, error) {
	return runCompact(ctx, s, c, p, compactRevokeScript, mode, batch, func(a []any, e *denylist.Entry) []any {
		return append(a, string(e.Digest[:]), denylist.ClampU32(e.Expires), denylist.ClampU32(e.Cutoff), e.Key.String())
	})
}

// unrevokeCompact runs compactUnrevokeScript for a batch of partition p.
func (s *RedisStore) unrevokeCompact(ctx context.Context, p *redisPartition, batch []denylist.Key) error {
	_, err := runCompact(ctx, s, s.client, p, compactUnrevokeScript, s.compactMode(), batch, func(a []any, k *denylist.Key) []any {
		return append(a, string(k.Digest[:]), k.String())
	})
	return err
}

// getCompact queues, on pipe (a transaction), an HGET of every key's
// compact entry in each bucket of the counts window gives (try) and a GET
// of the bucket count of each partition they fall in; the returned func,
// called after the transaction ran, reports whether every count read was
// in the window the buckets were picked for (storing the counts read).
func (s *RedisStore) getCompact(ctx context.Context, pipe redis.Pipeliner, keys []denylist.Key, try int) ([][]*redis.StringCmd, func() bool) {
	cmds := make([][]*redis.StringCmd, len(keys))
	type read struct {
		p      *redisPartition
		lo, hi int
		cmd    *redis.StringCmd
	}
	var counts []read
	for i := range keys {
		p := s.part(&keys[i].Digest)
		j := slices.IndexFunc(counts, func(r read) bool { return r.p == p })
		if j < 0 {
			lo, hi := window(p.buckets.load(), try)
			counts = append(counts, read{p, lo, hi, pipe.Get(ctx, p.bucketsKey())})
			j = len(counts) - 1
		}
		field := string(keys[i].Digest[:])
		var seen []int
		bucketsBetween(uint64(digestHash(&keys[i].Digest)), counts[j].lo, counts[j].hi, func(b int) {
			if !slices.Contains(seen, b) {
				seen = append(seen, b)
				cmds[i] = append(cmds[i], pipe.HGet(ctx, p.bucketKey(b), field))
			}
		})
	}
	return cmds, func() bool {
		fresh := true
		for _, r := range counts {
			n := countRead(r.cmd)
			r.p.buckets.store(n)
			if n < r.lo || n > r.hi {
				fresh = false
			}
		}
		return fresh
	}
}

// execReads runs the reads queue queues in one transaction (MULTI/EXEC),
// so that the buckets read are those of the bucket count read with them.
// A Redis over maxmemory refuses every command queued in a transaction,
// reads too (EXECABORT): the reads are then sent again in a plain
// pipeline. Such a Redis also refuses the scripts that resize buckets,
// so the count cannot change between the reads, and a full Redis still
// serves every revocation it holds.
func (s *RedisStore) execReads(ctx context.Context, queue func(redis.Pipeliner)) error {
	pipe := s.client.TxPipeline()
	queue(pipe)
	_, err := pipe.Exec(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "EXECABORT") {
		pipe = s.client.Pipeline()
		queue(pipe)
		_, err = pipe.Exec(ctx)
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// countRead is the bucket count a GET read (missing or unreadable: 1).
func countRead(c *redis.StringCmd) int {
	n, err := c.Int()
	if err != nil || n <= 0 {
		return 1
	}
	return n
}

// lookup returns the stored entry of each key (ok false where none), from
// both layouts when s reads both, merged (lookupTogether); whole is false
// when a direct store found a partition's sentinel gone (queueLegacy). A
// Redis Cluster runs no transaction across hash slots (go-redis answers
// CROSSSLOT), and the compact layout reads in a transaction: there the
// keys of each partition (one hash slot) are read in a transaction of
// their own, the partitions at once. A query's keys are in several
// partitions whenever it has more than one (a JWT's identity, jti,
// session and user; an opaque token's identity and its lower-case
// spelling's).
func (s *RedisStore) lookup(ctx context.Context, keys []denylist.Key) ([]denylist.Entry, []bool, bool, error) {
	if _, cluster := s.client.(*redis.ClusterClient); !cluster || !s.readsCompact() {
		return s.lookupTogether(ctx, keys)
	}
	var groups [][]int // indexes of keys, a partition each
	var parts []*redisPartition
	for i := range keys {
		p := s.part(&keys[i].Digest)
		j := slices.Index(parts, p)
		if j < 0 {
			parts, groups = append(parts, p), append(groups, nil)
			j = len(parts) - 1
		}
		groups[j] = append(groups[j], i)
	}
	if len(groups) == 1 {
		return s.lookupTogether(ctx, keys)
	}
	out, found := make([]denylist.Entry, len(keys)), make([]bool, len(keys))
	wholes, errs := make([]bool, len(groups)), make([]error, len(groups))
	var wg sync.WaitGroup
	for g, idx := range groups {
		wg.Go(func() { // each group writes its own indexes only
			sub := make([]denylist.Key, len(idx))
			for k, i := range idx {
				sub[k] = keys[i]
			}
			var e []denylist.Entry
			var f []bool
			if e, f, wholes[g], errs[g] = s.lookupTogether(ctx, sub); errs[g] == nil {
				for k, i := range idx {
					out[i], found[i] = e[k], f[k]
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, false, err
	}
	return out, found, !slices.Contains(wholes, false), nil
}

// lookupTogether is lookup in one pipelined round trip (a cluster client
// sends each node its share in parallel; with the compact layout a
// transaction, again should a bucket count have changed since it was last
// read).
func (s *RedisStore) lookupTogether(ctx context.Context, keys []denylist.Key) (_ []denylist.Entry, _ []bool, whole bool, _ error) {
	fields := make([]string, len(keys))
	for i := range keys {
		fields[i] = keys[i].String()
	}
	var legacyVals func() ([]any, bool)
	var compact [][]*redis.StringCmd
	for try := 0; ; try++ {
		if !s.readsCompact() {
			pipe := s.client.Pipeline()
			legacyVals = s.queueLegacy(ctx, pipe, keys, fields)
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return nil, nil, false, err
			}
			break
		}
		// A transaction: the buckets read are those of the count read.
		var fresh func() bool
		if err := s.execReads(ctx, func(pipe redis.Pipeliner) {
			legacyVals = s.queueLegacy(ctx, pipe, keys, fields)
			compact, fresh = s.getCompact(ctx, pipe, keys, try)
		}); err != nil {
			return nil, nil, false, err
		}
		if fresh() {
			break
		}
		if try == staleRetries {
			return nil, nil, false, fmt.Errorf("the bucket count changed at each of %d reads", staleRetries)
		}
	}
	legacy, whole := legacyVals()
	out := make([]denylist.Entry, len(keys))
	found := make([]bool, len(keys))
	for i := range keys {
		if v, ok := legacy[i].(string); ok {
			out[i], found[i] = s.readStored(parseValue(keys[i], v))
		}
		if compact == nil {
			continue
		}
		for _, c := range compact[i] { // a bucket, or the buckets of a window
			if v, err := c.Result(); err == nil {
				if e, ok := s.readStored(parseCompact(string(keys[i].Digest[:]), v)); ok {
					if found[i] {
						e = out[i].Merge(e)
					}
					out[i], found[i] = e, true
					out[i].Key = keys[i]
				}
			}
		}
	}
	return out, found, whole, nil
}

// The compact layout is read (loaded, listed) by classes of hashes, not
// by bucket numbers, since a bucket's entries may move while it is read:
// the entries whose hash (digestHash), mod 2^k, is in [r0, r1) are read
// together in one transaction with the bucket count, from the buckets
// that count puts them in (classBuckets), so an entry present throughout
// is read in its class, whatever splits and merges happen meanwhile.

// classBuckets returns the buckets that hold the hashes whose remainder
// mod 2^k is in [r0, r1) for every bucket count in [lo, hi], in
// increasing order.
func classBuckets(k, r0, r1, lo, hi int) []int {
	m := max(k, bits.Len(uint(hi))) // the bucket depends on h mod 2^m alone
	seen := make(map[int]bool, r1-r0)
	var out []int
	add := func(b int) {
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	for r := r0; r < r1; r++ {
		for x := uint64(r); x < 1<<m; x += 1 << k {
			bucketsBetween(x, lo, hi, add)
		}
	}
	slices.Sort(out)
	return out
}

// readClasses appends to out the live entries of partition p whose hash,
// mod 2^k, is in [r0, r1) (and any entry whose field does not read, which
// has no hash: readStored says whether it is kept).
func (s *RedisStore) readClasses(ctx context.Context, p *redisPartition, k, r0, r1 int, now int64, out []denylist.Entry) ([]denylist.Entry, error) {
	for try := range staleRetries {
		lo, hi := window(p.buckets.load(), try)
		bs := classBuckets(k, r0, r1, lo, hi)
		var count *redis.StringCmd
		// HSCAN rather than HGETALL: a flat reply (no map built per
		// bucket), all of a listpack in one call.
		scans := make([]*redis.ScanCmd, len(bs))
		if err := s.execReads(ctx, func(pipe redis.Pipeliner) {
			count = pipe.Get(ctx, p.bucketsKey())
			for i, b := range bs {
				scans[i] = pipe.HScan(ctx, p.bucketKey(b), 0, "", bucketScanCount)
			}
		}); err != nil {
			return out, err
		}
		if n := countRead(count); n < lo || n > hi {
			p.buckets.store(n)
			continue
		}
		kvs := make([][]string, 0, len(bs))
		whole := true // no bucket past a listpack, which one HSCAN does not read whole
		for _, c := range scans {
			kv, cur := c.Val()
			kvs = append(kvs, kv)
			whole = whole && cur == 0
		}
		if !whole {
			// Every bucket again, whole, in one transaction: the
			// entries of the classes are in these buckets then.
			all := make([]*redis.MapStringStringCmd, len(bs))
			if err := s.execReads(ctx, func(pipe redis.Pipeliner) {
				count = pipe.Get(ctx, p.bucketsKey())
				for i, b := range bs {
					all[i] = pipe.HGetAll(ctx, p.bucketKey(b))
				}
			}); err != nil {
				return out, err
			}
			if n := countRead(count); n < lo || n > hi {
				p.buckets.store(n)
				continue
			}
			kvs = kvs[:0]
			for _, c := range all {
				kv := make([]string, 0, 2*len(c.Val()))
				for f, v := range c.Val() {
					kv = append(kv, f, v)
				}
				kvs = append(kvs, kv)
			}
		}
		mask := uint64(1)<<k - 1
		for _, kv := range kvs {
			for j := 0; j+1 < len(kv); j += 2 {
				if f := kv[j]; len(f) == denylist.DigestSize {
					if c := int(uint64(binary.BigEndian.Uint32([]byte(f[6:10]))) & mask); c < r0 || c >= r1 {
						continue // another class's, read with it
					}
				}
				if e, ok := s.readStored(parseCompact(kv[j], kv[j+1])); ok && e.Live(now) {
					out = append(out, e)
				}
			}
		}
		return out, nil
	}
	return out, fmt.Errorf("the bucket count of %s changed at each of %d reads", p.tag, staleRetries)
}

// loadCompact calls fn with every live entry of partition p's buckets,
// reading about bucketsPerCall buckets per transaction (readClasses);
// the next round trips are on their way while fn runs, as in
// loadPartition.
func (s *RedisStore) loadCompact(ctx context.Context, p *redisPartition, fn func([]denylist.Entry)) error {
	n, err := s.client.Get(ctx, p.bucketsKey()).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return s.unavailable(err)
	}
	p.buckets.store(max(n, 1))
	k := bits.Len(uint(p.buckets.load())) // 2^k classes: one or two per bucket
	now := s.now().Unix()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan bucketPage, loadFetchers)
	var fetchers sync.WaitGroup
	for f := range loadFetchers {
		fetchers.Add(1)
		go func() {
			defer fetchers.Done()
			for r := f * bucketsPerCall; r < 1<<k; r += loadFetchers * bucketsPerCall {
				es, err := s.readClasses(ctx, p, k, r, min(r+bucketsPerCall, 1<<k), now, nil)
				select {
				case pages <- bucketPage{es, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		fetchers.Wait()
		close(pages)
	}()
	for pg := range pages {
		if pg.err != nil {
			return s.unavailable(pg.err)
		}
		fn(pg.entries)
	}
	if err := ctx.Err(); err != nil {
		return s.unavailable(err)
	}
	return nil
}

// bucketPage is what one transaction of a load read.
type bucketPage struct {
	entries []denylist.Entry
	err     error
}

// The compact part of a List cursor (listCursor.cur, "b" cursors): the
// next class r and the class width k, as r<<8 | k (k >= 1, so never 0,
// which is the start).
func classCursor(k, r int) uint64 { return uint64(r)<<8 | uint64(k) }

// validClassCursor reports whether cur is a class cursor (or the start).
func validClassCursor(cur uint64) bool {
	k := cur & 0xff
	return cur == 0 || k >= 1 && k <= 32 && cur>>8 < 1<<k
}

// listClasses is how many classes a List page reads at a time.
const listClasses = 16

// listCompact appends to out the live entries of partition p from class
// cursor cur (0: the start) on, listClasses at a time, until out holds
// limit or the classes end (next 0).
func (s *RedisStore) listCompact(ctx context.Context, p *redisPartition, cur uint64, limit int, now int64, out []denylist.Entry) (_ []denylist.Entry, next uint64, _ error) {
	k, r := int(cur&0xff), int(cur>>8)
	if cur == 0 {
		k = bits.Len(uint(p.buckets.load()))
	}
	for r < 1<<k {
		r1 := min(r+listClasses, 1<<k)
		var err error
		if out, err = s.readClasses(ctx, p, k, r, r1, now, out); err != nil {
			return out, 0, err
		}
		if r = r1; len(out) >= limit && r < 1<<k {
			return out, classCursor(k, r), nil
		}
	}
	return out, 0, nil
}

// purgeCompact removes the expired entries of a slice of every partition's
// buckets: 1/slices of them per call, the next slice at the next call, so
// that a full pass takes slices purge runs and no run blocks Redis long;
// then it merges buckets when the partition holds few enough entries for
// fewer. An entry a split or a merge moves meanwhile may wait a pass
// longer (it never matches once expired).
func (s *RedisStore) purgeCompact(ctx context.Context, now int64, slices int) (int, error) {
	total := 0
	for i := range s.parts {
		p := &s.parts[i]
		buckets := p.buckets.load()
		per := (buckets + slices - 1) / slices
		from := int(s.purgeSlice.Load()%uint64(slices)) * per
		for start := from; start < min(buckets, from+per); start += bucketsPerCall {
			keys := []string{p.countKey()}
			for b := start; b < min(buckets, from+per, start+bucketsPerCall); b++ {
				keys = append(keys, p.bucketKey(b))
			}
			n, err := compactPurgeScript.Run(ctx, s.client, keys, now).Int()
			if err != nil {
				return total, s.unavailable(err)
			}
			total += n
		}
		if err := s.resizeNow(ctx, p); err != nil {
			return total, err
		}
	}
	s.purgeSlice.Add(1)
	return total, nil
}

// resizeNow reads partition p's bucket count and compact count and
// resizes it when they call for it.
func (s *RedisStore) resizeNow(ctx context.Context, p *redisPartition) error {
	pipe := s.client.Pipeline()
	nc := pipe.Get(ctx, p.bucketsKey())
	cc := pipe.Get(ctx, p.countKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return s.unavailable(err)
	}
	p.buckets.store(countRead(nc))
	count, _ := cc.Int64()
	return s.resize(ctx, p, count)
}

// MigrateLayout moves every entry of the legacy layout into the compact
// one, merging with what the compact layout holds, one atomic script per
// batch (an entry is in one layout or the other at every moment, never in
// neither), marks the prefix compact (resolveLayout) and returns how many
// it moved. It loops until the legacy hashes are empty, so entries written
// meanwhile by instances in the upgrade layout are moved too; run it once
// no instance of an earlier release is left (they read the legacy layout
// only): instances started after it without a layout option run the
// compact layout. The store must be opened in the upgrade or compact
// layout. Mirrors need no event: what they hold does not change.
func (s *RedisStore) MigrateLayout(ctx context.Context) (int, error) {
	if !s.readsCompact() {
		return 0, errors.New("redis: migrating needs a store opened in the upgrade or compact layout")
	}
	moved := 0
	for i := range s.parts {
		p := &s.parts[i]
		for {
			var cur uint64
			for {
				kv, next, err := s.client.HScan(ctx, p.entriesKey, cur, "", redisRevokeBatch).Result()
				if err != nil {
					return moved, s.unavailable(err)
				}
				batch := make([]denylist.Entry, 0, len(kv)/2)
				for j := 0; j+1 < len(kv); j += 2 {
					if kv[j] == sentinelField {
						continue // stays: it guards the legacy keys still read
					}
					e, err := parseField(kv[j], kv[j+1])
					if err != nil {
						return moved, fmt.Errorf("redis: %s: %w (fix or delete the field, then migrate again)", p.entriesKey, err)
					}
					batch = append(batch, e)
				}
				if len(batch) > 0 {
					n, err := s.revokeCompact(ctx, s.client, p, "m", batch)
					if err != nil {
						return moved, s.unavailable(err)
					}
					moved += int(n)
				}
				if cur = next; cur == 0 {
					break
				}
			}
			left, err := s.client.HLen(ctx, p.entriesKey).Result()
			if err != nil {
				return moved, s.unavailable(err)
			}
			if left > 0 {
				if has, err := s.client.HExists(ctx, p.entriesKey, sentinelField).Result(); err == nil && has {
					left--
				}
			}
			if left == 0 {
				break
			}
		}
		// Every member but the sentinel (scored +inf).
		if err := s.client.ZRemRangeByScore(ctx, p.expiryKey, "-inf", "(+inf").Err(); err != nil {
			return moved, s.unavailable(err)
		}
	}
	return moved, s.markCompact(ctx)
}

// The layout marker. One string key per key prefix, "{prefix}:layout"
// (partition 0's slot with one partition; with more, a slot of its own,
// read once at start), whatever the partition count: it records which
// layout the prefix's data is in, so that every instance of the prefix
// agrees on what it must write.
//
//   - "compact": instances write the compact layout only; an instance
//     given "layout legacy" is refused (it would not see them).
//   - "legacy": the prefix holds the legacy layout, and instances of an
//     earlier release (which read that alone) may share it: an instance
//     without a layout option runs the upgrade layout and warns; one given
//     "layout compact" is refused until MigrateLayout (`caddy
//     token-revocation migrate-layout`) has moved the entries, which marks
//     the prefix compact.
//
// The first instance writes it with SET NX and then reads it back, so
// instances that start together agree; an instance finding it reads it
// and writes nothing (a full Redis never blocks reading). Without a marker
// an explicit layout option writes its own ("upgrade" writes "legacy"); no
// option writes what the data holds (detectLayout).
const (
	markerLegacy  = LayoutLegacy
	markerCompact = LayoutCompact
)

// markerKey names the key prefix's layout marker.
func (s *RedisStore) markerKey() string { return "{" + s.opts.KeyPrefix + "}:layout" }

// resolveLayout reads (or, on a prefix without one, writes) the layout
// marker and sets s.opts.Layout: the option when given and agreeing with
// the marker, else the layout the marker calls for (upgrade rather than
// compact on a Redis that can evict: see canEvict). It logs a warning when
// it picks the upgrade layout.
func (s *RedisStore) resolveLayout(ctx context.Context) error {
	key := s.markerKey()
	marker, err := s.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		want := markerCompact
		switch s.opts.Layout {
		case LayoutLegacy, LayoutUpgrade:
			want = markerLegacy
		case "":
			if want, err = s.detectLayout(ctx); err != nil {
				return s.unavailable(fmt.Errorf("reading the denylist to pick its layout: %w", err))
			}
		}
		if err = s.client.SetNX(ctx, key, want, 0).Err(); err != nil {
			if s.marker = want; s.fullFallback(ctx, err) {
				return nil
			}
			return s.unavailable(fmt.Errorf("writing the layout marker %s: %w", key, err))
		}
		marker, err = s.client.Get(ctx, key).Result()
	}
	if err != nil {
		return s.unavailable(fmt.Errorf("reading the layout marker %s: %w", key, err))
	}
	s.marker = marker
	switch {
	case marker != markerCompact && marker != markerLegacy:
		return fmt.Errorf("redis: %s holds %q, not a layout (%s or %s): set it to the layout of the prefix's data, or delete it to have the next instance detect it", key, marker, markerCompact, markerLegacy)
	case marker == markerCompact && s.opts.Layout == LayoutLegacy:
		return fmt.Errorf("redis: key prefix %q is in the compact layout (%s), which layout %s does not read: remove \"layout %s\" (or give this instance a key_prefix of its own)", s.opts.KeyPrefix, key, LayoutLegacy, LayoutLegacy)
	case marker == markerLegacy && s.opts.Layout == LayoutCompact:
		return fmt.Errorf("redis: key prefix %q holds the legacy layout (%s), which instances of earlier releases read alone: remove \"layout %s\" (this release then serves it in the upgrade layout), or run `caddy token-revocation migrate-layout` once no earlier release is left", s.opts.KeyPrefix, key, LayoutCompact)
	case s.opts.Layout != "":
		return nil
	case marker == markerCompact && s.canEvict():
		// The compact buckets carry no eviction sentinel (redis_guard.go):
		// on a Redis that can evict, write the legacy copies too, which
		// the sentinel guards.
		s.opts.Layout = LayoutUpgrade
		s.logger.Warn("token_revocation: redis can evict keys (maxmemory-policy "+s.Policy()+"), and the compact layout's keys carry no eviction sentinel: serving in the upgrade layout, whose legacy copies are guarded (about 4 times the memory); set maxmemory-policy noeviction to run the compact layout",
			zap.String("key_prefix", s.opts.KeyPrefix))
	case marker == markerCompact:
		s.opts.Layout = LayoutCompact
	default:
		s.opts.Layout = LayoutUpgrade
		s.logger.Warn("token_revocation: the redis key prefix holds the legacy layout of an earlier release: serving it in the upgrade layout (both layouts read and written, so earlier releases sharing it keep seeing every revocation); once every instance runs this release, run `caddy token-revocation migrate-layout` to move it to the compact layout (a third or less of the memory)",
			zap.String("key_prefix", s.opts.KeyPrefix), zap.String("marker", key))
	}
	return nil
}

// fullFallback is called when Redis refused a write needed to start
// (werr: the layout marker, or the bucket counts of the upgrade layout)
// for an instance without a layout option on a prefix of the legacy
// layout: so that a full Redis still starts it, it serves the prefix in
// the legacy layout, which needs no write to start, when no partition has
// compact buckets yet (nothing to read there). It reports whether it did.
func (s *RedisStore) fullFallback(ctx context.Context, werr error) bool {
	if !s.autoLayout || s.marker != markerLegacy || !strings.HasPrefix(werr.Error(), "OOM ") && !strings.Contains(werr.Error(), ": OOM ") {
		return false
	}
	for i := range s.parts {
		if n, err := s.client.Exists(ctx, s.parts[i].bucketsKey()).Result(); err != nil || n > 0 {
			return false
		}
	}
	s.opts.Layout = LayoutLegacy
	s.logger.Warn("token_revocation: redis is full (it refuses writes): serving the legacy layout of an earlier release as it is, without the layout marker or the compact layout; once Redis has room, restart the instance, then run `caddy token-revocation migrate-layout`",
		zap.String("key_prefix", s.opts.KeyPrefix), zap.Error(werr))
	return true
}

// detectLayout returns the layout of a prefix without a marker: legacy when
// a partition's entries hash holds an entry (a field other than its
// sentinel) or its event stream's last event is a legacy one ("op": an
// earlier release may be running on a denylist that is empty for now),
// compact otherwise (nothing there, or what the compact layout wrote).
func (s *RedisStore) detectLayout(ctx context.Context) (string, error) {
	pipe := s.client.Pipeline()
	lens := make([]*redis.IntCmd, len(s.parts))
	sentinels := make([]*redis.BoolCmd, len(s.parts))
	last := make([]*redis.XMessageSliceCmd, len(s.parts))
	for i := range s.parts {
		p := &s.parts[i]
		lens[i] = pipe.HLen(ctx, p.entriesKey)
		sentinels[i] = pipe.HExists(ctx, p.entriesKey, sentinelField)
		last[i] = pipe.XRevRangeN(ctx, p.eventsKey, "+", "-", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", err
	}
	for i := range s.parts {
		n := lens[i].Val()
		if sentinels[i].Val() {
			n--
		}
		if n > 0 {
			return markerLegacy, nil
		}
		for _, m := range last[i].Val() {
			if _, ok := m.Values["op"]; ok {
				return markerLegacy, nil
			}
		}
	}
	return markerCompact, nil
}

// canEvict reports whether Redis's maxmemory-policy, as read at open, may
// evict denylist keys (allkeys-*, or unknown).
func (s *RedisStore) canEvict() bool {
	st := s.eviction.Load()
	return st != nil && st.risk
}

// markCompact records that the prefix is in the compact layout, once
// MigrateLayout has moved every legacy entry.
func (s *RedisStore) markCompact(ctx context.Context) error {
	if err := s.client.Set(ctx, s.markerKey(), markerCompact, 0).Err(); err != nil {
		return s.unavailable(fmt.Errorf("writing the layout marker %s: %w", s.markerKey(), err))
	}
	return nil
}

// Layout returns the layout s runs: the option, or the one the key
// prefix's marker called for (see resolveLayout).
func (s *RedisStore) Layout() string { return s.opts.Layout }
