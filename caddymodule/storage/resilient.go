package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
)

// openResilient opens a Redis-backed store that Caddy can start without:
// one attempt now (so that a Redis that answers is loaded before the
// config serves, and a config error such as eviction_policy refuse fails
// the load); when Redis does not answer, the config loads anyway and the
// store opens in the background (denylist.Resilient): checks get the fail
// mode and revocations 503 until then. Under `caddy validate` nothing is
// opened: validating a config needs neither Redis nor the outbox file.
//
// Confirmed revocations (forward mode) go through an outbox, a bbolt file
// under Caddy's data directory named after the store's settings.
func openResilient(ctx context.Context, opts redisstore.RedisOptions, open func(context.Context) (denylist.Store, error), logger *zap.Logger) (denylist.Store, error) {
	ro := denylist.ResilientOptions{
		Backend:    "redis",
		Where:      describeRedis(opts),
		OutboxPath: outboxPath(opts),
		OutboxFile: boltstore.OpenOutboxFile,
		Logger:     logger,
	}
	if CaddyValidating() {
		return denylist.NewResilient(ro, nil), nil
	}
	ro.Open = open
	s, err := open(ctx)
	if err != nil && !errors.Is(err, denylist.ErrUnavailable) {
		return nil, err
	}
	if err != nil {
		logger.Warn("token_revocation: the denylist store does not answer at start: serving anyway; checks get the fail mode and revocations 503 until it does",
			zap.String("store", ro.Where), zap.Error(err))
	}
	return denylist.NewResilient(ro, s), nil
}

// describeRedis names the Redis of opts for log lines.
func describeRedis(o redisstore.RedisOptions) string {
	if o.MasterName != "" {
		return "redis master " + o.MasterName + " via Sentinel " + strings.Join(o.Addrs, ", ")
	}
	return "redis " + strings.Join(o.Addrs, ", ")
}

// outboxPath is the outbox file of the denylist o names, in Caddy's data
// directory: one per Redis deployment, database and key prefix, not per
// password or timeout, so that a reload that changes those finds what the
// previous config left pending (it waits for the old config's lock).
func outboxPath(o redisstore.RedisOptions) string {
	id := fmt.Sprintf("%q %q %v %d %q", o.Addrs, o.MasterName, o.Cluster, o.DB, o.KeyPrefix)
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(caddy.AppDataDir(), "token_revocation", "outbox-"+hex.EncodeToString(sum[:8])+".db")
}

// CaddyValidating reports whether this process is `caddy validate` (or
// `caddy adapt --validate`), which provisions the config and cleans it up
// at once: there is nothing to serve, so no store is opened.
func CaddyValidating() bool {
	if len(os.Args) < 2 {
		return false
	}
	switch os.Args[1] {
	case "validate":
		return true
	case "adapt":
		return slices.Contains(os.Args[2:], "--validate")
	}
	return false
}

// CurrentStore returns the backend a resilient store has open (s itself
// for any other store, or while it has none).
func CurrentStore(s denylist.Store) denylist.Store {
	if r, ok := s.(*denylist.Resilient); ok {
		if c := r.Current(); c != nil {
			return c
		}
	}
	return s
}

// RedisStoreOf returns the RedisStore under s (a Resilient, a mirror), or
// nil.
func RedisStoreOf(s denylist.Store) *redisstore.RedisStore {
	rs, _ := denylist.As[*redisstore.RedisStore](s)
	return rs
}

// StoreReady reports whether s answers checks from an up-to-date
// denylist, and if not, why.
func StoreReady(s denylist.Store) (bool, string) {
	if r, ok := s.(denylist.ReadyReporter); ok {
		return r.Ready()
	}
	return true, "" // the embedded store is open once provisioned
}

// AdminReadyResponse is the answer of GET /token-revocation/ready.
type AdminReadyResponse struct {
	// Ready is true when every store of the running config is ready.
	Ready bool `json:"ready"`
	// Stores says, per store (by its metric label), "ready" or why not.
	Stores map[string]string `json:"stores"`
}
