package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// openTestRedis starts a redis-server (with args) and opens a store on it
// with an injected clock and no background purge.
func openTestRedis(t *testing.T, args ...string) (*RedisStore, *redistest.Server, *storetest.Clock) {
	t.Helper()
	srv := redistest.Start(t, args...)
	clk := storetest.NewClock()
	// The legacy layout, whose keys the tests read (the default layout
	// is redis_layout_test.go's).
	s, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: LayoutLegacy}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv, clk
}

func TestRedisRevokeCheckMerge(t *testing.T) {
	ctx := context.Background()
	s, srv, _ := openTestRedis(t)
	rc := srv.Client()
	tok, sess := storetest.TokenKey("a"), storetest.SessionKey("s1")

	if m := storetest.MustCheck(t, s, storetest.NewQuery(0, tok)); m.Revoked {
		t.Fatal("revoked before any revocation")
	}
	storetest.MustRevoke(t, s, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100})
	m := storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, tok))
	if !m.Revoked || m.Entry != (denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100}) {
		t.Fatalf("after revoke: %+v", m)
	}

	// The stored layout: hash value, expiry score.
	if v := rc.HGet(ctx, "{trv}:entries", "t:"+tok.Digest.String()).Val(); v != fmt.Sprintf("%d:%d", storetest.T0+100, denylist.CutoffAlways) {
		t.Fatalf("hash value %q", v)
	}
	if sc := rc.ZScore(ctx, "{trv}:expiry", tok.String()).Val(); sc != float64(storetest.T0+100) {
		t.Fatalf("expiry score %v", sc)
	}

	// An earlier expiry never shortens the entry; a later one extends it.
	storetest.MustRevoke(t, s, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 50})
	if e, _ := storetest.MustGet(t, s, tok); e.Expires != storetest.T0+100 {
		t.Fatalf("earlier expiry shortened the entry: %+v", e)
	}
	storetest.MustRevoke(t, s, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 200})
	if e, _ := storetest.MustGet(t, s, tok); e.Expires != storetest.T0+200 {
		t.Fatalf("later expiry not kept: %+v", e)
	}
	if sc := rc.ZScore(ctx, "{trv}:expiry", tok.String()).Val(); sc != float64(storetest.T0+200) {
		t.Fatalf("expiry score not moved to the merged expiry: %v", sc)
	}

	// A later cut-off wins; an earlier one never shortens.
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: storetest.T0 - 10, Expires: storetest.T0 + 300})
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: storetest.T0, Expires: storetest.T0 + 100})
	if e, _ := storetest.MustGet(t, s, sess); e.Cutoff != storetest.T0 || e.Expires != storetest.T0+300 {
		t.Fatalf("after later cut-off: %+v, want cutoff %d expires %d", e, storetest.T0, storetest.T0+300)
	}
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: storetest.T0 - 100, Expires: storetest.T0 + 300})
	if e, _ := storetest.MustGet(t, s, sess); e.Cutoff != storetest.T0 {
		t.Fatalf("earlier cut-off shortened the entry: %+v", e)
	}
	if !storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, sess)).Revoked {
		t.Fatal("token issued at the merged cut-off not revoked")
	}

	// Several entries in one call, and a batch larger than one script.
	var many []denylist.Entry
	for i := 0; i < redisRevokeBatch+7; i++ {
		many = append(many, denylist.Entry{Key: storetest.TokenKey(strconv.Itoa(i)), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 10})
	}
	storetest.MustRevoke(t, s, many...)
	for _, e := range []denylist.Entry{many[0], many[redisRevokeBatch], many[len(many)-1]} {
		if !storetest.MustCheck(t, s, storetest.NewQuery(0, e.Key)).Revoked {
			t.Fatalf("entry %s of a large batch not revoked", e.Key)
		}
	}
	if n := rc.HLen(ctx, "{trv}:entries").Val(); n != int64(len(many)+2) {
		t.Fatalf("HLEN %d, want %d", n, len(many)+2)
	}
	if err := s.Revoke(ctx); err != nil {
		t.Fatalf("empty Revoke: %v", err)
	}
}

