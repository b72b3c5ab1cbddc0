package storetest

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// T0 is the tests' "now": an arbitrary Unix time, where a Clock starts.
const T0 int64 = 1_700_000_000

// Clock is an injectable clock, safe for concurrent use: a store under
// test reads Now, the test moves it with Set.
type Clock struct{ sec atomic.Int64 }

// NewClock returns a Clock at T0.
func NewClock() *Clock {
	c := &Clock{}
	c.sec.Store(T0)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(c.sec.Load(), 0) }

// Set moves the clock to Unix time unix.
func (c *Clock) Set(unix int64) { c.sec.Store(unix) }

// Hasher is the tests' Hasher (no key).
var Hasher = denylist.NewHasher(nil)

// TokenKey returns the key of token s in namespace "ns".
func TokenKey(s string) denylist.Key { return Hasher.Key(denylist.KindToken, "ns", []byte(s)) }

// SessionKey returns the key of session sid of https://idp in "ns".
func SessionKey(sid string) denylist.Key { return Hasher.SessionKey("ns", "https://idp", sid) }

// UserKey returns the key of user sub of https://idp in "ns".
func UserKey(sub string) denylist.Key { return Hasher.UserKey("ns", "https://idp", sub) }

// BoundKey returns the key that revokes the tokens bound to the key whose
// thumbprint, by method (denylist.MethodJKT or MethodX5TS256), is
// thumbprint, in "ns".
func BoundKey(method, thumbprint string) denylist.Key {
	return Hasher.KeyKey("ns", method, thumbprint)
}

// NewQuery returns the query of a token issued at iat that keys revoke.
func NewQuery(iat int64, keys ...denylist.Key) *denylist.Query {
	q := &denylist.Query{IssuedAt: iat}
	for _, k := range keys {
		q.Add(k)
	}
	return q
}

// TokenEntry returns the entry that revokes token name until T0 + 1h.
func TokenEntry(name string) denylist.Entry {
	return denylist.Entry{Key: TokenKey(name), Cutoff: denylist.CutoffAlways, Expires: T0 + 3600}
}

// MustRevoke revokes entries in s, failing the test on an error.
func MustRevoke(t testing.TB, s denylist.Store, entries ...denylist.Entry) {
	t.Helper()
	if err := s.Revoke(context.Background(), entries...); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
}

// MustCheck checks q in s, failing the test on an error.
func MustCheck(t testing.TB, s denylist.Store, q *denylist.Query) denylist.Match {
	t.Helper()
	m, err := s.Check(context.Background(), q)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return m
}

// MustGet gets the entry of k from s, failing the test on an error.
func MustGet(t testing.TB, s denylist.Store, k denylist.Key) (denylist.Entry, bool) {
	t.Helper()
	e, ok, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return e, ok
}

// BenchEntries returns n distinct entries of every kind, as a benchmark
// fills a store with.
func BenchEntries(n int) []denylist.Entry {
	out := make([]denylist.Entry, n)
	kinds := []denylist.Kind{denylist.KindToken, denylist.KindJTI, denylist.KindSession, denylist.KindUser}
	for i := range out {
		var d denylist.Digest
		binary.LittleEndian.PutUint64(d[1:], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(d[8:], uint64(i))
		k := kinds[i%4]
		d[0] = byte(k)
		out[i] = denylist.Entry{Key: denylist.Key{Kind: k, Digest: d}, Cutoff: T0, Expires: T0 + 3600}
	}
	return out
}

// HeapAlloc returns the live heap after two garbage collections.
func HeapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
