package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// fastMirror are mirror options that keep the tests quick: a read answers
// at least every 20ms, a failure is retried after 50ms.
func fastMirror() MirrorOptions {
	return MirrorOptions{MaxStaleness: 300 * time.Millisecond, Poll: 20 * time.Millisecond, Retry: 50 * time.Millisecond, Settle: 200 * time.Millisecond}
}

// openTestMirror opens a mirror on srv, as one Caddy instance would, with
// the given clock for entry times (nil: the real clock).
func openTestMirror(t *testing.T, srv *redistest.Server, clk *storetest.Clock, o MirrorOptions) *MirrorStore {
	t.Helper()
	var now func() time.Time
	if clk != nil {
		now = clk.Now
	}
	// The legacy layout, whose keys the tests read.
	rs, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: LayoutLegacy}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = zaptest.NewLogger(t)
	m, err := OpenMirror(context.Background(), rs, o)
	if err != nil {
		rs.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// eventually polls cond every 5ms until it holds, failing the test after
// timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func revoked(t *testing.T, s denylist.Store, k denylist.Key) bool {
	t.Helper()
	return storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, k)).Revoked
}

// killTail closes the mirror's blocking-read connection from the server
// side, as a network failure would.
func killTail(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, "cmd=xread") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				n, _ := strconv.ParseInt(id, 10, 64)
				if err := c.ClientKillByFilter(ctx, "ID", strconv.FormatInt(n, 10)).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no XREAD connection to kill in:\n%s", list)
	}
}

func TestMirrorSeesOtherInstancesWrites(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	a := openTestMirror(t, srv, clk, fastMirror())
	b := openTestMirror(t, srv, clk, fastMirror())

	e := storetest.TokenEntry("revoked-through-a")
	storetest.MustRevoke(t, a, e)
	if !revoked(t, a, e.Key) {
		t.Fatal("instance a does not see its own revocation at once")
	}
	eventually(t, 2*time.Second, "instance b never saw the revocation made through a", func() bool {
		return revoked(t, b, e.Key)
	})
	if revoked(t, b, storetest.TokenKey("never-revoked")) {
		t.Fatal("b rejects a token nobody revoked")
	}

	if err := b.Unrevoke(context.Background(), e.Key); err != nil {
		t.Fatal(err)
	}
	if revoked(t, b, e.Key) {
		t.Fatal("instance b does not see its own un-revocation at once")
	}
	eventually(t, 2*time.Second, "instance a never saw the un-revocation made through b", func() bool {
		return !revoked(t, a, e.Key)
	})

	// Session cut-offs travel with their value.
	sess := denylist.Entry{Key: storetest.SessionKey("s1"), Cutoff: storetest.T0, Expires: storetest.T0 + 3600}
	storetest.MustRevoke(t, a, sess)
	eventually(t, 2*time.Second, "b never saw the session revocation", func() bool {
		return storetest.MustCheck(t, b, storetest.NewQuery(storetest.T0, sess.Key)).Revoked
	})
	if storetest.MustCheck(t, b, storetest.NewQuery(storetest.T0+1, sess.Key)).Revoked {
		t.Fatal("a token issued after the session cut-off is rejected")
	}
	if age, fresh := b.Freshness(); !fresh {
		t.Fatalf("mirror b not fresh (age %s) with redis up", age)
	}
}

func TestMirrorLoadsExistingEntriesAtStart(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	rs, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: LayoutLegacy}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var es []denylist.Entry
	for i := 0; i < 2500; i++ {
		es = append(es, storetest.TokenEntry("preloaded-"+strconv.Itoa(i)))
	}
	expired := denylist.Entry{Key: storetest.TokenKey("expired"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 - 1}
	storetest.MustRevoke(t, rs, append(es, expired)...)

	m := openTestMirror(t, srv, clk, fastMirror())
	if m.Len() != len(es) {
		t.Fatalf("mirror holds %d entries, want the %d live ones", m.Len(), len(es))
	}
	for _, e := range []denylist.Entry{es[0], es[1234], es[len(es)-1]} {
		if !revoked(t, m, e.Key) {
			t.Fatalf("preloaded entry %s not revoked", e.Key)
		}
	}
	st := m.Status(context.Background())
	mirror, _ := st.Details["mirror"].(map[string]any)
	if !st.Healthy || st.Entries != len(es) || mirror["fresh"] != true || mirror["reloads"] != int64(1) {
		t.Fatalf("status %+v", st)
	}
}

