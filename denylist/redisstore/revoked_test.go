package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

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
	var hm, hd storetest.Heard
	m.OnRevoked(hm.Listen)
	direct.OnRevoked(hd.Listen)
	e := storetest.LiveEntry(3, denylist.KindUser, time.Now().Unix())
	// The direct tail reads from the stream's end at its start: wait for
	// it to have read once, by storing a first entry until it is heard.
	warm := storetest.LiveEntry(4, denylist.KindToken, denylist.CutoffAlways)
	deadline := time.Now().Add(5 * time.Second)
	for hd.Len() == 0 && time.Now().Before(deadline) {
		if err := writer.Revoke(ctx, warm); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := writer.Revoke(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := hm.Wait(t, "mirror", e.Key); got != e {
		t.Errorf("mirror told %+v, want %+v", got, e)
	}
	if got := hd.Wait(t, "direct", e.Key); got != e {
		t.Errorf("direct told %+v, want %+v", got, e)
	}
	own := storetest.LiveEntry(5, denylist.KindJTI, denylist.CutoffAlways)
	if err := m.Revoke(ctx, own); err != nil {
		t.Fatal(err)
	}
	hm.Wait(t, "mirror, its own revocation", own.Key)
}
