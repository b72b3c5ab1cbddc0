package redisstore

import (
	"context"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

func TestOwnersPurgeForgetsExpiredOwners(t *testing.T) {
	s, srv, clk := openTestRedis(t)
	ctx := context.Background()
	alice := storetest.Hasher.Digest(denylist.KindOwner, "ns", []byte("user"), []byte("alice"))
	bob := storetest.Hasher.Digest(denylist.KindOwner, "ns", []byte("user"), []byte("bob"))
	s.ownersPurge = denylist.OwnersPurgeClock{}
	if err := s.Own(ctx, alice, denylist.Entry{Key: storetest.TokenKey("a"), Expires: storetest.T0 + 10}); err != nil {
		t.Fatal(err)
	}
	set, index, _ := s.ownerKeys(alice)
	if n := srv.Client().Exists(ctx, set).Val(); n != 1 {
		t.Fatalf("alice's set %s does not exist after Own", set)
	}
	// Past the expiry and the purge interval, a write for another owner
	// purges alice's set and its index member.
	clk.Set(storetest.T0 + int64(denylist.OwnersPurgeEvery.Seconds()) + 20)
	if err := s.Own(ctx, bob, denylist.Entry{Key: storetest.TokenKey("b"), Expires: clk.Now().Unix() + 10}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Client().Exists(ctx, set).Val(); n != 0 {
		t.Errorf("alice's expired set %s is still there after the purge", set)
	}
	if _, err := srv.Client().ZScore(ctx, index, set).Result(); err == nil {
		t.Errorf("the owners index still lists alice's set")
	}
	if got := storetest.OwnedKeys(t, s, bob); len(got) != 1 {
		t.Errorf("bob owns %v after the purge, want his one token", got)
	}
}