func TestRedisRevokeRejectsUnknownKind(t *testing.T) {
	s, _, _ := openTestRedis(t)
	err := s.Revoke(context.Background(), denylist.Entry{Key: denylist.Key{Kind: 'x'}, Expires: storetest.T0 + 10})
	if err == nil || errors.Is(err, denylist.ErrUnavailable) {
		t.Fatalf("Revoke of an unknown kind: %v", err)
	}
}

func TestRedisCutoffSemantics(t *testing.T) {
	s, _, _ := openTestRedis(t)
	const c = storetest.T0 - 60
	sess, user := storetest.SessionKey("s1"), storetest.UserKey("u1")
	storetest.MustRevoke(t, s,
		denylist.Entry{Key: sess, Cutoff: c, Expires: storetest.T0 + 3600},
		denylist.Entry{Key: user, Cutoff: c, Expires: storetest.T0 + 3600},
	)
	for _, k := range []denylist.Key{sess, user} {
		for _, tc := range []struct {
			iat  int64
			want bool
		}{{c - 1000, true}, {c - 1, true}, {c, true}, {c + 1, false}, {storetest.T0, false}, {0, true}} {
			m := storetest.MustCheck(t, s, storetest.NewQuery(tc.iat, k))
			if m.Revoked != tc.want {
				t.Errorf("%s cut-off %d, iat %d: revoked %v, want %v", k.Kind, c, tc.iat, m.Revoked, tc.want)
			}
			if m.Revoked && m.Entry.Key != k {
				t.Errorf("match names key %s, want %s", m.Entry.Key, k)
			}
		}
	}
	// In a query of several keys, the matching one is reported.
	m := storetest.MustCheck(t, s, storetest.NewQuery(c, storetest.TokenKey("absent"), storetest.SessionKey("other"), user))
	if !m.Revoked || m.Entry.Key != user {
		t.Fatalf("multi-key query: %+v", m)
	}
	if storetest.MustCheck(t, s, storetest.NewQuery(c+1, storetest.TokenKey("absent"), sess, user)).Revoked {
		t.Fatal("token issued after every cut-off revoked")
	}
	if storetest.MustCheck(t, s, &denylist.Query{}).Revoked {
		t.Fatal("empty query revoked")
	}
}

func TestRedisExpiry(t *testing.T) {
	ctx := context.Background()
	s, _, clk := openTestRedis(t)
	tok := storetest.TokenKey("a")
	storetest.MustRevoke(t, s, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 10})

	clk.Set(storetest.T0 + 9)
	if !storetest.MustCheck(t, s, storetest.NewQuery(0, tok)).Revoked {
		t.Fatal("not revoked before expiry")
	}
	if _, ok := storetest.MustGet(t, s, tok); !ok {
		t.Fatal("Get misses a live entry")
	}
	clk.Set(storetest.T0 + 10)
	storetest.CheckExpiredHidden(t, s, tok)
	if l, _, err := s.List(ctx, "", 10); err != nil || len(l) != 0 {
		t.Fatalf("List returns expired entries: %v, %v", l, err)
	}
	n := 0
	if _, err := s.LoadAll(ctx, func(denylist.Entry) { n++ }); err != nil || n != 0 {
		t.Fatalf("LoadAll returns expired entries: %d, %v", n, err)
	}
}

func TestRedisUnrevoke(t *testing.T) {
	ctx := context.Background()
	s, srv, _ := openTestRedis(t)
	rc := srv.Client()
	a, _ := storetest.CheckUnrevoke(t, s, storetest.T0+10)
	if err := rc.ZScore(ctx, "{trv}:expiry", a.String()).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("unrevoked entry left in the expiry set: %v", err)
	}
	if err := s.Unrevoke(ctx); err != nil {
		t.Fatalf("empty Unrevoke: %v", err)
	}
}