func TestMirrorResumesAfterDisconnectWithoutLoss(t *testing.T) {
	// Away long enough to write meanwhile; answering from memory only, so
	// no direct check hides a loss.
	m, w, _ := disconnectedMirror(t, 300*time.Millisecond, "before")
	storetest.MustRevoke(t, w, storetest.TokenEntry("while-away-1"), storetest.TokenEntry("while-away-2"))
	if err := w.Unrevoke(context.Background(), storetest.TokenKey("before")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "mirror never caught up with the writes made while it was disconnected", func() bool {
		return revoked(t, m, storetest.TokenKey("while-away-1")) && revoked(t, m, storetest.TokenKey("while-away-2")) && !revoked(t, m, storetest.TokenKey("before"))
	})
	if n := m.reloads.Load(); n != 1 {
		t.Fatalf("%d loads, want 1: the mirror should resume from its last event, not reload", n)
	}
}

// disconnectedMirror starts a Redis with a mirror on it (answering from
// memory only, retrying a failure after retry) and another instance's
// writer; once the mirror has seen the writer revoke the token first, it
// closes the mirror's blocking read. What the test does next happens while
// the mirror is away, for about retry. raw is a plain client of the Redis.
func disconnectedMirror(t *testing.T, retry time.Duration, first string) (m *MirrorStore, w *RedisStore, raw *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	o := fastMirror()
	o.Retry = retry
	o.MaxStaleness = time.Minute
	m = openTestMirror(t, srv, clk, o)
	w, _ = openMirrorWriter(t, srv, clk)
	raw = srv.Client()
	storetest.MustRevoke(t, w, storetest.TokenEntry(first))
	eventually(t, 2*time.Second, "mirror never saw the first revocation", func() bool { return revoked(t, m, storetest.TokenKey(first)) })
	killTail(t, raw)
	return m, w, raw
}

// openMirrorWriter is another instance's plain Redis store.
func openMirrorWriter(t *testing.T, srv *redistest.Server, clk *storetest.Clock) (*RedisStore, *redistest.Server) {
	t.Helper()
	rs, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: LayoutLegacy}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return rs, srv
}

func TestMirrorResumesAfterRedisRestartWithPersistence(t *testing.T) {
	srv := redistest.StartConfig(t, "appendonly yes\nappendfsync always\n")
	clk := storetest.NewClock()
	m := openTestMirror(t, srv, clk, fastMirror())
	w, _ := openMirrorWriter(t, srv, clk)

	storetest.MustRevoke(t, w, storetest.TokenEntry("before-restart"))
	eventually(t, 2*time.Second, "mirror never saw the revocation", func() bool { return revoked(t, m, storetest.TokenKey("before-restart")) })
	srv.Restart()
	eventually(t, 5*time.Second, "writer cannot write after the restart", func() bool {
		return w.Revoke(context.Background(), storetest.TokenEntry("after-restart")) == nil
	})
	eventually(t, 3*time.Second, "mirror never saw the revocation made after the restart", func() bool {
		return revoked(t, m, storetest.TokenKey("after-restart"))
	})
	if !revoked(t, m, storetest.TokenKey("before-restart")) {
		t.Fatal("the revocation from before the restart is gone")
	}
	if n, wb := m.reloads.Load(), m.writeBacks.Load(); n != 1 || wb != 0 {
		t.Fatalf("%d loads and %d write-backs; want 1 and 0: redis kept its data", n, wb)
	}
}

func TestMirrorStaleChecksAskRedis(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	fresh := openTestMirror(t, srv, clk, fastMirror())
	o := fastMirror()
	o.MaxStaleness = time.Nanosecond // always stale
	stale := openTestMirror(t, srv, clk, o)

	// An entry that reaches Redis without an event: only a direct check
	// can know it.
	e := storetest.TokenEntry("no-event")
	if err := srv.Client().HSet(context.Background(), "{trv}:entries", e.Key.String(), e.Value()).Err(); err != nil {
		t.Fatal(err)
	}
	if !revoked(t, stale, e.Key) {
		t.Fatal("a stale mirror did not ask redis")
	}
	if stale.fallbacks.Load() == 0 {
		t.Fatal("no direct check counted")
	}
	if revoked(t, fresh, e.Key) {
		t.Fatal("a fresh mirror asked redis instead of answering from memory")
	}
}

func TestMirrorRedisDownAndStaleIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	m := openTestMirror(t, srv, clk, fastMirror())
	storetest.MustRevoke(t, m, storetest.TokenEntry("held"))

	srv.Stop()
	eventually(t, 5*time.Second, "check of an unknown token never failed with redis down and the mirror stale", func() bool {
		_, err := m.Check(context.Background(), storetest.NewQuery(storetest.T0, storetest.TokenKey("unknown")))
		if err != nil && !errors.Is(err, denylist.ErrUnavailable) {
			t.Fatalf("error %v does not wrap ErrUnavailable", err)
		}
		return err != nil
	})
	if _, fresh := m.Freshness(); fresh {
		t.Fatal("mirror says it is fresh with redis down")
	}
	// What the mirror holds is still rejected: stale can only reject more.
	if !revoked(t, m, storetest.TokenKey("held")) {
		t.Fatal("a revocation the mirror holds is no longer reported with redis down")
	}
	if st := m.Status(context.Background()); st.Healthy || st.Details["mirror"].(map[string]any)["error"] == nil {
		t.Fatalf("status with redis down: %+v", st)
	}
}

func TestMirrorWritesBackWhenRedisRestartsEmpty(t *testing.T) {
	srv := redistest.Start(t) // no persistence: a restart loses everything
	clk := storetest.NewClock()
	o := fastMirror()
	o.MaxStaleness = time.Minute // answers from memory only: the entries must survive in the mirrors
	a := openTestMirror(t, srv, clk, o)
	b := openTestMirror(t, srv, clk, o)
	sess := denylist.Entry{Key: storetest.SessionKey("s"), Cutoff: storetest.T0, Expires: storetest.T0 + 3600}
	storetest.MustRevoke(t, a, storetest.TokenEntry("revoked-before-restart"), sess)
	eventually(t, 2*time.Second, "b never saw the revocations", func() bool {
		return revoked(t, b, storetest.TokenKey("revoked-before-restart")) && revoked(t, b, sess.Key)
	})

	srv.Restart()
	raw := srv.Client()
	eventually(t, 5*time.Second, "the entries were never written back into redis", func() bool {
		n, err := raw.HLen(context.Background(), "{trv}:entries").Result()
		return err == nil && n == 3 // and the new epoch's sentinel
	})
	for _, m := range []*MirrorStore{a, b} {
		if !revoked(t, m, storetest.TokenKey("revoked-before-restart")) {
			t.Fatal("a token revoked before the restart is no longer rejected")
		}
	}
	// A new instance, which never saw the revocation, gets it from Redis.
	c := openTestMirror(t, srv, clk, fastMirror())
	if !revoked(t, c, storetest.TokenKey("revoked-before-restart")) || !storetest.MustCheck(t, c, storetest.NewQuery(storetest.T0, sess.Key)).Revoked {
		t.Fatal("an instance started after the restart does not reject the token")
	}
	if v, _ := raw.HGet(context.Background(), "{trv}:entries", sess.Key.String()).Result(); v != sess.Value() {
		t.Fatalf("session entry written back as %q, want %q", v, sess.Value())
	}
	if a.writeBacks.Load()+b.writeBacks.Load() == 0 {
		t.Fatal("no write-back counted")
	}
}

func TestMirrorReloadsWhenStreamTrimmed(t *testing.T) {
	// Away long enough to trim behind its back.
	m, w, raw := disconnectedMirror(t, 500*time.Millisecond, "first")
	storetest.MustRevoke(t, w, storetest.TokenEntry("trimmed-away"))
	if err := raw.XTrimMaxLen(context.Background(), "{trv}:events", 0).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "mirror never got the revocation whose event was trimmed", func() bool {
		return revoked(t, m, storetest.TokenKey("trimmed-away"))
	})
	if n, wb := m.reloads.Load(), m.writeBacks.Load(); n != 2 || wb != 0 {
		t.Fatalf("%d loads, %d write-backs; want 2 (a reload) and 0", n, wb)
	}
}

