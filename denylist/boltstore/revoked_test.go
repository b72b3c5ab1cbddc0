package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

func TestOnRevokedEmbedded(t *testing.T) {
	s, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var h storetest.Heard
	remove, ok := denylist.OnRevokedOf(s, h.Listen)
	if !ok {
		t.Fatal("the embedded store tells no listener")
	}
	ctx := context.Background()
	later := storetest.LiveEntry(1, denylist.KindSession, time.Now().Unix())
	if err := s.Revoke(ctx, later); err != nil {
		t.Fatal(err)
	}
	earlier := later
	earlier.Cutoff -= 100
	if err := s.Revoke(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	if got := h.Wait(t, "embedded", later.Key); got != later {
		t.Fatalf("told %+v, want %+v", got, later)
	}
	second := h.Last()
	if second.Cutoff != later.Cutoff {
		t.Errorf("an earlier cut-off was told as %d: want the stored (merged) %d", second.Cutoff, later.Cutoff)
	}
	remove()
	n := h.Len()
	if err := s.Revoke(ctx, storetest.LiveEntry(2, denylist.KindToken, denylist.CutoffAlways)); err != nil {
		t.Fatal(err)
	}
	if h.Len() != n {
		t.Error("told after remove")
	}
}

// A Resilient store subscribed to before its backend opens tells of what
// the backend stores once open.
func TestOnRevokedResilient(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	r := denylist.NewResilient(denylist.ResilientOptions{Backend: "embedded", Where: "test", Retry: 5 * time.Millisecond,
		Open: func(context.Context) (denylist.Store, error) {
			<-release
			return OpenEmbedded(filepath.Join(dir, "d.db"), 0)
		}}, nil)
	defer r.Close()
	var h storetest.Heard
	r.OnRevoked(h.Listen)
	close(release)
	e := storetest.LiveEntry(6, denylist.KindToken, denylist.CutoffAlways)
	deadline := time.Now().Add(5 * time.Second)
	for r.Revoke(context.Background(), e) != nil {
		if time.Now().After(deadline) {
			t.Fatal("backend never opened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.Wait(t, "resilient", e.Key)
}