func TestRedisListPaging(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTestRedis(t)
	// More entries than a listpack-encoded hash holds, so HSCAN really pages.
	live := map[denylist.Key]denylist.Entry{}
	var all []denylist.Entry
	for i := 0; i < 600; i++ {
		e := denylist.Entry{Key: storetest.TokenKey(strconv.Itoa(i)), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100}
		if i%10 == 0 {
			e.Expires = storetest.T0 - 1 // expired: never listed
		} else {
			live[e.Key] = e
		}
		all = append(all, e)
	}
	storetest.MustRevoke(t, s, all...)

	seen := map[denylist.Key]int{}
	cursor, pages := "", 0
	for {
		page, next, err := s.List(ctx, cursor, 37)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range page {
			seen[e.Key]++
			if want, ok := live[e.Key]; !ok || e != want {
				t.Fatalf("listed %+v, want a live entry (%+v)", e, want)
			}
		}
		if next == "" {
			break
		}
		if len(page) == 0 {
			t.Fatalf("empty page with a next cursor %q", next)
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if pages < 5 {
		t.Fatalf("only %d pages of limit 37 for %d entries", pages, len(live))
	}
	for k := range live {
		if seen[k] != 1 {
			t.Errorf("entry %s listed %d times", k, seen[k])
		}
	}
	if len(seen) != len(live) {
		t.Fatalf("listed %d distinct entries, want %d", len(seen), len(live))
	}

	if _, _, err := s.List(ctx, "not-a-cursor", 10); err == nil {
		t.Fatal("malformed cursor accepted")
	}
	if page, _, err := s.List(ctx, "", 0); err != nil || len(page) == 0 {
		t.Fatalf("limit 0: %d entries, %v", len(page), err)
	}
}

func TestRedisPurge(t *testing.T) {
	ctx := context.Background()
	s, srv, _ := openTestRedis(t)
	rc := srv.Client()
	var entries []denylist.Entry
	nExpired := redisPurgeBatch + 500 // more than one script's batch
	for i := 0; i < nExpired; i++ {
		entries = append(entries, denylist.Entry{Key: storetest.TokenKey("old" + strconv.Itoa(i)), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 - int64(i%7)})
	}
	keep := denylist.Entry{Key: storetest.SessionKey("keep"), Cutoff: storetest.T0, Expires: storetest.T0 + 1}
	entries = append(entries, keep)
	storetest.MustRevoke(t, s, entries...)

	n, err := s.Purge(ctx, time.Unix(storetest.T0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if n != nExpired {
		t.Fatalf("purged %d, want %d", n, nExpired)
	}
	if h, z := rc.HLen(ctx, "{trv}:entries").Val(), rc.ZCard(ctx, "{trv}:expiry").Val(); h != 1 || z != 1 {
		t.Fatalf("after purge: HLEN %d, ZCARD %d, want 1 and 1", h, z)
	}
	if e, ok := storetest.MustGet(t, s, keep.Key); !ok || e != keep {
		t.Fatalf("purge removed a live entry: %+v %v", e, ok)
	}
	if n, err := s.Purge(ctx, time.Unix(storetest.T0, 0)); err != nil || n != 0 {
		t.Fatalf("second purge: %d, %v", n, err)
	}
}

func TestRedisPurgeLoop(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	s, err := openRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}}, clk.Now, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.MustRevoke(t, s, denylist.Entry{Key: storetest.TokenKey("a"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 5})
	clk.Set(storetest.T0 + 5)
	rc := srv.Client()
	deadline := time.Now().Add(5 * time.Second)
	for rc.HLen(ctx, "{trv}:entries").Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the background purge never removed the expired entry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRedisEvents(t *testing.T) {
	ctx := context.Background()
	s, srv, _ := openTestRedis(t)
	rc := srv.Client()
	sess := storetest.SessionKey("s")
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: storetest.T0, Expires: storetest.T0 + 100})
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: storetest.T0 - 5, Expires: storetest.T0 + 200}) // merged
	if err := s.Unrevoke(ctx, sess); err != nil {
		t.Fatal(err)
	}
	_, _, events := s.Keys()
	msgs, err := rc.XRange(ctx, events, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"op": "add", "k": sess.String(), "v": fmt.Sprintf("%d:%d", storetest.T0+100, storetest.T0)},
		{"op": "add", "k": sess.String(), "v": fmt.Sprintf("%d:%d", storetest.T0+200, storetest.T0)}, // the merged value
		{"op": "del", "k": sess.String()},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(msgs), len(want), msgs)
	}
	for i, m := range msgs {
		if fmt.Sprint(m.Values) != fmt.Sprint(want[i]) {
			t.Errorf("event %d: %v, want %v", i, m.Values, want[i])
		}
	}
	op, e, err := ParseEvent(msgs[1])
	if err != nil || op != EventAdd || e != (denylist.Entry{Key: sess, Cutoff: storetest.T0, Expires: storetest.T0 + 200}) {
		t.Fatalf("ParseEvent(add): %q %+v %v", op, e, err)
	}
	op, e, err = ParseEvent(msgs[2])
	if err != nil || op != EventDel || e.Key != sess {
		t.Fatalf("ParseEvent(del): %q %+v %v", op, e, err)
	}
	for _, bad := range []map[string]any{
		{"op": "add", "k": sess.String()},                 // no value
		{"op": "add", "k": "t:zz", "v": "1:2"},            // bad key
		{"op": "put", "k": sess.String(), "v": "1:2"},     // bad op
		{"k": sess.String()},                              // no op
		{"op": "add", "k": sess.String(), "v": "garbage"}, // bad value
	} {
		if _, _, err := ParseEvent(redis.XMessage{ID: "1-0", Values: bad}); err == nil {
			t.Errorf("ParseEvent(%v) accepted", bad)
		}
	}
}

