package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
func (m *MirrorStore) clock(q *denylist.Query) (unix int64, since time.Duration) {
	if m.rs.realClock {
		now := q.Time() // the request's clock read, when it made one
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
	now, since := m.clock(q)
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

var _ denylist.Store = (*MirrorStore)(nil)

// Ping reports whether Redis answers (RedisStore.Ping).
func (m *MirrorStore) Ping(ctx context.Context) error { return m.rs.Ping(ctx) }

// Generation implements Generational while the mirror is proven and fresh
// (its checks are then answered from memory alone).
func (m *MirrorStore) Generation(now time.Time) (uint64, bool) {
	ix := m.ix.Load()
	gen := ix.Generation()
	if !m.proven.Load() {
		return 0, false
	}
	since := now.Sub(m.base)
	if now.IsZero() || !m.rs.realClock {
		since = m.since()
	}
	if _, fresh := m.freshnessAt(since); !fresh {
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
