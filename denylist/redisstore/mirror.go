package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Defaults of MirrorOptions.
const (
	DefaultMirrorMaxStaleness = time.Second
	DefaultMirrorRetry        = 250 * time.Millisecond
	DefaultMirrorVerifyEvery  = time.Second
	DefaultMirrorPurgeEvery   = time.Minute
)

const (
	// mirrorReadCount is the most events one XREAD returns.
	mirrorReadCount = 1000
	// mirrorErrorLogEvery spaces out the log lines of a lasting failure.
	mirrorErrorLogEvery = 30 * time.Second
)

// MirrorOptions configures a MirrorStore.
type MirrorOptions struct {
	// MaxStaleness is how long after Redis last answered the mirror the
	// mirror still answers checks alone. Past it, a check asks Redis too
	// (RedisStore.Check), and fails with ErrUnavailable when Redis does not
	// answer. Default: DefaultMirrorMaxStaleness.
	MaxStaleness time.Duration
	// Poll is how long one read of the events stream waits for an event
	// (XREAD BLOCK). An answer without events still proves the mirror
	// fresh, so Poll must be well under MaxStaleness. Default: a quarter
	// of MaxStaleness, between 10ms and 1s.
	Poll time.Duration
	// Retry is the wait before trying again after a failed read or load.
	// Default: DefaultMirrorRetry.
	Retry time.Duration
	// VerifyEvery is how often the mirror checks, with the connection
	// up, that Redis still holds what it loaded (it always checks after a
	// reconnection). Default: DefaultMirrorVerifyEvery.
	VerifyEvery time.Duration
	// Settle is how old the epoch must be before the mirror takes the
	// denylist as whole (see mirror_proof.go): longer than it takes the
	// running instances to notice that Redis lost its data (VerifyEvery,
	// or a reconnection). Default: DefaultMirrorSettle.
	Settle time.Duration
	// PurgeEvery is how often expired entries are dropped from memory.
	// (An expired entry never matches, purged or not.) Default:
	// DefaultMirrorPurgeEvery.
	PurgeEvery time.Duration
	// Logger receives reloads, write-backs and rate-limited errors.
	Logger *zap.Logger
}