func TestRedisEventStreamBounded(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s, err := openRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, StreamMaxLen: 10}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var entries []denylist.Entry
	for i := 0; i < 1000; i++ {
		entries = append(entries, denylist.Entry{Key: storetest.TokenKey(strconv.Itoa(i)), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 10})
	}
	storetest.MustRevoke(t, s, entries...)
	_, _, events := s.Keys()
	// MAXLEN ~ trims whole stream nodes (100 entries by default).
	if n := srv.Client().XLen(ctx, events).Val(); n < 10 || n > 200 {
		t.Fatalf("stream length %d after 1000 events with StreamMaxLen 10", n)
	}
}

func TestRedisLoadAll(t *testing.T) {
	ctx := context.Background()
	s, srv, _ := openTestRedis(t)
	last, err := s.LoadAll(ctx, func(e denylist.Entry) { t.Errorf("entry in an empty store: %+v", e) })
	if err != nil || last != "0-0" {
		t.Fatalf("empty store: last ID %q, %v", last, err)
	}

	want := map[denylist.Key]denylist.Entry{}
	var entries []denylist.Entry
	for i := 0; i < 300; i++ {
		e := denylist.Entry{Key: storetest.TokenKey(strconv.Itoa(i)), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100}
		if i%3 == 0 {
			e = denylist.Entry{Key: storetest.UserKey(strconv.Itoa(i)), Cutoff: storetest.T0 - int64(i), Expires: storetest.T0 + 50}
		}
		if i%50 == 0 {
			e.Expires = storetest.T0 // expired at t0: not loaded
		} else {
			want[e.Key] = e
		}
		entries = append(entries, e)
	}
	storetest.MustRevoke(t, s, entries...)
	_, _, events := s.Keys()
	tail, err := srv.Client().XRevRangeN(ctx, events, "+", "-", 1).Result()
	if err != nil || len(tail) != 1 {
		t.Fatalf("XREVRANGE: %v %v", tail, err)
	}

	got := map[denylist.Key]denylist.Entry{}
	last, err = s.LoadAll(ctx, func(e denylist.Entry) {
		if _, dup := got[e.Key]; dup {
			t.Errorf("entry %s loaded twice", e.Key)
		}
		got[e.Key] = e
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != tail[0].ID {
		t.Fatalf("last event ID %q, want %q", last, tail[0].ID)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d entries, want %d", len(got), len(want))
	}
	for k, e := range want {
		if got[k] != e {
			t.Errorf("loaded %+v, want %+v", got[k], e)
		}
	}

	// A write after the load is the first event after the returned ID.
	late := denylist.Entry{Key: storetest.TokenKey("late"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100}
	storetest.MustRevoke(t, s, late)
	after, err := srv.Client().XRange(ctx, events, "("+last, "+").Result()
	if err != nil || len(after) != 1 {
		t.Fatalf("events after the loaded ID: %v %v", after, err)
	}
	if _, e, err := ParseEvent(after[0]); err != nil || e != late {
		t.Fatalf("event after load: %+v %v", e, err)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s, srv, _ := openTestRedis(t)
	tok := storetest.TokenKey("a")
	storetest.MustRevoke(t, s, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100})
	srv.Stop()

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, denylist.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want an error wrapping ErrUnavailable", what, err)
		} else if !strings.Contains(err.Error(), srv.Addr) {
			t.Errorf("%s error does not name the address %s: %v", what, srv.Addr, err)
		}
	}
	start := time.Now()
	check("Revoke", s.Revoke(ctx, denylist.Entry{Key: storetest.TokenKey("b"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100}))
	m, err := s.Check(ctx, storetest.NewQuery(0, tok))
	check("Check", err)
	if m.Revoked {
		t.Error("Check with Redis down reports a match")
	}
	_, _, err = s.Get(ctx, tok)
	check("Get", err)
	check("Unrevoke", s.Unrevoke(ctx, tok))
	_, _, err = s.List(ctx, "", 10)
	check("List", err)
	_, err = s.LoadAll(ctx, func(denylist.Entry) {})
	check("LoadAll", err)
	_, err = s.Purge(ctx, time.Unix(storetest.T0, 0))
	check("Purge", err)
	if st := s.Status(ctx); st.Healthy || st.Error == "" {
		t.Errorf("Status with Redis down: %+v", st)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("failing calls took %s", d)
	}

	// The store recovers when Redis is back (empty: no persistence here).
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.Revoke(ctx, denylist.Entry{Key: storetest.TokenKey("c"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after Redis restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !storetest.MustCheck(t, s, storetest.NewQuery(0, storetest.TokenKey("c"))).Revoked {
		t.Fatal("revocation after recovery not found")
	}
}

func TestOpenRedisClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	s, err := OpenRedis(context.Background(), RedisOptions{Addrs: []string{addr}})
	if err == nil {
		s.Close()
		t.Fatal("OpenRedis on a closed port succeeded")
	}
	if d := time.Since(start); d > DefaultRedisDialTimeout+time.Second {
		t.Errorf("OpenRedis took %s to fail", d)
	}
	want := fmt.Sprintf("redis address %q: dial tcp %s: ", addr, addr)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %q does not contain %q and connection refused", err, want)
	}
	if !errors.Is(err, denylist.ErrUnavailable) {
		t.Fatalf("error does not wrap ErrUnavailable: %v", err)
	}
}

func TestOpenRedisInvalidOptions(t *testing.T) {
	for _, o := range []RedisOptions{
		{},
		{Addrs: []string{""}},
		{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}},
		{Addrs: []string{"127.0.0.1:1"}, Cluster: true, MasterName: "m"},
		{Addrs: []string{"127.0.0.1:1"}, KeyPrefix: "a{b}"},
		{Addrs: []string{"127.0.0.1:1"}, EvictionPolicy: "ignore"},
	} {
		if s, err := OpenRedis(context.Background(), o); err == nil {
			s.Close()
			t.Errorf("OpenRedis(%+v) accepted", o)
		} else if errors.Is(err, denylist.ErrUnavailable) {
			t.Errorf("OpenRedis(%+v) tried to connect: %v", o, err)
		}
	}
}

func TestOpenRedisEvictionPolicy(t *testing.T) {
	ctx := context.Background()
	t.Run("allkeys-lru refused", func(t *testing.T) {
		srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
		s, err := OpenRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, EvictionPolicy: "refuse"})
		if err == nil {
			s.Close()
			t.Fatal("OpenRedis accepted allkeys-lru with EvictionPolicy refuse")
		}
		if !strings.Contains(err.Error(), "allkeys-lru") || !strings.Contains(err.Error(), srv.Addr) {
			t.Fatalf("error does not name the policy and address: %v", err)
		}
	})
	t.Run("allkeys-lru warned", func(t *testing.T) {
		srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
		core, logs := observer.New(zapcore.DebugLevel)
		s, err := OpenRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		w := logs.FilterLevelExact(zapcore.WarnLevel).FilterField(zap.String("maxmemory_policy", "allkeys-lru"))
		if w.Len() != 1 {
			t.Fatalf("want one warning naming allkeys-lru, got %v", logs.All())
		}
		if st := s.Status(ctx); st.Details["maxmemory_policy"] != "allkeys-lru" {
			t.Fatalf("Status details: %v", st.Details)
		}
	})
	for _, p := range []string{"noeviction", "volatile-lru"} {
		t.Run(p+" accepted", func(t *testing.T) {
			srv := redistest.Start(t, "--maxmemory-policy", p)
			core, logs := observer.New(zapcore.WarnLevel)
			s, err := OpenRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, EvictionPolicy: "refuse", Logger: zap.New(core)})
			if err != nil {
				t.Fatalf("OpenRedis refused %s: %v", p, err)
			}
			s.Close()
			if logs.Len() != 0 {
				t.Fatalf("warnings for %s: %v", p, logs.All())
			}
		})
	}
	t.Run("CONFIG disabled: INFO read", func(t *testing.T) {
		srv := redistest.StartConfig(t, "rename-command CONFIG \"\"\nmaxmemory-policy allkeys-lru\n")
		_, err := OpenRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, EvictionPolicy: "refuse"})
		if err == nil || !strings.Contains(err.Error(), "allkeys-lru") {
			t.Fatalf("OpenRedis where CONFIG is disabled but INFO says allkeys-lru: %v", err)
		}
	})
	t.Run("CONFIG and INFO disabled", func(t *testing.T) {
		srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
		if err := srv.Client().Do(ctx, "ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-config", "-info").Err(); err != nil {
			t.Fatal(err)
		}
		_, err := OpenRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, Username: "limited", Password: "pw", EvictionPolicy: "refuse"})
		if err == nil || !strings.Contains(err.Error(), "cannot read maxmemory-policy") {
			t.Fatalf("OpenRedis with refuse where the policy cannot be read: %v", err)
		}
		core, logs := observer.New(zapcore.DebugLevel)
		s, err := OpenRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, Username: "limited", Password: "pw", Logger: zap.New(core)})
		if err != nil {
			t.Fatalf("OpenRedis with warn where the policy cannot be read: %v", err)
		}
		defer s.Close()
		if logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("cannot read maxmemory-policy").Len() != 1 || !s.EvictionRisk() || s.Policy() != "unknown" {
			t.Fatalf("want one warning about the unreadable policy, got %v", logs.All())
		}
	})
}

