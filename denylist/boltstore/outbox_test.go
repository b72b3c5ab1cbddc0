package boltstore

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

// TestOutboxDurable: what Add wrote is there after a reopen, enforced by
// Check; Drained removes an entry only as it was handed over.
func TestOutboxDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := denylist.OpenOutbox(OpenOutboxFile, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a, b := storetest.LiveEntry(1, denylist.KindToken, denylist.CutoffAlways), storetest.LiveEntry(2, denylist.KindToken, denylist.CutoffAlways)
	if err := ob.Add(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := denylist.OpenOutbox(OpenOutboxFile, path, 50*time.Millisecond); !errors.Is(err, denylist.ErrLocked) {
		t.Fatalf("a second open: %v, want ErrLocked", err)
	}
	ob.Close()
	ob, err = denylist.OpenOutbox(OpenOutboxFile, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if ob.Len() != 2 || !ob.Check(storetest.NewQuery(0, a.Key), time.Now().Unix()).Revoked {
		t.Fatalf("after reopen: %d entries, a revoked: %v", ob.Len(), ob.Check(storetest.NewQuery(0, a.Key), time.Now().Unix()).Revoked)
	}
	later := b
	later.Expires += 60
	if err := ob.Add(later); err != nil {
		t.Fatal(err)
	}
	if err := ob.Drained(a, b); err != nil { // b as it was before the merge
		t.Fatal(err)
	}
	if ob.Len() != 1 || ob.Check(storetest.NewQuery(0, a.Key), time.Now().Unix()).Revoked || !ob.Check(storetest.NewQuery(0, b.Key), time.Now().Unix()).Revoked {
		t.Fatalf("after Drained: %d entries", ob.Len())
	}
}
