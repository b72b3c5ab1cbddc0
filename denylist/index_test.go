package denylist

import (
	"strconv"
	"sync"
	"testing"
)

func TestIndexPutMergeAndCheck(t *testing.T) {
	ix := NewIndex()
	tok, sess := tokenKey("a"), sessionKey("s")
	ix.Put(Entry{Key: tok, Cutoff: CutoffAlways, Expires: t0 + 10})
	ix.Put(Entry{Key: sess, Cutoff: t0 - 5, Expires: t0 + 100})
	ix.Put(Entry{Key: sess, Cutoff: t0 - 50, Expires: t0 + 200}) // earlier cut-off, later expiry

	if e, ok := ix.Get(sess, t0); !ok || e != (Entry{Key: sess, Cutoff: t0 - 5, Expires: t0 + 200}) {
		t.Fatalf("merged entry %+v %v", e, ok)
	}
	if e, ok := ix.Get(tok, t0); !ok || e.Cutoff != CutoffAlways {
		t.Fatalf("CutoffAlways does not survive packing: %+v %v", e, ok)
	}
	for _, tc := range []struct {
		q    *Query
		now  int64
		want Key
	}{
		{query(t0, tok), t0, tok},
		{query(t0-5, sess), t0, sess},
		{query(t0-4, sess), t0, Key{}},
		{query(0, sess), t0, sess},
		{query(t0+1000, tokenKey("x"), sess, tok), t0, tok},
		{query(t0, tok), t0 + 10, Key{}}, // expired
		{query(t0, tokenKey("absent")), t0, Key{}},
	} {
		m := ix.Check(tc.q, tc.now)
		if m.Revoked != (tc.want != Key{}) || (m.Revoked && m.Entry.Key != tc.want) {
			t.Errorf("Check(iat %d, now %d): %+v, want key %v", tc.q.IssuedAt, tc.now, m, tc.want)
		}
	}
	if _, ok := ix.Get(tok, t0+10); ok {
		t.Fatal("Get returns an expired entry")
	}
}

func TestIndexDeletePurgeLen(t *testing.T) {
	ix := NewIndex()
	for i := 0; i < 10; i++ {
		ix.Put(Entry{Key: tokenKey(strconv.Itoa(i)), Cutoff: CutoffAlways, Expires: t0 + int64(i)})
	}
	if ix.Len() != 10 {
		t.Fatalf("Len %d", ix.Len())
	}
	ix.Delete(tokenKey("9"), tokenKey("absent"))
	if ix.Len() != 9 {
		t.Fatalf("Len after Delete %d", ix.Len())
	}
	if _, ok := ix.Get(tokenKey("9"), 0); ok {
		t.Fatal("deleted entry still held")
	}
	// Entries 0..4 have expires <= t0+4.
	if n := ix.Purge(t0 + 4); n != 5 {
		t.Fatalf("Purge removed %d, want 5", n)
	}
	if ix.Len() != 4 {
		t.Fatalf("Len after Purge %d", ix.Len())
	}
	if _, ok := ix.Get(tokenKey("5"), t0+4); !ok {
		t.Fatal("Purge removed a live entry")
	}
}

func TestIndexCheckAllocatesNothing(t *testing.T) {
	ix := NewIndex()
	sess := sessionKey("s")
	ix.Put(Entry{Key: sess, Cutoff: t0, Expires: t0 + 10})
	q := query(t0, tokenKey("a"), sess)
	if n := testing.AllocsPerRun(100, func() { ix.Check(q, t0) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

func TestIndexConcurrent(t *testing.T) {
	ix := NewIndex()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				k := tokenKey(strconv.Itoa(w*1000 + i))
				ix.Put(Entry{Key: k, Cutoff: CutoffAlways, Expires: t0 + 10})
				if !ix.Check(query(0, k), t0).Revoked {
					t.Errorf("entry %s not found right after Put", k)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if ix.Len() != 800 {
		t.Fatalf("Len %d, want 800", ix.Len())
	}
}

func TestIndexRangeReturnsKinds(t *testing.T) {
	h := NewHasher(nil)
	ix := NewIndex()
	want := map[Key]bool{h.SessionKey("", "i", "s"): true, h.Key(KindToken, "", []byte("t")): true}
	for k := range want {
		ix.Put(Entry{Key: k, Cutoff: 5, Expires: 10})
	}
	got := map[Key]bool{}
	ix.Range(func(e Entry) bool { got[e.Key] = true; return true })
	if len(got) != len(want) {
		t.Fatalf("Range gave %d entries, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("Range lost %s", k)
		}
	}
}