func TestRedisKeyPrefixAndStatus(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	a, err := openRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, KeyPrefix: "tenant-a"}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := openRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if e, x, ev := a.Keys(); e != "{tenant-a}:entries" || x != "{tenant-a}:expiry" || ev != "{tenant-a}:events" {
		t.Fatalf("Keys: %s %s %s", e, x, ev)
	}
	tok := storetest.TokenKey("a")
	storetest.MustRevoke(t, a, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 10})
	if storetest.MustCheck(t, b, storetest.NewQuery(0, tok)).Revoked {
		t.Fatal("a revocation under one prefix is seen under another")
	}
	st := a.Status(ctx)
	if !st.Healthy || st.Backend != "redis" || st.Entries != 1 || st.Details["topology"] != "standalone" {
		t.Fatalf("Status: %+v", st)
	}
	if a.Client() == nil {
		t.Fatal("Client() is nil")
	}
}

// TestRedisCorruptValue: a corrupt value revokes what its key names (see
// TestUnreadableValueRevokes), and no other key's answer changes.
func TestRedisCorruptValue(t *testing.T) {
	ctx := context.Background()
	s, srv, _ := openTestRedis(t)
	bad, good := storetest.SessionKey("bad"), storetest.UserKey("good")
	if err := srv.Client().HSet(ctx, "{trv}:entries", bad.String(), "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	if m := storetest.MustCheck(t, s, storetest.NewQuery(0, bad)); !m.Revoked || m.Entry.Key != bad {
		t.Fatalf("Check let a corrupt entry's key through: %+v", m)
	}
	if m := storetest.MustCheck(t, s, storetest.NewQuery(0, storetest.UserKey("other"))); m.Revoked {
		t.Fatalf("a corrupt entry revoked another key: %+v", m)
	}
	storetest.MustRevoke(t, s, denylist.Entry{Key: good, Cutoff: storetest.T0, Expires: storetest.T0 + 10})
	if m := storetest.MustCheck(t, s, storetest.NewQuery(0, good, bad)); !m.Revoked || m.Entry.Key != good {
		t.Fatalf("a corrupt entry hid a matching one: %+v", m)
	}
	// Revoking over a corrupt value replaces it.
	storetest.MustRevoke(t, s, denylist.Entry{Key: bad, Cutoff: storetest.T0, Expires: storetest.T0 + 10})
	if e, ok := storetest.MustGet(t, s, bad); !ok || e.Cutoff != storetest.T0 {
		t.Fatalf("after revoking over a corrupt value: %+v %v", e, ok)
	}
}

