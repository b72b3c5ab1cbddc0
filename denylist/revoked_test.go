package denylist

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// heard collects what a RevokedNotifier tells a listener.
type heard struct {
	mu      sync.Mutex
	entries []Entry
}

func (h *heard) listen(es []Entry) {
	h.mu.Lock()
	h.entries = append(h.entries, es...)
	h.mu.Unlock()
}

// wait polls until k was heard, failing the test after a deadline.
func (h *heard) wait(t *testing.T, what string, k Key) Entry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if e, ok := h.find(k); ok {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: listener never told of %s", what, k)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *heard) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

func testEntry(b byte, kind Kind, cutoff int64) Entry {
	var d Digest
	d[0], d[1], d[2] = byte(kind), b, 0x5a
	return Entry{Key: Key{Kind: kind, Digest: d}, Cutoff: cutoff, Expires: time.Now().Add(time.Hour).Unix()}
}

func TestOnRevokedEmbedded(t *testing.T) {
	s, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var h heard
	remove, ok := OnRevokedOf(s, h.listen)
	if !ok {
		t.Fatal("the embedded store tells no listener")
	}
	ctx := context.Background()
	later := testEntry(1, KindSession, time.Now().Unix())
	if err := s.Revoke(ctx, later); err != nil {
		t.Fatal(err)
	}
	earlier := later
	earlier.Cutoff -= 100
	if err := s.Revoke(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	if got := h.wait(t, "embedded", later.Key); got != later {
		t.Fatalf("told %+v, want %+v", got, later)
	}
	h.mu.Lock()
	second := h.entries[len(h.entries)-1]
	h.mu.Unlock()
	if second.Cutoff != later.Cutoff {
		t.Errorf("an earlier cut-off was told as %d: want the stored (merged) %d", second.Cutoff, later.Cutoff)
	}
	remove()
	n := h.len()
	if err := s.Revoke(ctx, testEntry(2, KindToken, CutoffAlways)); err != nil {
		t.Fatal(err)
	}
	if h.len() != n {
		t.Error("told after remove")
	}
}

// Two instances on one Redis: what one stores, the other's listeners
// hear, in mirror mode (the mirror's tail) and in direct mode (a tail of
// its own, started by the first listener).
func TestOnRevokedOtherInstance(t *testing.T) {
	for name, o := range map[string]RedisOptions{
		"one partition":            {},
		"four partitions, compact": {Partitions: 4, Layout: LayoutCompact},
	} {
		t.Run(name, func(t *testing.T) { testOnRevokedOtherInstance(t, o) })
	}
}

func testOnRevokedOtherInstance(t *testing.T, o RedisOptions) {
	srv := redistest.Start(t)
	ctx := context.Background()
	o.Addrs = []string{srv.Addr}
	open := func() *RedisStore {
		rs, err := OpenRedis(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	writer := open()
	defer writer.Close()
	m, err := OpenMirror(ctx, open(), MirrorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	direct := open()
	defer direct.Close()
	var hm, hd heard
	m.OnRevoked(hm.listen)
	direct.OnRevoked(hd.listen)
	e := testEntry(3, KindUser, time.Now().Unix())
	// The direct tail reads from the stream's end at its start: wait for
	// it to have read once, by storing a first entry until it is heard.
	warm := testEntry(4, KindToken, CutoffAlways)
	deadline := time.Now().Add(5 * time.Second)
	for hd.len() == 0 && time.Now().Before(deadline) {
		if err := writer.Revoke(ctx, warm); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := writer.Revoke(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := hm.wait(t, "mirror", e.Key); got != e {
		t.Errorf("mirror told %+v, want %+v", got, e)
	}
	if got := hd.wait(t, "direct", e.Key); got != e {
		t.Errorf("direct told %+v, want %+v", got, e)
	}
	own := testEntry(5, KindJTI, CutoffAlways)
	if err := m.Revoke(ctx, own); err != nil {
		t.Fatal(err)
	}
	hm.wait(t, "mirror, its own revocation", own.Key)
}

// A Resilient store subscribed to before its backend opens tells of what
// the backend stores once open.
func TestOnRevokedResilient(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	r := NewResilient(ResilientOptions{Backend: "embedded", Where: "test", Retry: 5 * time.Millisecond,
		Open: func(context.Context) (Store, error) {
			<-release
			return OpenEmbedded(filepath.Join(dir, "d.db"), 0)
		}}, nil)
	defer r.Close()
	var h heard
	r.OnRevoked(h.listen)
	close(release)
	e := testEntry(6, KindToken, CutoffAlways)
	deadline := time.Now().Add(5 * time.Second)
	for r.Revoke(context.Background(), e) != nil {
		if time.Now().After(deadline) {
			t.Fatal("backend never opened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.wait(t, "resilient", e.Key)
}

// has reports whether k was heard.
func (h *heard) has(k Key) bool {
	_, ok := h.find(k)
	return ok
}

// find returns the entry of k heard first.
func (h *heard) find(k Key) (Entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if e.Key == k {
			return e, true
		}
	}
	return Entry{}, false
}
