package caddymodule

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// Check modes of the Redis store (RedisConfig.CheckMode).
const (
	CheckModeMirror = "mirror"
	CheckModeDirect = "direct"
)

// mirrorLoadTimeout bounds the mirror's load at start (a million entries
// take about a second).
const mirrorLoadTimeout = time.Minute

// mirrorOptions returns whether the Redis store is to be mirrored, and the
// mirror's options.
func (c *RedisConfig) mirrorOptions(logger *zap.Logger) (bool, denylist.MirrorOptions, error) {
	switch c.CheckMode {
	case "", CheckModeMirror:
	case CheckModeDirect:
		if c.MaxStaleness != 0 {
			return false, denylist.MirrorOptions{}, fmt.Errorf("token_revocation: redis max_staleness applies to check_mode %s only", CheckModeMirror)
		}
		return false, denylist.MirrorOptions{}, nil
	default:
		return false, denylist.MirrorOptions{}, fmt.Errorf("token_revocation: redis check_mode %q: want %s or %s", c.CheckMode, CheckModeMirror, CheckModeDirect)
	}
	if c.MaxStaleness < 0 {
		return false, denylist.MirrorOptions{}, fmt.Errorf("token_revocation: redis max_staleness must not be negative")
	}
	return true, denylist.MirrorOptions{MaxStaleness: time.Duration(c.MaxStaleness), Logger: logger}, nil
}

// openMirror loads rs into an in-process mirror. The mirror owns rs; when
// the load fails, rs is closed.
func openMirror(ctx context.Context, rs *denylist.RedisStore, o denylist.MirrorOptions) (denylist.Store, error) {
	lctx, cancel := context.WithTimeout(ctx, mirrorLoadTimeout)
	defer cancel()
	m, err := denylist.OpenMirror(lctx, rs, o)
	if err != nil {
		rs.Close()
		return nil, fmt.Errorf("token_revocation: loading the denylist mirror: %w", err)
	}
	return m, nil
}