// TestRedisCluster runs the store against a one-node cluster holding every
// slot: it exercises the cluster client and the scripts' single-slot keys.
func TestRedisCluster(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, "--cluster-enabled", "yes")
	rc := srv.Client()
	if err := rc.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(rc.ClusterInfo(ctx).Val(), "cluster_state:ok") {
		if time.Now().After(deadline) {
			t.Fatal("cluster never became ok")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, err := openRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, Cluster: true}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sess := storetest.SessionKey("s")
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: storetest.T0, Expires: storetest.T0 + 10})
	if !storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, sess)).Revoked {
		t.Fatal("not revoked in cluster mode")
	}
	if err := s.Unrevoke(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Purge(ctx, time.Unix(storetest.T0, 0)); err != nil || n != 0 {
		t.Fatalf("Purge: %d %v", n, err)
	}
	if st := s.Status(ctx); !st.Healthy || st.Details["topology"] != "cluster" {
		t.Fatalf("Status: %+v", st)
	}
}

// TestRedisSentinel runs the store through a Sentinel that monitors one
// primary.
func TestRedisSentinel(t *testing.T) {
	ctx := context.Background()
	primary := redistest.Start(t)
	sentinel := redistest.StartConfig(t, "sentinel monitor mymaster 127.0.0.1 "+strconv.Itoa(primary.Port)+" 1\n", "--sentinel")
	s, err := openRedis(ctx, RedisOptions{Addrs: []string{sentinel.Addr}, MasterName: "mymaster", Layout: LayoutLegacy}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok := storetest.TokenKey("a")
	storetest.MustRevoke(t, s, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 10})
	if n := primary.Client().HLen(ctx, "{trv}:entries").Val(); n != 1 {
		t.Fatalf("the primary holds %d entries, want 1", n)
	}
	if !storetest.MustCheck(t, s, storetest.NewQuery(0, tok)).Revoked {
		t.Fatal("not revoked through Sentinel")
	}
	if st := s.Status(ctx); !st.Healthy || st.Details["topology"] != "sentinel" || st.Details["master_name"] != "mymaster" {
		t.Fatalf("Status: %+v", st)
	}
}
