package caddymodule

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

// recordCall stores what the route call c revokes, and charges it to
// the caller's quota (quota.go).
func (h *gatewayRuntime) recordCall(ctx context.Context, c *route.Call) error {
	entries, err := h.recorder.Entries(ctx, &c.Revocation)
	if err != nil {
		return err
	}
	if err := h.storeEntries(ctx, c.Route.Label(), c.Namespace, c.Confirmed, entries); err != nil {
		return err
	}
	c.Quota.Charge(entries, h.now())
	return nil
}

// record stores what rev revokes (through the engine) and logs and counts
// one line per entry, under source (a route's label, or the admin API).
// Like every revocation, an error means nothing may be answered 2xx.
func (h *gatewayRuntime) record(ctx context.Context, source string, rev *engine.Revocation) error {
	entries, err := h.recorder.Entries(ctx, rev)
	if err != nil {
		return err
	}
	return h.storeEntries(ctx, source, rev.Namespace, rev.Confirmed, entries)
}

// storeEntries stores entries revoked in namespace ns through source,
// and logs and counts one line per entry.
func (h *gatewayRuntime) storeEntries(ctx context.Context, source, ns string, confirmed bool, entries []denylist.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := h.recorder.Store(ctx, confirmed, entries); err != nil {
		countStoreError("revoke")
		h.errLog.Error("revocation not stored", zap.String("route", source), zap.Error(err))
		return err
	}
	kind, _, _ := strings.Cut(source, " ")
	for _, e := range entries {
		if e.Derived {
			continue // a length marker, a token's part: not what was asked
		}
		countRevocation(kind, e.Kind)
		h.logger.Info("revoked",
			zap.String("route", source),
			zap.String("kind", e.Kind.String()),
			zap.String("hash", e.Digest.Short()),
			zap.String("namespace", ns),
			zap.Int64("expires", e.Expires))
	}
	return nil
}
