package live

import (
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

type countCloser struct{ n atomic.Int32 }

func (c *countCloser) CloseLive(Reason) { c.n.Add(1) }

func key(kind denylist.Kind, b byte) denylist.Key {
	var d denylist.Digest
	d[0], d[1], d[2] = byte(kind), b, b
	return denylist.Key{Kind: kind, Digest: d}
}

func query(iat int64, keys ...denylist.Key) denylist.Query {
	q := denylist.Query{IssuedAt: iat}
	for _, k := range keys {
		q.Add(k)
	}
	return q
}

func TestRegistryEndsWhatCheckWouldReject(t *testing.T) {
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	tok, sess, user := key(denylist.KindToken, 1), key(denylist.KindSession, 2), key(denylist.KindUser, 3)
	other := key(denylist.KindToken, 9)
	// The key a token is bound to (cnf): its entry is absolute, so a
	// connection whose token was issued after the revocation ends too.
	bound, otherBound := key(denylist.KindKey, 4), key(denylist.KindKey, 8)
	cases := []struct {
		name  string
		iat   int64
		entry denylist.Entry
		ended bool
	}{
		{"token", now.Unix(), denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: exp}, true},
		{"other token", now.Unix(), denylist.Entry{Key: other, Cutoff: denylist.CutoffAlways, Expires: exp}, false},
		{"session cut-off after iat", now.Unix() - 10, denylist.Entry{Key: sess, Cutoff: now.Unix(), Expires: exp}, true},
		{"session cut-off at iat", now.Unix(), denylist.Entry{Key: sess, Cutoff: now.Unix(), Expires: exp}, true},
		{"user cut-off before iat (token issued after logout)", now.Unix(), denylist.Entry{Key: user, Cutoff: now.Unix() - 1, Expires: exp}, false},
		{"expired entry", now.Unix(), denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: now.Unix() - 1}, false},
		{"bound key, token issued after its revocation", now.Unix() + 100, denylist.NewEntry(bound, now, now.Add(time.Hour)), true},
		{"another bound key", now.Unix(), denylist.NewEntry(otherBound, now, now.Add(time.Hour)), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			var closed atomic.Int32
			r.OnClose = func(Reason, denylist.Entry, time.Duration) { closed.Add(1) }
			c := &countCloser{}
			q := query(tc.iat, tok, sess, user, bound)
			conn := r.Register(c, []denylist.Query{q}, time.Time{})
			// Check's answer and the registry's must agree.
			ix := denylist.NewIndex()
			ix.Put(tc.entry)
			if got := ix.Check(&q, now.Unix()).Revoked; got != tc.ended {
				t.Fatalf("Index.Check says revoked=%v, test expects %v", got, tc.ended)
			}
			r.Revoked([]denylist.Entry{tc.entry})
			if got := c.n.Load() == 1; got != tc.ended {
				t.Fatalf("ended = %v, want %v", got, tc.ended)
			}
			if int(closed.Load()) != c.Len() {
				t.Fatalf("OnClose called %d times for %d closes", closed.Load(), c.n.Load())
			}
			r.Revoked([]denylist.Entry{tc.entry}) // a repeat is a no-op
			if c.n.Load() > 1 {
				t.Fatal("ended twice")
			}
			if unreg := conn.Unregister(); unreg == tc.ended {
				t.Fatalf("Unregister after the revocation = %v", unreg)
			}
			if r.Len() != 0 {
				t.Fatalf("Len = %d after the end", r.Len())
			}
			for i := range r.shards {
				if len(r.shards[i].m) != 0 {
					t.Fatal("keys left in the registry")
				}
			}
		})
	}
}

func (c *countCloser) Len() int { return int(c.n.Load()) }

func TestRegistryManyConnectionsUnderOneKey(t *testing.T) {
	r := NewRegistry()
	now := time.Now().Unix()
	user := key(denylist.KindUser, 7)
	closers := make([]*countCloser, 5)
	conns := make([]*Conn, 5)
	for i := range closers {
		closers[i] = &countCloser{}
		// Each its own token, the same user; issued at now-4 ... now.
		conns[i] = r.Register(closers[i], []denylist.Query{query(now-4+int64(i), key(denylist.KindToken, byte(10+i)), user)}, time.Time{})
	}
	conns[2].Unregister() // one ended on its own, in the middle of the list
	r.Revoked([]denylist.Entry{{Key: user, Cutoff: now - 1, Expires: now + 60}})
	want := []int{1, 1, 0, 1, 0} // issued at or before now-1, except the one gone
	for i, c := range closers {
		if c.Len() != want[i] {
			t.Errorf("connection %d: ended %d times, want %d", i, c.Len(), want[i])
		}
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d, want 1", r.Len())
	}
}

