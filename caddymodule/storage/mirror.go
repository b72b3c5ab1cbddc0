package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
)

// mirrorLoadTimeout bounds the mirror's load at start (a million entries
// take about a second).
const mirrorLoadTimeout = time.Minute

// openMirror loads rs into an in-process mirror. The mirror owns rs; when
// the load fails, rs is closed.
func openMirror(ctx context.Context, rs *redisstore.RedisStore, o redisstore.MirrorOptions) (denylist.Store, error) {
	lctx, cancel := context.WithTimeout(ctx, mirrorLoadTimeout)
	defer cancel()
	m, err := redisstore.OpenMirror(lctx, rs, o)
	if err != nil {
		rs.Close()
		return nil, fmt.Errorf("token_revocation: loading the denylist mirror: %w", err)
	}
	return m, nil
}
