package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
)

// StoreConfig says where the denylist lives. Set at most one of its
// fields; with neither, the embedded store is used.
type StoreConfig struct {
	// Embedded keeps the denylist in a bbolt file on this machine: durable
	// across restarts, for a single Caddy instance.
	Embedded *EmbeddedConfig `json:"embedded,omitempty"`

	// Redis keeps the denylist in Redis (standalone, Sentinel or Cluster),
	// shared by every Caddy instance that uses the same server and prefix.
	// Its string values may use `{env.*}` placeholders, resolved when the
	// config is loaded.
	Redis *redisstore.RedisOptions `json:"redis,omitempty"`

	// ResolvedRedis is Redis with its placeholders resolved and its address
	// defaulted, set by openStore: what names the store in the pool, in
	// metrics (storeLabel) and its outbox, and what it connects with.
	ResolvedRedis *redisstore.RedisOptions
}

// EmbeddedConfig configures the embedded store.
type EmbeddedConfig struct {
	// Path of the bbolt file. Default: token_revocation/denylist.db in
	// Caddy's data directory.
	Path string `json:"path,omitempty"`
}

type pooledStore struct{ denylist.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// Open returns the store for cfg, opening it or sharing the one
// already open with the same settings, and the key to release it with.
func Open(ctx caddy.Context, cfg *StoreConfig, logger *zap.Logger) (denylist.Store, string, error) {
	if cfg == nil {
		cfg = &StoreConfig{}
	}
	if cfg.Embedded != nil && cfg.Redis != nil {
		return nil, "", fmt.Errorf("token_revocation: store: choose embedded or redis, not both")
	}
	repl := caddy.NewReplacer()
	var (
		key  string
		open func() (denylist.Store, error)
	)
	if cfg.Redis != nil {
		opts, err := ResolveRedis(cfg.Redis, repl)
		if err != nil {
			return nil, "", err
		}
		cfg.ResolvedRedis = &opts
		b, _ := json.Marshal(opts)
		key = "redis:" + string(b)
		opts.Logger = logger
		openBackend := func(octx context.Context) (denylist.Store, error) {
			dctx, cancel := context.WithTimeout(octx, opts.WithDefaults().DialTimeout+5*time.Second)
			defer cancel()
			s, err := redisstore.OpenRedis(dctx, opts)
			if err != nil {
				// Unprefixed: the store keeps it for its readiness and
				// logs, which the module prefixes; a failed load gets the
				// prefix below.
				return nil, err
			}
			if !opts.Mirrored() {
				return s, nil
			}
			return openMirror(octx, s, redisstore.MirrorOptions{MaxStaleness: opts.MaxStaleness, Logger: logger})
		}
		open = func() (denylist.Store, error) {
			return openResilient(ctx, opts, openBackend, logger)
		}
	} else {
		path := filepath.Join(caddy.AppDataDir(), "token_revocation", "denylist.db")
		if cfg.Embedded != nil && cfg.Embedded.Path != "" {
			path = repl.ReplaceAll(cfg.Embedded.Path, "")
		}
		key = "embedded:" + path
		open = func() (denylist.Store, error) {
			if CaddyValidating() { // the file may be locked by the Caddy that runs
				return denylist.NewResilient(denylist.ResilientOptions{Backend: "embedded", Where: path}, nil), nil
			}
			s, err := boltstore.OpenEmbedded(path, time.Minute)
			if err != nil {
				return nil, fmt.Errorf("token_revocation: %w", err)
			}
			if a := s.SetAside(); a != "" {
				logger.Error("token_revocation: " + a + ": the revocations it held are not enforced; restore them from a backup, or revoke again")
			}
			logger.Info("embedded denylist open", zap.String("path", path), zap.Int("entries", s.Status(ctx).Entries))
			return s, nil
		}
	}
	v, _, err := gateway.Stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := open()
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		return nil, "", prefixed(err)
	}
	return v.(pooledStore).Store, key, nil
}

// prefixed returns err as it fails Caddy's load: starting
// "token_revocation: " once (the Redis store's errors do not carry it).
func prefixed(err error) error {
	if strings.HasPrefix(err.Error(), "token_revocation: ") {
		return err
	}
	return fmt.Errorf("token_revocation: %w", err)
}

// ResolveRedis returns a copy of o with the placeholders of its string
// values resolved and DefaultRedisAddress when it names no address, checked
// (Validate) and with its TLS files readable: the settings the store is
// named by (two configs share a store only when they are the same once
// resolved) and opened with.
func ResolveRedis(o *redisstore.RedisOptions, repl *caddy.Replacer) (redisstore.RedisOptions, error) {
	var generic any
	b, _ := json.Marshal(o)
	_ = json.Unmarshal(b, &generic)
	b, _ = json.Marshal(resolveStrings(generic, repl))
	var r redisstore.RedisOptions
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	if len(r.Addrs) == 0 {
		r.Addrs = []string{redisstore.DefaultRedisAddress}
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	tc, err := r.TLSClientConfig() // read once, and fail the load (not the background open) when unreadable
	r.TLSConfig = tc
	return r, err
}

// resolveStrings resolves the placeholders of every string in v, a value
// decoded from JSON. (Resolving the JSON text as a whole would not do: its
// own braces read as one unknown placeholder.)
func resolveStrings(v any, repl *caddy.Replacer) any {
	switch x := v.(type) {
	case string:
		return repl.ReplaceAll(x, "")
	case []any:
		for i := range x {
			x[i] = resolveStrings(x[i], repl)
		}
	case map[string]any:
		for k := range x {
			x[k] = resolveStrings(x[k], repl)
		}
	}
	return v
}