// A revocation whose event was trimmed before the mirror read it reaches
// the mirror by a reload, and its listeners (live connections) hear of it
// then; not of what the mirror held already.
func TestMirrorReloadTellsListeners(t *testing.T) {
	m, w, raw := disconnectedMirror(t, 500*time.Millisecond, "first")
	var h storetest.Heard
	m.OnRevoked(h.Listen)
	storetest.MustRevoke(t, w, storetest.TokenEntry("trimmed-away"))
	if err := raw.XTrimMaxLen(context.Background(), "{trv}:events", 0).Err(); err != nil {
		t.Fatal(err)
	}
	h.Wait(t, "mirror, after its reload", storetest.TokenKey("trimmed-away"))
	if h.Has(storetest.TokenKey("first")) {
		t.Error("the reload told the listeners of an entry the mirror held already")
	}
}

func TestMirrorPurgesExpiredEntries(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	o := fastMirror()
	o.PurgeEvery = 10 * time.Millisecond
	m := openTestMirror(t, srv, clk, o)
	storetest.MustRevoke(t, m, denylist.Entry{Key: storetest.TokenKey("short"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 10}, storetest.TokenEntry("long"))
	clk.Set(storetest.T0 + 10)
	if revoked(t, m, storetest.TokenKey("short")) {
		t.Fatal("an expired entry still matches")
	}
	eventually(t, 2*time.Second, "the expired entry never left memory", func() bool { return m.Len() == 1 })
}

func TestCompareStreamIDs(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"1-0", "1-0", 0}, {"1-1", "1-0", 1}, {"9-0", "10-0", -1}, {"", "0-0", 0}, {"1700000000000-5", "1700000000000-12", -1}} {
		if got, ok := compareStreamIDs(c.a, c.b); got != c.want || !ok {
			t.Errorf("compareStreamIDs(%q, %q) = %d, %v; want %d", c.a, c.b, got, ok, c.want)
		}
	}
}

// TestMirrorEventsDuringReloadReachTheNewIndex: an event the mirror applies
// while a reload fills its new index goes into the new index too, so the
// swap cannot drop a revocation the mirror was already enforcing (until the
// next read replayed it, up to Poll later, with the mirror still fresh: a
// revoked token accepted meanwhile).
func TestMirrorEventsDuringReloadReachTheNewIndex(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	m := openTestMirror(t, srv, clk, fastMirror())
	other, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: LayoutLegacy}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	e, gone := storetest.TokenEntry("during-reload"), storetest.TokenEntry("unrevoked-during-reload")
	if err := other.Revoke(context.Background(), e, gone); err != nil {
		t.Fatal(err)
	}
	if err := other.Unrevoke(context.Background(), gone.Key); err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.Client().XRange(context.Background(), m.rs.parts[0].eventsKey, "-", "+").Result()
	if err != nil || len(msgs) < 2 {
		t.Fatalf("events: %d %v", len(msgs), err)
	}
	loading := denylist.NewIndex()
	loading.Put(gone) // read by the load before the unrevocation
	m.mu.Lock()
	m.loading = loading
	gen := m.gen
	m.mu.Unlock()
	m.apply(gen, []redis.XStream{{Stream: m.rs.parts[0].eventsKey, Messages: msgs}})
	m.mu.Lock()
	m.loading = nil
	m.mu.Unlock()
	if _, ok := loading.Get(e.Key, storetest.T0); !ok {
		t.Error("a revocation applied during a reload is not in the index the reload swaps in")
	}
	if _, ok := loading.Get(gone.Key, storetest.T0); ok {
		t.Error("an unrevocation applied during a reload is not in the index the reload swaps in")
	}
}

// TestMirrorGenerationJudgedAtNow: the mirror judges its freshness at the
// time its caller gives (a request's start), and reads the clock only for
// the zero Time.
func TestMirrorGenerationJudgedAtNow(t *testing.T) {
	o := fastMirror()
	m := openTestMirror(t, redistest.Start(t), nil, o)
	eventually(t, 5*time.Second, "a fresh generation", func() bool { _, ok := m.Generation(time.Now()); return ok })
	if _, ok := m.Generation(time.Time{}); !ok {
		t.Errorf("Generation(zero): not fresh, though Generation(now) was")
	}
	if _, ok := m.Generation(time.Now().Add(time.Hour)); ok {
		t.Errorf("Generation an hour on: fresh, want stale (max_staleness %s)", o.MaxStaleness)
	}
}
