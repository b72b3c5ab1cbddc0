package tests

import (
	"context"
	"encoding/binary"
	"net/http"
	"strconv"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// TestUnreadableEntryRevokes: a denylist entry whose value the gateway
// cannot read (a damaged or foreign write, or a later release's format),
// written straight into a real redis-server, revokes its token through a
// real Caddy in both layouts, with the mirror (the default) and with
// direct checks under fail open. Before, the mirror skipped the entry and
// direct mode counted it a store error, which fail open lets through:
// both answered 200.
func TestUnreadableEntryRevokes(t *testing.T) {
	hasher := denylist.NewHasher(nil)
	for _, layout := range []string{redisstore.LayoutLegacy, redisstore.LayoutCompact} {
		t.Run(layout, func(t *testing.T) {
			rs := startRedis(t)
			up := startUpstream(t)
			tok := "unreadable-" + layout
			k := hasher.KeyStrings(denylist.KindToken, "", token.OpaqueMarker, tok)
			gateway := func(mode string) *Caddy {
				return startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
			layout %s
			check_mode %s
		}
		fail open
	}
	reverse_proxy %s
}`, rs.Addr, layout, mode, up.Addr())
			}
			// Direct first: its start writes the layout's keys (the
			// bucket count); the mirror then loads the entry at its start.
			direct := gateway("direct")
			writeUnreadableEntry(t, rs, layout, k)
			for mode, c := range map[string]*Caddy{"direct": direct, "mirror": gateway("mirror")} {
				if s := get(t, c.URL("/api/items"), "Authorization: Bearer "+tok).Status; s != http.StatusUnauthorized {
					t.Errorf("%s: a token under an unreadable entry: %d, want 401", mode, s)
				}
				if s := get(t, c.URL("/api/items"), "Authorization: Bearer another").Status; s != http.StatusOK {
					t.Errorf("%s: a token never revoked: %d, want 200", mode, s)
				}
			}
		})
	}
}

// writeUnreadableEntry stores, under k, a value no release reads, in the
// layout's documented keys of the one partition "{trv}" (see denylist's
// layout docs): the legacy entries hash, or the compact bucket the
// digest's bytes 6-9 pick among "{trv}:c:buckets".
func writeUnreadableEntry(t *testing.T, rs *redistest.Server, layout string, k denylist.Key) {
	t.Helper()
	ctx := context.Background()
	rdb := rs.Client()
	hash, field := "{trv}:entries", k.String()
	if layout == redisstore.LayoutCompact {
		n, err := rdb.Get(ctx, "{trv}:c:buckets").Int()
		if err != nil {
			t.Fatal(err)
		}
		hash, field = "{trv}:c:"+strconv.Itoa(int(binary.BigEndian.Uint32(k.Digest[6:10])%uint32(n))), string(k.Digest[:])
	}
	if err := rdb.HSet(ctx, hash, field, "v2:future").Err(); err != nil {
		t.Fatal(err)
	}
}