func TestRegistryExpiry(t *testing.T) {
	r := NewRegistry()
	got := make(chan Reason, 1)
	r.OnClose = func(reason Reason, _ denylist.Entry, _ time.Duration) { got <- reason }
	c := &countCloser{}
	r.Register(c, []denylist.Query{query(0, key(denylist.KindToken, 1))}, time.Now().Add(20*time.Millisecond))
	select {
	case reason := <-got:
		if reason != ReasonExpired || c.Len() != 1 {
			t.Fatalf("reason %v, closes %d", reason, c.Len())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not ended at expiry")
	}
}

// BenchmarkRegistryRegister is the registration and unregistration of
// one connection under three keys.
func BenchmarkRegistryRegister(b *testing.B) {
	r := NewRegistry()
	c := &countCloser{}
	qs := []denylist.Query{query(1, key(denylist.KindToken, 1), key(denylist.KindSession, 2), key(denylist.KindUser, 3))}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		qs[0].Keys[0].Digest[3] = byte(i)
		qs[0].Keys[0].Digest[4] = byte(i >> 8)
		r.Register(c, qs, time.Time{}).Unregister()
	}
}

// BenchmarkLiveConnMemory reports the heap a registered long-lived
// exchange holds (B/conn): its live.Exchange (the request's wrapper, kept
// while the connection lives) and its registration under the four keys of
// a JWT (identity, jti, session, user), among 10,000.
func BenchmarkLiveConnMemory(b *testing.B) {
	const n = 10_000
	for it := 0; it < b.N; it++ {
		r := NewRegistry()
		exs := make([]*Exchange, n)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range exs {
			e := new(Exchange)
			e.reg = r
			q := query(1, key(denylist.KindToken, byte(i)), key(denylist.KindJTI, byte(i>>8)), key(denylist.KindSession, 3), key(denylist.KindUser, 4))
			q.Keys[0].Digest[5], q.Keys[0].Digest[6] = byte(i), byte(i>>8)
			q.Keys[1].Digest[5], q.Keys[1].Digest[6] = byte(i), byte(i>>8)
			q.Keys[2].Digest[5] = byte(i % 50) // 50 sessions
			q.Keys[3].Digest[5] = byte(i % 20) // 20 users
			e.src = fixedQueries{q}
			e.register()
			exs[i] = e
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/conn")
		if r.Len() != n {
			b.Fatalf("registered %d", r.Len())
		}
		runtime.KeepAlive(exs)
	}
}

// fixedQueries registers every exchange under q.
type fixedQueries struct{ q denylist.Query }

func (f fixedQueries) LiveQueries(_ *http.Request, qs []denylist.Query) (int, time.Time) {
	qs[0] = f.q
	return 1, time.Time{}
}

func TestRegistryRetire(t *testing.T) {
	r := NewRegistry()
	c := &countCloser{}
	tok := key(denylist.KindToken, 1)
	conn := r.Register(c, []denylist.Query{query(1, tok)}, time.Time{})
	var done atomic.Int32
	r.Retire(func() { done.Add(1) })
	if done.Load() != 0 {
		t.Fatal("retired with a connection registered")
	}
	r.Revoked([]denylist.Entry{{Key: tok, Cutoff: denylist.CutoffAlways, Expires: time.Now().Add(time.Hour).Unix()}})
	if c.Len() != 1 {
		t.Fatal("a retiring registry did not end its connection")
	}
	if done.Load() != 1 {
		t.Fatalf("done called %d times once empty", done.Load())
	}
	conn.Unregister()
	if done.Load() != 1 {
		t.Fatal("done called again")
	}
	r2 := NewRegistry()
	r2.Retire(func() { done.Add(1) })
	if done.Load() != 2 {
		t.Fatal("an empty registry did not retire at once")
	}
}
