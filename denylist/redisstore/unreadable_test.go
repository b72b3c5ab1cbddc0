package redisstore

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// writeUnreadable stores, under k, a value no reader can parse, in the
// layout s writes (a damaged or foreign write, or a later release's
// format).
func writeUnreadable(t *testing.T, s *RedisStore, srv *redistest.Server, k denylist.Key) {
	t.Helper()
	ctx := context.Background()
	p := s.part(&k.Digest)
	var err error
	if s.writesCompact() {
		err = srv.Client().HSet(ctx, p.bucketKey(bucketOf(&k.Digest, p.buckets.load())), string(k.Digest[:]), "v2:future").Err()
	} else {
		err = srv.Client().HSet(ctx, p.entriesKey, k.String(), "v2:future").Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnreadableValueRevokes: a stored value that cannot be read under a
// key that can revokes what its key names in every reader of a Redis
// denylist (a direct check, a mirror's load, a mirror's event), in both
// layouts; the purge leaves it and the listing shows it. Before, a direct
// check failed (a 503, or a pass with fail open) while a mirror skipped it
// (a pass), and the compact purge deleted it.
func TestUnreadableValueRevokes(t *testing.T) {
	for _, layout := range []string{LayoutLegacy, LayoutCompact} {
		t.Run(layout, func(t *testing.T) {
			srv := redistest.Start(t)
			clk := storetest.NewClock()
			ctx := context.Background()
			s := openLayout(t, srv, clk, layout, 2)
			loaded, evented := storetest.UserKey("loaded"), storetest.TokenKey("evented")
			writeUnreadable(t, s, srv, loaded)
			want := denylist.Entry{Key: loaded, Cutoff: denylist.CutoffAlways, Expires: math.MaxUint32}
			if m := storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, storetest.TokenKey("other"), loaded)); !m.Revoked || m.Entry != want {
				t.Fatalf("direct check: %+v, want revoked by %+v", m, want)
			}
			m := openMirrorOf(t, openLayout(t, srv, clk, layout, 2), nil)
			if got := storetest.MustCheck(t, m, storetest.NewQuery(storetest.T0, loaded)); !got.Revoked || got.Entry != want {
				t.Fatalf("mirror, loaded: %+v, want revoked by %+v", got, want)
			}
			// An earlier release's event (op/k/v) whose value does not parse.
			p := s.part(&evented.Digest)
			if err := srv.Client().XAdd(ctx, &redis.XAddArgs{Stream: p.eventsKey, Values: []any{"op", EventAdd, "k", evented.String(), "v", "soon"}}).Err(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 3*time.Second, "the mirror never applied the unreadable event", func() bool {
				return storetest.MustCheck(t, m, storetest.NewQuery(0, evented)).Revoked
			})
			// The purge keeps what it cannot date; the listing shows it.
			clk.Set(storetest.T0 + 10*365*24*3600)
			if _, err := s.Purge(ctx, clk.Now()); err != nil {
				t.Fatal(err)
			}
			if got, ok := storetest.MustGet(t, s, loaded); !ok || got != want {
				t.Fatalf("after a purge: %+v %v, want %+v", got, ok, want)
			}
			listed, _, err := s.List(ctx, "", 100)
			if err != nil || len(listed) != 1 || listed[0] != want {
				t.Fatalf("List: %+v %v, want [%+v]", listed, err, want)
			}
			// A revocation of the key writes over it.
			storetest.MustRevoke(t, s, denylist.Entry{Key: loaded, Cutoff: storetest.T0, Expires: clk.Now().Unix() + 10})
			if got := storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0+1, loaded)); got.Revoked {
				t.Fatalf("after revoking over it: %+v", got)
			}
		})
	}
}
