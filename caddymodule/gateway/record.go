package gateway

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
func (h *Runtime) recordCall(ctx context.Context, c *route.Call) error {
	entries, err := h.Recorder.Entries(ctx, &c.Revocation)
	if err != nil {
		return err
	}
	if err := h.StoreEntries(ctx, c.Route.Label(), c.Namespace, c.Confirmed, entries); err != nil {
		return err
	}
	c.Quota.Charge(entries, h.Now())
	return nil
}

// Record stores what rev revokes (through the engine) and logs and counts
// one line per entry, under source (a route's label, or the admin API).
// Like every revocation, an error means nothing may be answered 2xx.
func (h *Runtime) Record(ctx context.Context, source string, rev *engine.Revocation) error {
	entries, err := h.Recorder.Entries(ctx, rev)
	if err != nil {
		return err
	}
	return h.StoreEntries(ctx, source, rev.Namespace, rev.Confirmed, entries)
}

// StoreEntries stores entries revoked in namespace ns through source,
// and logs and counts one line per entry.
func (h *Runtime) StoreEntries(ctx context.Context, source, ns string, confirmed bool, entries []denylist.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := h.Recorder.Store(ctx, confirmed, entries); err != nil {
		CountStoreError("revoke")
		h.ErrLog.Error("revocation not stored", zap.String("route", source), zap.Error(err))
		return err
	}
	kind, _, _ := strings.Cut(source, " ")
	for _, e := range entries {
		if e.Derived {
			continue // a length marker, a token's part: not what was asked
		}
		CountRevocation(kind, e.Kind)
		h.Logger.Info("revoked",
			zap.String("route", source),
			zap.String("kind", e.Kind.String()),
			zap.String("hash", e.Digest.Short()),
			zap.String("namespace", ns),
			zap.Int64("expires", e.Expires))
	}
	return nil
}
