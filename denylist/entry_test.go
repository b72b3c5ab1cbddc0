package denylist

import (
	"strings"
	"testing"
	"time"
)

func TestKindNames(t *testing.T) {
	names := map[string]bool{}
	for _, k := range []Kind{KindToken, KindJTI, KindSession, KindUser, KindClient, KindKey} {
		if !k.Valid() {
			t.Errorf("%v not valid", k)
		}
		if names[k.String()] || strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %q: not a name of its own", k.String())
		}
		names[k.String()] = true
	}
	if Kind('x').Valid() {
		t.Error("unknown kind valid")
	}
	if s := Kind('x').String(); s != "kind(120)" {
		t.Errorf("unknown kind String %q", s)
	}
}

func TestKeyStringRoundTrip(t *testing.T) {
	for _, k := range []Key{tokenKey("a"), testHasher.JTIKey("ns", "iss", "j"), sessionKey("s"), userKey("u"), testHasher.KeyKey("ns", MethodJKT, "t")} {
		s := k.String()
		if len(s) != 2+2*DigestSize || s[0] != byte(k.Kind) || s[1] != ':' || s[2:] != k.Digest.String() {
			t.Fatalf("Key.String %q", s)
		}
		got, err := ParseKey(s)
		if err != nil || got != k {
			t.Fatalf("ParseKey(%q) = %v, %v", s, got, err)
		}
	}
	valid := tokenKey("a").String()
	for _, bad := range []string{
		"",
		valid[:len(valid)-1],
		valid + "0",
		"x" + valid[1:],  // unknown kind
		"t-" + valid[2:], // no colon
		valid[:2] + strings.Repeat("zz", DigestSize), // not hex
	} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	d := tokenKey("a").Digest
	if d.Short() != d.String()[:12] {
		t.Errorf("Short %q of %q", d.Short(), d.String())
	}
}

func TestEntryLiveAndMatches(t *testing.T) {
	e := Entry{Key: sessionKey("s"), Cutoff: 100, Expires: 200}
	if !e.Live(199) || e.Live(200) || e.Live(201) {
		t.Error("Live: an entry is live strictly before its expiry")
	}
	for _, tc := range []struct {
		iat, now int64
		want     bool
	}{
		{99, 150, true}, {100, 150, true}, {101, 150, false}, {0, 150, true},
		{100, 200, false}, // expired
	} {
		if got := e.Matches(tc.iat, tc.now); got != tc.want {
			t.Errorf("Matches(iat %d, now %d) = %v", tc.iat, tc.now, got)
		}
	}
	tok := Entry{Key: tokenKey("a"), Cutoff: CutoffAlways, Expires: 200}
	if !tok.Matches(time.Now().Unix(), 150) {
		t.Error("CutoffAlways does not match a current iat")
	}
}

func TestEntryMergeNeverShortens(t *testing.T) {
	k := sessionKey("s")
	a := Entry{Key: k, Cutoff: 100, Expires: 500}
	b := Entry{Key: k, Cutoff: 300, Expires: 200}
	want := Entry{Key: k, Cutoff: 300, Expires: 500}
	if got := a.Merge(b); got != want {
		t.Errorf("a.Merge(b) = %+v", got)
	}
	if got := b.Merge(a); got != want {
		t.Errorf("b.Merge(a) = %+v", got)
	}
	if got := a.Merge(a); got != a {
		t.Errorf("a.Merge(a) = %+v", got)
	}
}

func TestEntryValueRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		{Cutoff: CutoffAlways, Expires: 1_700_000_000},
		{Cutoff: 1_699_999_000, Expires: 1_700_000_000},
		{Cutoff: 0, Expires: 0},
	} {
		v := e.Value()
		var got Entry
		if err := got.ParseValue(v); err != nil || got.Cutoff != e.Cutoff || got.Expires != e.Expires {
			t.Errorf("ParseValue(%q) = %+v, %v", v, got, err)
		}
	}
	if v := (Entry{Cutoff: 5, Expires: 7}).Value(); v != "7:5" {
		t.Errorf("Value %q, want expires:cutoff", v)
	}
	for _, bad := range []string{"", "7", ":5", "a:b", "7;5"} {
		var e Entry
		if err := e.ParseValue(bad); err == nil {
			t.Errorf("ParseValue(%q) accepted", bad)
		}
	}
}

func TestNewEntryCutoffByKind(t *testing.T) {
	cut, exp := time.Unix(1000, 0), time.Unix(2000, 0)
	// A bound key's entry is absolute: tokens bound to a leaked key
	// issued after the revocation are refused too (see KindKey).
	for _, k := range []Key{tokenKey("a"), testHasher.JTIKey("ns", "iss", "j"), testHasher.KeyKey("ns", MethodJKT, "t"), testHasher.KeyKey("ns", MethodX5TS256, "t")} {
		if e := NewEntry(k, cut, exp); e.Cutoff != CutoffAlways || e.Expires != 2000 || e.Key != k {
			t.Errorf("NewEntry(%v) = %+v, want CutoffAlways", k.Kind, e)
		}
	}
	for _, k := range []Key{sessionKey("s"), userKey("u")} {
		if e := NewEntry(k, cut, exp); e.Cutoff != 1000 || e.Expires != 2000 {
			t.Errorf("NewEntry(%v) = %+v, want cut-off 1000", k.Kind, e)
		}
	}
}

func TestQueryAddBounded(t *testing.T) {
	var q Query
	for i := 0; i < MaxQueryKeys+2; i++ {
		q.Add(tokenKey(string(rune('a' + i))))
	}
	if q.N != MaxQueryKeys {
		t.Fatalf("N = %d, want %d", q.N, MaxQueryKeys)
	}
	if q.Keys[MaxQueryKeys-1] != tokenKey(string(rune('a'+MaxQueryKeys-1))) {
		t.Fatal("keys past the bound replaced earlier ones")
	}
}

// TestQueryTime: a query carries the time its check read the clock at, and
// a query without one reads the clock.
func TestQueryTime(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	if got := (&Query{Now: at}).Time(); !got.Equal(at) {
		t.Errorf("Time %v, want the query's %v", got, at)
	}
	before := time.Now()
	if got := new(Query).Time(); got.Before(before) || time.Since(got) < 0 {
		t.Errorf("Time of a query without Now: %v, want the clock's (%v)", got, before)
	}
}