func (o MirrorOptions) withDefaults() MirrorOptions {
	if o.MaxStaleness <= 0 {
		o.MaxStaleness = DefaultMirrorMaxStaleness
	}
	if o.Poll <= 0 {
		o.Poll = min(max(o.MaxStaleness/4, 10*time.Millisecond), time.Second)
	}
	o.Poll = max(o.Poll, time.Millisecond) // XREAD BLOCK 0 would wait forever
	if o.Retry <= 0 {
		o.Retry = DefaultMirrorRetry
	}
	if o.VerifyEvery <= 0 {
		o.VerifyEvery = DefaultMirrorVerifyEvery
	}
	if o.Settle <= 0 {
		o.Settle = DefaultMirrorSettle
	}
	if o.PurgeEvery <= 0 {
		o.PurgeEvery = DefaultMirrorPurgeEvery
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// MirrorStore is a RedisStore with an in-process mirror of its denylist: a
// request check is a hash and a map look-up, not a network round trip.
//
// At start it loads every entry (RedisStore.LoadAll) and then tails the
// events stream from the last event before the load (XREAD BLOCK on a
// connection of its own), applying each revocation and un-revocation as
// Redis publishes it, so a revocation made through any instance reaches
// every mirror within about a network round trip.
//
// The mirror knows how fresh it is: Redis's last answer to its read, which
// comes at least every Poll even without events. While that answer is
// younger than MaxStaleness, Check answers from memory alone. Past it
// (Redis unreachable, the tail stuck), Check also asks Redis, and returns
// Redis's error (wrapping ErrUnavailable) when Redis does not answer: the
// handler's fail mode then applies. An entry the mirror holds is always
// reported, fresh or not, so a stale mirror can only reject more.
//
// After a reconnection, and every VerifyEvery, the mirror checks that Redis
// still holds what it loaded:
//
//   - the stream still has every event after the last one applied: it
//     resumes from there;
//   - events it has not seen were trimmed away (a long disconnection): it
//     loads everything again;
//   - Redis lost its data (restarted empty, flushed, or an older copy
//     came back, which {prefix}:epoch, a random value the first mirror
//     writes, and the stream's own counters reveal): it writes every
//     entry it holds back into Redis, then loads everything again, so a
//     token revoked before the loss stays revoked.
//
// Revoke and Unrevoke write through the RedisStore and then apply to the
// mirror at once, so an instance reads its own writes.
type MirrorStore struct {
	rs     *RedisStore
	tail   redis.UniversalClient // blocking reads get their own connection
	opts   MirrorOptions
	logger *zap.Logger

	ix          atomic.Pointer[denylist.Index]
	base        time.Time    // origin of the monotonic times below
	groups      []tailGroup  // the partitions each tail reads with one XREAD
	lastVerify  atomic.Int64 // when the last verify succeeded, ns after base
	mustVerify  atomic.Bool  // the last periodic verify failed: the tail loops verify before reading on
	verifyMu    sync.Mutex   // one verify (and reload) at a time
	reconnected atomic.Bool  // the tail opened a new connection: verify before reading on
	eventLag    atomic.Int64 // age of the last event applied when it was applied, ns
	proven      atomic.Bool  // the denylist is proven whole (mirror_proof.go)
	unprovenWhy atomic.Pointer[string]
	id          string // names this instance in {prefix}:restoring

	// mu guards the fields below, and orders local writes with the swap
	// of a reloaded index.
	mu        sync.Mutex
	loading   *denylist.Index // the index a reload is filling, which local writes go to as well
	parts     []mirrorPart    // per partition of the store
	gen       uint64          // counts reloads: a read begun before one is dropped
	lastErr   string          // the last failure of the tail, "" once it recovers
	errSince  time.Time       // when the current failure began
	errLogged time.Time       // when it was last logged

	reloads, writeBacks, fallbacks, events atomic.Int64

	revoked denylist.RevokedListeners // see OnRevoked

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// mirrorPart is what a mirror knows of one partition's events stream.
type mirrorPart struct {
	lastID  string // ID of the last event applied (or the stream's last before the load)
	seen    int64  // how many events the stream had ever received up to lastID...
	counted bool   // ...when known (Redis >= 7 counts them: XINFO STREAM entries-added)
	epoch   string // the value of the partition's epoch key the mirror loaded under
}

// tailGroup is a set of partitions whose streams one XREAD reads: all of
// them on a standalone server or through Sentinel; one per group on a
// Cluster, which refuses a command on keys of several hash slots
// (CROSSSLOT), so every partition gets its own blocking read there.
type tailGroup struct {
	parts      []int
	lastAnswer atomic.Int64 // when Redis last proved these partitions fresh, ns after base; 0: never
}

// OpenMirror loads the denylist of rs into memory and starts tailing its
// events. The mirror owns rs from then on: Close closes both. A failed load
// is returned (wrapping ErrUnavailable) and leaves rs open.
func OpenMirror(ctx context.Context, rs *RedisStore, o MirrorOptions) (*MirrorStore, error) {
	o = o.withDefaults()
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	m := &MirrorStore{rs: rs, opts: o, logger: o.Logger, base: time.Now(), done: make(chan struct{}), id: hex.EncodeToString(idb[:])}
	m.ix.Store(denylist.NewIndex())
	m.parts = make([]mirrorPart, len(rs.parts))
	for i := range rs.parts {
		m.parts[i].lastID = "0-0"
	}
	for _, parts := range rs.tailGroups() {
		m.groups = append(m.groups, tailGroup{parts: parts})
	}

	uo := rs.opts.universalOptions()
	uo.PoolSize = len(m.groups) + 2
	uo.MaxRetries = -1 // every failure reaches the tail loop, which re-verifies
	uo.OnConnect = func(context.Context, *redis.Conn) error {
		m.reconnected.Store(true)
		return nil
	}
	m.tail = rs.opts.newClient(uo)

	// Connect first, so that the connection the load runs on does not
	// count as a reconnection.
	err := m.tail.Ping(ctx).Err()
	if err != nil {
		err = rs.unavailable(err)
	}
	m.reconnected.Store(false)
	if err == nil {
		err = m.reload(ctx, false)
	}
	if err == nil {
		err = m.catchUp(ctx) // catch up at once, and prove the mirror fresh
	}
	if err == nil {
		err = m.prove(ctx)
	}
	if err != nil {
		m.tail.Close()
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(loopCtx)
	m.awaitProof(ctx)
	return m, nil
}

// catchUp reads every group's events once, so that the mirror opens
// fresh. A read answered on a connection opened meanwhile does not count
// (see read): on a Cluster the load itself opens connections to every
// node. Then, as the tail loop would, it verifies and reads again, a few
// times at most; the tail loop goes on from there.
func (m *MirrorStore) catchUp(ctx context.Context) error {
	for try := 0; try < 3; try++ {
		if try > 0 && m.reconnected.Load() {
			if err := m.verifyData(ctx); err != nil {
				return err
			}
		}
		answered := true
		for g := range m.groups {
			if m.groups[g].lastAnswer.Load() != 0 {
				continue
			}
			if err := m.read(ctx, false, &m.groups[g]); err != nil {
				return err
			}
			answered = answered && m.groups[g].lastAnswer.Load() != 0
		}
		if answered {
			return nil
		}
	}
	return nil
}

// since returns the monotonic time elapsed since m.base.
func (m *MirrorStore) since() time.Duration { return time.Since(m.base) }

// Freshness returns how long ago Redis last proved the mirror up to date
// (every partition of it), and whether that is within MaxStaleness (checks
// are then answered from memory alone).
func (m *MirrorStore) Freshness() (age time.Duration, fresh bool) {
	return m.freshnessAt(m.since())
}

// freshnessAt is Freshness at since (the value of m.since()).
func (m *MirrorStore) freshnessAt(since time.Duration) (age time.Duration, fresh bool) {
	var last int64
	for g := range m.groups {
		a := m.groups[g].lastAnswer.Load()
		if a == 0 {
			return since, false
		}
		if g == 0 || a < last {
			last = a
		}
	}
	age = since - time.Duration(last)
	return age, age <= m.opts.MaxStaleness
}

// clock returns the time now, in Unix seconds, and m.since(): with the
// real clock from one reading (a check reads the clock once).
func (m *MirrorStore) clock() (unix int64, since time.Duration) {
	if m.rs.realClock {
		now := time.Now()
		return now.Unix(), now.Sub(m.base)
	}
	return m.rs.now().Unix(), m.since()
}

// EventLag returns how old the last event applied was when the mirror
// applied it: the propagation delay from the writing instance, as far as
// the clocks of Redis and this host agree.
func (m *MirrorStore) EventLag() time.Duration { return time.Duration(m.eventLag.Load()) }

// Len returns the number of entries the mirror holds (expired ones until
// they are purged).
func (m *MirrorStore) Len() int { return m.ix.Load().Len() }

// Unwrap returns the RedisStore the mirror wraps (see OwnersOf).
func (m *MirrorStore) Unwrap() denylist.Store { return m.rs }

// Check implements Store: from memory while the mirror is fresh, else from
// memory and Redis.
func (m *MirrorStore) Check(ctx context.Context, q *denylist.Query) (denylist.Match, error) {
	now, since := m.clock()
	match := m.ix.Load().Check(q, now)
	if match.Revoked {
		return match, nil
	}
	if !m.proven.Load() {
		return denylist.Match{}, m.errUnproven()
	}
	if err := m.rs.refusal(); err != nil {
		return denylist.Match{}, err
	}
	if _, fresh := m.freshnessAt(since); fresh {
		return match, nil
	}
	m.fallbacks.Add(1)
	match, err := m.rs.Check(ctx, q)
	if err != nil {
		return denylist.Match{}, asUnavailable(err)
	}
	return match, nil
}

// asUnavailable wraps err in ErrUnavailable unless it already is.
func asUnavailable(err error) error {
	if errors.Is(err, denylist.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %v", denylist.ErrUnavailable, err)
}

// Get implements Store like Check.
func (m *MirrorStore) Get(ctx context.Context, key denylist.Key) (denylist.Entry, bool, error) {
	if e, ok := m.ix.Load().Get(key, m.rs.now().Unix()); ok {
		return e, true, nil
	}
	if !m.proven.Load() {
		return denylist.Entry{}, false, m.errUnproven()
	}
	if _, fresh := m.Freshness(); fresh {
		return denylist.Entry{}, false, nil
	}
	m.fallbacks.Add(1)
	e, ok, err := m.rs.Get(ctx, key)
	if err != nil {
		return denylist.Entry{}, false, asUnavailable(err)
	}
	return e, ok, nil
}

// List implements Store: Redis is the authority for listings.
func (m *MirrorStore) List(ctx context.Context, cursor string, limit int) ([]denylist.Entry, string, error) {
	return m.rs.List(ctx, cursor, limit)
}

// Revoke implements Store: it writes through Redis, then applies the
// entries to the mirror at once.
func (m *MirrorStore) Revoke(ctx context.Context, entries ...denylist.Entry) error {
	if err := m.rs.Revoke(ctx, entries...); err != nil {
		return err
	}
	m.applyLocal(func(ix *denylist.Index) { ix.Put(entries...) })
	m.revoked.Notify(entries)
	return nil
}

// Unrevoke implements Store: it writes through Redis, then removes the
// entries from the mirror at once.
func (m *MirrorStore) Unrevoke(ctx context.Context, keys ...denylist.Key) error {
	if err := m.rs.Unrevoke(ctx, keys...); err != nil {
		return err
	}
	m.applyLocal(func(ix *denylist.Index) { ix.Delete(keys...) })
	return nil
}

// applyLocal applies a local write to the indexes (see indexes).
func (m *MirrorStore) applyLocal(apply func(*denylist.Index)) {
	m.mu.Lock()
	for _, ix := range m.indexes() {
		apply(ix)
	}
	m.mu.Unlock()
}

// indexes are what a write goes to (m.mu held): the index, and the one a
// reload is filling, if any, so that the swap cannot lose the write, local
// or read from the events.
func (m *MirrorStore) indexes() []*denylist.Index {
	if m.loading != nil {
		return []*denylist.Index{m.ix.Load(), m.loading}
	}
	return []*denylist.Index{m.ix.Load()}
}

// Status implements Store: the Redis store's status, with the mirror's
// size, freshness and history under Details["mirror"].
func (m *MirrorStore) Status(ctx context.Context) denylist.Status {
	st := m.rs.Status(ctx)
	age, fresh := m.Freshness()
	m.mu.Lock()
	mirror := map[string]any{
		"entries":          m.Len(),
		"fresh":            fresh,
		"age_ms":           age.Milliseconds(),
		"max_staleness_ms": m.opts.MaxStaleness.Milliseconds(),
		"event_lag_ms":     float64(m.EventLag().Microseconds()) / 1000,
		"last_event_id":    m.lastIDs(),
		"events_applied":   m.events.Load(),
		"reloads":          m.reloads.Load(),
		"write_backs":      m.writeBacks.Load(),
		"direct_checks":    m.fallbacks.Load(),
	}
	if m.lastErr != "" {
		mirror["error"] = m.lastErr
	}
	m.mu.Unlock()
	if st.Details == nil {
		st.Details = map[string]any{}
	}
	st.Details["mode"] = "mirror"
	st.Details["mirror"] = mirror
	st.Entries = m.Len()
	return st
}

// lastIDs returns the ID of the last event applied of each partition,
// comma-separated. m.mu must be held.
func (m *MirrorStore) lastIDs() string {
	ids := make([]string, len(m.parts))
	for i := range m.parts {
		ids[i] = m.parts[i].lastID
	}
	return strings.Join(ids, ",")
}

// Close stops the mirror and closes the RedisStore it wraps. It is safe to
// call twice.
func (m *MirrorStore) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		<-m.done
		err := m.tail.Close()
		if cerr := m.rs.Close(); cerr != nil {
			err = cerr
		}
		m.closeErr = err
	})
	return m.closeErr
}

// run runs a tail loop per group of partitions (one on a standalone server
// or through Sentinel) until ctx ends.
func (m *MirrorStore) run(ctx context.Context) {
	defer close(m.done)
	m.lastVerify.Store(int64(m.since()))
	var wg sync.WaitGroup
	for g := range m.groups {
		wg.Go(func() { m.runGroup(ctx, &m.groups[g]) })
	}
	wg.Go(func() { m.verifyLoop(ctx) })
	wg.Go(func() {
		everyTick(ctx, m.opts.PurgeEvery, func() {
			if n := m.ix.Load().Purge(m.rs.now().Unix()); n > 0 {
				m.logger.Debug("purged expired entries from the denylist mirror", zap.Int("entries", n))
			}
		})
	})
	wg.Wait()
}

// verifyLoop verifies every VerifyEvery beside the tail loops, so that
// the reads (and the propagation of revocations) do not wait for it: a
// verify is several round trips, one per partition and more. A reload it
// starts drops the reads begun before (gen); a failure makes the tail loops
// verify before they read on.
func (m *MirrorStore) verifyLoop(ctx context.Context) {
	everyTick(ctx, max(m.opts.VerifyEvery/4, time.Millisecond), func() {
		if err := m.maybeVerify(ctx, false, true); err != nil && ctx.Err() == nil {
			m.mustVerify.Store(true)
		}
	})
}

// runGroup is a tail loop: verify when needed, read, apply, repeat; on
// failure wait Retry and verify again.
func (m *MirrorStore) runGroup(ctx context.Context, g *tailGroup) {
	failing := false
	for ctx.Err() == nil {
		err := m.maybeVerify(ctx, failing, false)
		if err == nil {
			err = m.read(ctx, true, g)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failing = true
			m.noteError(err)
			select {
			case <-ctx.Done():
			case <-time.After(m.opts.Retry):
			}
			continue
		}
		if failing {
			failing = false
			m.noteRecovered()
		}
	}
}

// maybeVerify verifies (see verify) when force is set, after a
// reconnection, while the denylist is unproven, after a failed periodic
// verify, or, with periodic, when the last verify is VerifyEvery old; one
// at a time.
func (m *MirrorStore) maybeVerify(ctx context.Context, force, periodic bool) error {
	due := func() bool {
		return force || m.reconnected.Load() || !m.proven.Load() || m.mustVerify.Load() ||
			periodic && m.since()-time.Duration(m.lastVerify.Load()) >= m.opts.VerifyEvery
	}
	if !due() {
		return nil
	}
	m.verifyMu.Lock()
	defer m.verifyMu.Unlock()
	if !due() { // another loop verified meanwhile
		return nil
	}
	if err := m.verify(ctx); err != nil {
		return err
	}
	m.mustVerify.Store(false)
	m.lastVerify.Store(int64(m.since()))
	return nil
}

// read reads the events of g's partitions after the last one applied and
// applies them; with block, it waits up to Poll for one. An answer that
// holds every pending event proves g's partitions fresh.
func (m *MirrorStore) read(ctx context.Context, block bool, g *tailGroup) error {
	streams := make([]string, 2*len(g.parts))
	m.mu.Lock()
	gen := m.gen
	for i, p := range g.parts {
		streams[i] = m.rs.parts[p].eventsKey
		streams[len(g.parts)+i] = m.parts[p].lastID
	}
	m.mu.Unlock()
	args := &redis.XReadArgs{Streams: streams, Count: mirrorReadCount, Block: -1}
	if block {
		args.Block = m.opts.Poll
	}
	wait := m.rs.opts.ReadTimeout
	if wait <= 0 {
		wait = DefaultRedisReadTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, m.opts.Poll+wait)
	res, err := m.tail.XRead(rctx, args).Result()
	cancel()
	answered := m.since()
	if err != nil && !errors.Is(err, redis.Nil) { // Nil: no event within Poll
		return m.rs.unavailable(fmt.Errorf("reading the events stream: %w", err))
	}
	if m.reconnected.Load() {
		// Answered on a new connection: perhaps by a server that lost
		// what the mirror holds. Verify first, then read again.
		return nil
	}
	if m.apply(gen, res) {
		g.lastAnswer.Store(int64(answered))
	}
	return nil
}

// apply applies events read from the streams, in order, unless the mirror
// reloaded since the read began (gen): the next read then starts from the
// reload's positions. It reports whether the read held every event
// pending (no stream filled its Count).
func (m *MirrorStore) apply(gen uint64, res []redis.XStream) (complete bool) {
	added := m.revoked.Batch()                      // nil when nobody listens (live connections)
	defer func() { m.revoked.NotifyBatch(added) }() // after the lock is released
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != gen {
		added = nil
		return false
	}
	complete = true
	indexes := m.indexes()
	for _, st := range res {
		msgs := st.Messages
		p, ok := m.rs.partOf[st.Stream]
		if !ok || len(msgs) == 0 {
			continue
		}
		if len(msgs) >= mirrorReadCount {
			complete = false
		}
		for _, msg := range msgs {
			op, e, err := ParseEvent(msg)
			if err != nil {
				m.logger.Warn("unreadable event in the redis denylist stream", zap.Bool("kept_as_revoking", keyRead(err)), zap.Error(err))
			}
			switch {
			case !keyRead(err):
			case op == EventAdd:
				for _, ix := range indexes {
					ix.Put(e)
				}
				added.Add(e)
			case op == EventDel:
				for _, ix := range indexes {
					ix.Delete(e.Key)
				}
			}
		}
		last := msgs[len(msgs)-1].ID
		if ms, _, ok := parseStreamID(last); ok {
			m.eventLag.Store(int64(time.Since(time.UnixMilli(int64(ms)))))
		}
		m.events.Add(int64(len(msgs)))
		m.parts[p].lastID = last
		m.parts[p].seen += int64(len(msgs))
	}
	return complete
}

// verify checks that Redis still holds everything the mirror has seen and
// everything after it, and reloads (writing back first, if Redis lost
// data) when not.
func (m *MirrorStore) verify(ctx context.Context) error {
	if err := m.verifyData(ctx); err != nil {
		return err
	}
	return m.prove(ctx)
}

// verifyData is verify but for the proof.
func (m *MirrorStore) verifyData(ctx context.Context) error {
	m.reconnected.Store(false) // a reconnection from here on calls for another check
	trimmed := false
	for p := range m.parts {
		wb, reload, err := m.verifyPartition(ctx, p)
		if err != nil {
			return err
		}
		if wb {
			return m.reload(ctx, true)
		}
		trimmed = trimmed || reload
	}
	if trimmed {
		m.logger.Info("events the denylist mirror had not seen were trimmed from the stream: reloading",
			zap.String("redis", m.rs.where))
		return m.reload(ctx, false)
	}
	return nil
}

// verifyPartition checks one partition: writeBack when Redis lost data the
// mirror holds, reload when events the mirror has not seen were trimmed.
func (m *MirrorStore) verifyPartition(ctx context.Context, p int) (writeBack, reload bool, err error) {
	epoch, whole, err := m.rs.epochState(ctx, m.tail, p)
	if err != nil {
		return false, false, err
	}
	m.mu.Lock()
	mp := m.parts[p]
	m.mu.Unlock()
	lastID, seen, counted := mp.lastID, mp.seen, mp.counted
	if epoch != "" && !whole && sameEpoch(epoch, mp.epoch) {
		// Keys lost under the epoch the mirror loaded (evicted): a new
		// epoch tells every instance, as a Redis restarted empty would.
		m.rs.noteLost(p, epoch)
		if _, err := m.rs.renewEpoch(ctx, m.tail, p, epoch, false); err != nil {
			return false, false, err
		}
		return true, false, nil
	}
	if epoch != "" && whole && !epochHasSentinel(epoch) && sameEpoch(epoch, mp.epoch) {
		_, _ = m.rs.renewEpoch(ctx, m.tail, p, epoch, true) // give an earlier release's epoch sentinels (best effort)
	}
	if !sameEpoch(epoch, mp.epoch) {
		m.logger.Warn("redis lost the denylist (restarted empty or flushed): writing back the entries this instance holds",
			zap.String("redis", m.rs.where), zap.Int("partition", p))
		return true, false, nil
	}
	info, exists, err := m.streamInfo(ctx, p)
	if err != nil {
		return false, false, err
	}
	counts := counted && info.EntriesAdded > 0 // Redis >= 7, and a count since the load
	last, _ := compareStreamIDs(info.LastGeneratedID, lastID)
	switch {
	case !exists && lastID != "0-0", last < 0, counts && info.EntriesAdded < seen:
		// The stream is gone or behind the mirror: an older copy of the
		// data came back (a snapshot, a lagging replica promoted).
		m.logger.Warn("redis holds an older copy of the denylist than this instance saw: writing back the entries this instance holds",
			zap.String("redis", m.rs.where), zap.Int("partition", p), zap.String("last_seen_event", lastID), zap.String("stream_last_event", info.LastGeneratedID))
		return true, false, nil
	case last == 0:
		return false, false, nil // no event since the last one applied
	case counts:
		// The events after lastID are the newest EntriesAdded-seen:
		// all still there unless trimmed.
		if info.Length >= info.EntriesAdded-seen {
			return false, false, nil
		}
	default:
		// No count (Redis < 7): the stream still holds lastID's
		// successors if its first entry is not after lastID.
		if first, _ := compareStreamIDs(info.FirstEntry.ID, lastID); info.Length > 0 && first <= 0 {
			return false, false, nil
		}
	}
	return false, true, nil
}

// reload loads every entry into a new index and swaps it in. With
// writeBack, it first writes every live entry the mirror holds into Redis.
func (m *MirrorStore) reload(ctx context.Context, writeBack bool) error {
	start := time.Now()
	// The epochs first: should Redis lose its data again while the entries
	// are written back or loaded, an epoch goes with it, and the check
	// after the load below notices.
	parts := make([]mirrorPart, len(m.parts))
	for p := range parts {
		epoch, err := m.ensureEpoch(ctx, p)
		if err != nil {
			return err
		}
		parts[p].epoch = epoch
	}
	if writeBack {
		done, err := m.register(ctx)
		if err != nil {
			return err
		}
		defer done()
		if err := m.writeBack(ctx); err != nil {
			return err
		}
	}
	// The streams' positions before the load: the events after them are
	// read afterwards, so nothing written during the load is missed.
	for p := range parts {
		info, exists, err := m.streamInfo(ctx, p)
		if err != nil {
			return err
		}
		// A stream that does not exist has had no event, whatever the
		// version; Redis < 7 does not count them (entries-added 0).
		parts[p].lastID, parts[p].seen = info.LastGeneratedID, info.EntriesAdded
		parts[p].counted = !exists || info.EntriesAdded > 0
	}
	n, err := m.rs.Entries(ctx)
	if err != nil {
		return err
	}
	fresh := denylist.NewIndexSize(int(n))
	m.mu.Lock()
	m.loading = fresh
	m.mu.Unlock()
	err = m.rs.loadConcurrently(ctx, func(es []denylist.Entry) { fresh.Put(es...) })
	for p := 0; err == nil && p < len(parts); p++ {
		// Swap only what was loaded under the epochs written before: a
		// Redis that lost its data again meanwhile would make the mirror
		// drop what it is to write back.
		var now string
		if now, err = m.getEpoch(ctx, p); err == nil && !sameEpoch(now, parts[p].epoch) {
			err = m.rs.unavailable(errors.New("redis lost its data again during the load"))
		}
	}
	m.mu.Lock()
	m.loading = nil
	old := m.ix.Load()
	if err == nil {
		m.ix.Store(fresh)
		m.parts = parts
		m.gen++
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.notifyReloaded(old, fresh)
	m.reloads.Add(1)
	m.logger.Info("denylist mirror loaded", zap.String("redis", m.rs.where), zap.Int("entries", fresh.Len()),
		zap.Duration("took", time.Since(start)), zap.Bool("wrote_back", writeBack))
	return nil
}

// notifyReloaded tells the listeners (live connections) of the live
// entries a reload found that the index it replaced did not hold: the
// revocations whose events the mirror never read (trimmed from the stream,
// or lost with a Redis that restarted). Batched, outside every lock.
func (m *MirrorStore) notifyReloaded(old, fresh *denylist.Index) {
	if !m.revoked.Listening() {
		return
	}
	now := m.rs.now().Unix()
	var batch []denylist.Entry
	fresh.Range(func(e denylist.Entry) bool {
		if !e.Live(now) {
			return true
		}
		if had, ok := old.Get(e.Key, now); ok && had == e {
			return true // held already: its listeners were told
		}
		batch = append(batch, e)
		return true
	})
	for len(batch) > 0 {
		n := min(len(batch), 4096)
		m.revoked.Notify(batch[:n])
		batch = batch[n:]
	}
}

// writeBack writes every live entry of the mirror into Redis (merged with
// whatever Redis holds again by now).
func (m *MirrorStore) writeBack(ctx context.Context) error {
	now := m.rs.now().Unix()
	var held []denylist.Entry
	m.ix.Load().Range(func(e denylist.Entry) bool {
		if e.Live(now) {
			held = append(held, e)
		}
		return true
	})
	if err := m.rs.Revoke(ctx, held...); err != nil {
		return err
	}
	m.writeBacks.Add(1)
	m.logger.Warn("wrote the denylist mirror's entries back into redis", zap.String("redis", m.rs.where), zap.Int("entries", len(held)))
	return nil
}

// getEpoch returns the value of partition p's epoch key, "" when it is
// missing. The epoch is a random value written when a mirror finds none,
// which disappears with everything else when Redis (the partition's
// primary) loses its data.
func (m *MirrorStore) getEpoch(ctx context.Context, p int) (string, error) {
	v, err := m.tail.Get(ctx, m.rs.parts[p].epochKey()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", m.rs.unavailable(fmt.Errorf("reading the epoch: %w", err))
	}
	return v, nil
}

// ensureEpoch returns partition p's epoch, reading it first and writing
// only when it must (a full Redis refuses writes, not reads): a new one
// with sentinels when there is none (the first mirror to write it wins) or
// when its sentinels are gone (keys lost: noteLost); an epoch of an
// earlier release is given sentinels when Redis takes the write.
func (m *MirrorStore) ensureEpoch(ctx context.Context, p int) (string, error) {
	epoch, whole, err := m.rs.epochState(ctx, m.tail, p)
	switch {
	case err != nil:
		return "", err
	case epoch != "" && whole && epochHasSentinel(epoch):
		return epoch, nil
	case epoch != "" && whole: // an earlier release's epoch
		if up, err := m.rs.renewEpoch(ctx, m.tail, p, epoch, true); err == nil {
			return up, nil
		}
		return epoch, nil
	case epoch != "":
		m.rs.noteLost(p, epoch)
	}
	return m.rs.renewEpoch(ctx, m.tail, p, epoch, false)
}

// streamInfo returns XINFO STREAM of partition p's events stream; exists
// is false (and info the empty stream's) when there is no stream.
func (m *MirrorStore) streamInfo(ctx context.Context, p int) (info *redis.XInfoStream, exists bool, err error) {
	info, err = m.tail.XInfoStream(ctx, m.rs.parts[p].eventsKey).Result()
	if err != nil && strings.Contains(err.Error(), "no such key") {
		return &redis.XInfoStream{LastGeneratedID: "0-0"}, false, nil
	}
	if err != nil {
		return nil, false, m.rs.unavailable(fmt.Errorf("XINFO STREAM: %w", err))
	}
	if info.LastGeneratedID == "" {
		info.LastGeneratedID = "0-0"
	}
	return info, true, nil
}

// noteError records a failure of the tail and logs it: at once the first
// time, then at most every mirrorErrorLogEvery.
func (m *MirrorStore) noteError(err error) {
	now := time.Now()
	m.mu.Lock()
	first := m.lastErr == ""
	if first {
		m.errSince = now
	}
	m.lastErr = err.Error()
	logIt := first || now.Sub(m.errLogged) >= mirrorErrorLogEvery
	if logIt {
		m.errLogged = now
	}
	since := m.errSince
	m.mu.Unlock()
	if logIt {
		age, _ := m.Freshness()
		m.logger.Warn("denylist mirror cannot read redis; checks past max_staleness ask redis directly",
			zap.Error(err), zap.Duration("failing_for", now.Sub(since)), zap.Duration("mirror_age", age))
	}
}

func (m *MirrorStore) noteRecovered() {
	m.mu.Lock()
	since := m.errSince
	m.lastErr = ""
	m.mu.Unlock()
	m.logger.Info("denylist mirror reads redis again", zap.Duration("failed_for", time.Since(since)))
}

// parseStreamID splits a stream ID "<ms>-<seq>".
func parseStreamID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// compareStreamIDs compares two stream IDs (-1, 0, +1); an empty ID is
// "0-0". ok is false when either is malformed.
func compareStreamIDs(a, b string) (cmp int, ok bool) {
	if a == "" {
		a = "0-0"
	}
	if b == "" {
		b = "0-0"
	}
	ams, aseq, aok := parseStreamID(a)
	bms, bseq, bok := parseStreamID(b)
	switch {
	case ams != bms:
		cmp = compareU64(ams, bms)
	default:
		cmp = compareU64(aseq, bseq)
	}
	return cmp, aok && bok
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var _ denylist.Store = (*MirrorStore)(nil)

// Ping reports whether Redis answers (RedisStore.Ping).
func (m *MirrorStore) Ping(ctx context.Context) error { return m.rs.Ping(ctx) }

// Generation implements Generational while the mirror is proven and fresh
// (its checks are then answered from memory alone).
func (m *MirrorStore) Generation() (uint64, bool) {
	ix := m.ix.Load()
	gen := ix.Generation()
	if !m.proven.Load() {
		return 0, false
	}
	if _, fresh := m.Freshness(); !fresh {
		return 0, false
	}
	return gen, true
}

// OnRevoked implements RevokedNotifier: fn is told of every entry this
// mirror's Revoke stores, and of every entry another instance stored, as
// soon as the mirror reads its event from the stream, or, when its event
// was trimmed from the stream before the mirror read it, as soon as a
// reload finds it.
func (m *MirrorStore) OnRevoked(fn func([]denylist.Entry)) (remove func()) { return m.revoked.Add(fn) }
