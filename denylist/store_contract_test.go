package denylist

import (
	"context"
	"testing"
)

// What every Store does the same way, checked by each store's own tests.

// checkUnrevoke revokes two tokens (expiring at expires) and unrevokes the
// first beside a key never revoked: that is no error, the first is no longer
// revoked and the second still is. It returns the two keys.
func checkUnrevoke(t *testing.T, s Store, expires int64) (gone, kept Key) {
	t.Helper()
	gone, kept = tokenKey("a"), tokenKey("b")
	mustRevoke(t, s, Entry{Key: gone, Cutoff: CutoffAlways, Expires: expires}, Entry{Key: kept, Cutoff: CutoffAlways, Expires: expires})
	if err := s.Unrevoke(context.Background(), gone, tokenKey("never revoked")); err != nil {
		t.Fatal(err)
	}
	if mustCheck(t, s, query(0, gone)).Revoked {
		t.Fatal("unrevoked token still revoked")
	}
	if !mustCheck(t, s, query(0, kept)).Revoked {
		t.Fatal("Unrevoke removed another entry")
	}
	return gone, kept
}

// checkExpiredHidden checks that the entry of k, whose expiry the store's
// clock has reached, neither revokes nor is returned by Get.
func checkExpiredHidden(t *testing.T, s Store, k Key) {
	t.Helper()
	if mustCheck(t, s, query(0, k)).Revoked {
		t.Fatal("revoked at its expiry")
	}
	if _, ok := mustGet(t, s, k); ok {
		t.Fatal("Get returns an expired entry")
	}
}
