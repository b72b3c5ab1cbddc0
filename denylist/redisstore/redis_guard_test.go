package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// startVerifyingMirror starts a Redis server and a mirror over it that
// verifies Redis every 50 ms (and returns its clock and options).
func startVerifyingMirror(t *testing.T) (*redistest.Server, *storetest.Clock, *MirrorStore, MirrorOptions) {
	t.Helper()
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	o := fastMirror()
	o.VerifyEvery = 50 * time.Millisecond
	return srv, clk, openTestMirror(t, srv, clk, o), o
}

// TestLostKeysAreWrittenBack: the entries hash and the expiry set gone
// while the epoch and the stream stay (what allkeys-lru evicts first) is
// a loss: a running mirror writes back what it holds, a direct store never
// answers "not revoked" for a token it can no longer see, and both count
// the loss. Before the sentinels, nothing noticed.
func TestLostKeysAreWrittenBack(t *testing.T) {
	srv, clk, a, o := startVerifyingMirror(t)
	entries := []denylist.Entry{storetest.TokenEntry("l1"), storetest.TokenEntry("l2"), storetest.TokenEntry("l3")}
	storetest.MustRevoke(t, a, entries...)

	d, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, CheckMode: CheckModeDirect}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.settle = 200 * time.Millisecond
	t.Cleanup(func() { d.Close() })
	for _, e := range entries {
		if !revoked(t, d, e.Key) {
			t.Fatalf("direct store does not see %v", e.Key)
		}
	}

	raw := srv.Client()
	ctx := context.Background()
	if err := raw.Del(ctx, "{trv}:entries", "{trv}:expiry").Err(); err != nil {
		t.Fatal(err)
	}
	// The direct store never says "not revoked" from here on.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := d.Check(ctx, storetest.NewQuery(storetest.T0, entries[0].Key))
		if err != nil && !errors.Is(err, denylist.ErrUnavailable) {
			t.Fatal(err)
		}
		if err == nil && !m.Revoked {
			t.Fatal("a direct check said not revoked for a token whose entry was evicted")
		}
		if err == nil && m.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lost entries never came back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, 5*time.Second, "the mirror never wrote the lost entries back", func() bool {
		n, err := d.Entries(ctx)
		return err == nil && n == 3 && a.writeBacks.Load() > 0
	})
	if a.rs.Lost()+d.Lost() == 0 {
		t.Fatal("no loss counted")
	}
	for _, e := range entries {
		if !revoked(t, d, e.Key) {
			t.Fatalf("after the write-back, %v is not revoked", e.Key)
		}
	}
	b := openTestMirror(t, srv, clk, o)
	for _, e := range entries {
		if !revoked(t, b, e.Key) {
			t.Fatalf("a new mirror does not see %v", e.Key)
		}
	}
}

// TestEvictedEpochCounted: the epoch evicted with the entries while the
// events stream stays (an allkeys-lru Redis keeps the stream the mirrors
// read every second) is keys lost, not a Redis restarted empty or
// flushed, which take the stream too: the running mirror counts it, and
// writes back what it holds. A flush is not counted.
func TestEvictedEpochCounted(t *testing.T) {
	srv, _, a, _ := startVerifyingMirror(t)
	entries := []denylist.Entry{storetest.TokenEntry("e1"), storetest.TokenEntry("e2")}
	storetest.MustRevoke(t, a, entries...)

	raw := srv.Client()
	ctx := context.Background()
	if err := raw.Del(ctx, "{trv}:epoch", "{trv}:entries", "{trv}:expiry").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the evicted epoch was never counted as keys lost", func() bool {
		return a.rs.Lost() == 1
	})
	held := func() bool {
		for _, e := range entries {
			if ok, err := raw.HExists(ctx, "{trv}:entries", e.Key.String()).Result(); err != nil || !ok {
				return false
			}
		}
		return true
	}
	eventually(t, 5*time.Second, "the mirror never wrote the lost entries back", held)

	if err := raw.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the mirror never wrote the flushed entries back", held)
	if n := a.rs.Lost(); n != 1 {
		t.Fatalf("a flush counted as keys lost: %d losses, want 1", n)
	}
}
