package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// StoreConfig says where the denylist lives. Set at most one of its
// fields; with neither, the embedded store is used.
type StoreConfig struct {
	// Embedded keeps the denylist in a bbolt file on this machine: durable
	// across restarts, for a single Caddy instance.
	Embedded *EmbeddedConfig `json:"embedded,omitempty"`

	// Redis keeps the denylist in Redis (standalone, Sentinel or Cluster),
	// shared by every Caddy instance that uses the same server and prefix.
	Redis *RedisConfig `json:"redis,omitempty"`
}

// EmbeddedConfig configures the embedded store.
type EmbeddedConfig struct {
	// Path of the bbolt file. Default: token_revocation/denylist.db in
	// Caddy's data directory.
	Path string `json:"path,omitempty"`
}

// RedisConfig configures the Redis store. Values may use `{env.*}`
// placeholders, resolved when the config is loaded.
type RedisConfig struct {
	// Addresses are host:port pairs: one for a standalone server; the
	// Sentinels when MasterName is set; cluster seed nodes when Cluster is
	// true. Default: ["127.0.0.1:6379"].
	Addresses []string `json:"addresses,omitempty"`

	// MasterName is the Sentinel master set name; setting it selects
	// Sentinel mode.
	MasterName string `json:"master_name,omitempty"`

	// Cluster selects Redis Cluster mode.
	Cluster bool `json:"cluster,omitempty"`

	// Username for Redis ACL authentication.
	Username string `json:"username,omitempty"`

	// Password for Redis authentication. Use a placeholder such as
	// `{env.REDIS_PASSWORD}`.
	Password string `json:"password,omitempty"`

	// SentinelUsername authenticates to the Sentinels.
	SentinelUsername string `json:"sentinel_username,omitempty"`

	// SentinelPassword authenticates to the Sentinels.
	SentinelPassword string `json:"sentinel_password,omitempty"`

	// DB is the database number (standalone and Sentinel only).
	DB int `json:"db,omitempty"`

	// TLS enables TLS to Redis.
	TLS *RedisTLS `json:"tls,omitempty"`

	// DialTimeout bounds connecting. Default: 2s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// ReadTimeout bounds each read. Default: 1s.
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`

	// WriteTimeout bounds each write. Default: 1s.
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`

	// PoolSize is the connection pool size per node. Default: go-redis's.
	PoolSize int `json:"pool_size,omitempty"`

	// KeyPrefix namespaces the denylist's keys. Default: "trv". Instances
	// that share revocations must share the prefix.
	KeyPrefix string `json:"key_prefix,omitempty"`

	// CheckMode says how a request's tokens are checked: "mirror"
	// (default) keeps every live revocation in memory, loaded at start and
	// kept up to date from Redis's stream of revocations, so a check costs
	// a hash and a map look-up and a revocation reaches every instance
	// within milliseconds; "direct" asks Redis on every request (one round
	// trip each), the simple baseline.
	CheckMode string `json:"check_mode,omitempty"`

	// MaxStaleness bounds how out of date the mirror may be (mirror mode).
	// Redis answers the mirror at least every quarter of it, events or
	// not; while its last answer is younger than MaxStaleness a check is
	// answered from memory. Past it (Redis unreachable), checks ask Redis
	// directly, and fail as fail_mode says when Redis does not answer.
	// Default: 1s.
	MaxStaleness caddy.Duration `json:"max_staleness,omitempty"`

	// EvictionPolicy says what to do when Redis's maxmemory-policy could
	// evict denylist keys (allkeys-*), silently un-revoking tokens:
	// "warn" (default) logs a warning; "refuse" fails the config load.
	EvictionPolicy string `json:"eviction_policy,omitempty"`

	// MinReplicas is how many replicas must acknowledge a revocation
	// (Redis WAIT) before it is answered 2xx; fewer within ReplicaTimeout
	// answers 503 with Retry-After, and the client's retry is idempotent.
	// With Sentinel or Cluster and at least one replica per primary, set it
	// to 1 so that a revocation answered 2xx survives the primary's death:
	// it is on a replica, and failover promotes the most up-to-date one.
	// Default: 0 (the primary's answer is enough; a failover may lose the
	// revocations of the last moments before it).
	MinReplicas int `json:"min_replicas,omitempty"`

	// ReplicaTimeout bounds the wait for MinReplicas acknowledgements.
	// Default: 1s.
	ReplicaTimeout caddy.Duration `json:"replica_timeout,omitempty"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `json:"server_name,omitempty"`

	// CAFile is a PEM file of CA certificates to trust instead of the
	// system pool.
	CAFile string `json:"ca_file,omitempty"`

	// InsecureSkipVerify disables certificate checks. For testing only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`

	// CertFile is a PEM file holding the client certificate (and any
	// intermediates) to present to Redis, for servers that require one
	// (tls-auth-clients yes). Requires KeyFile.
	CertFile string `json:"cert_file,omitempty"`

	// KeyFile is the PEM file of CertFile's private key.
	KeyFile string `json:"key_file,omitempty"`

	// MinVersion is the lowest TLS version accepted: "1.2" (default) or
	// "1.3".
	MinVersion string `json:"min_version,omitempty"`
}

// stores holds the open stores, shared across config reloads: a reload
// provisions the new config before it cleans up the old one, so the same
// settings keep one store (one bbolt file lock, one Redis pool) alive.
var stores = caddy.NewUsagePool()

type pooledStore struct{ denylist.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// openStore returns the store for cfg, opening it or sharing the one
// already open with the same settings, and the key to release it with.
func openStore(ctx caddy.Context, cfg *StoreConfig, logger *zap.Logger) (denylist.Store, string, error) {
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
		opts, err := cfg.Redis.options(repl, logger)
		if err != nil {
			return nil, "", err
		}
		key = "redis:" + resolvedJSON(cfg.Redis, repl)
		mirror, mopts, err := cfg.Redis.mirrorOptions(logger)
		if err != nil {
			return nil, "", err
		}
		openBackend := func(octx context.Context) (denylist.Store, error) {
			dctx, cancel := context.WithTimeout(octx, opts.DialTimeout+5*time.Second)
			defer cancel()
			s, err := denylist.OpenRedis(dctx, opts)
			if err != nil {
				return nil, fmt.Errorf("token_revocation: %w", err)
			}
			if !mirror {
				return s, nil
			}
			return openMirror(octx, s, mopts)
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
			if caddyValidating() { // the file may be locked by the Caddy that runs
				return denylist.NewResilient(denylist.ResilientOptions{Backend: "embedded", Where: path}, nil), nil
			}
			s, err := denylist.OpenEmbedded(path, time.Minute)
			if err != nil {
				return nil, fmt.Errorf("token_revocation: %w", err)
			}
			logger.Info("embedded denylist open", zap.String("path", path), zap.Int("entries", s.Status(ctx).Entries))
			return s, nil
		}
	}
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := open()
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledStore).Store, key, nil
}

// resolvedJSON returns v as JSON with placeholders resolved in every
// string, to name a store in the pool: two configs share a store only when
// their settings are the same once resolved. (Resolving the JSON text as a
// whole would not do: its own braces read as one unknown placeholder.)
func resolvedJSON(v any, repl *caddy.Replacer) string {
	var generic any
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &generic)
	var resolve func(v any) any
	resolve = func(v any) any {
		switch x := v.(type) {
		case string:
			return repl.ReplaceAll(x, "")
		case []any:
			for i := range x {
				x[i] = resolve(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = resolve(x[k])
			}
		}
		return v
	}
	b, _ = json.Marshal(resolve(generic))
	return string(b)
}

// options resolves placeholders and defaults into denylist.RedisOptions.
func (c *RedisConfig) options(repl *caddy.Replacer, logger *zap.Logger) (denylist.RedisOptions, error) {
	o := denylist.RedisOptions{
		MasterName:       repl.ReplaceAll(c.MasterName, ""),
		Cluster:          c.Cluster,
		Username:         repl.ReplaceAll(c.Username, ""),
		Password:         repl.ReplaceAll(c.Password, ""),
		SentinelUsername: repl.ReplaceAll(c.SentinelUsername, ""),
		SentinelPassword: repl.ReplaceAll(c.SentinelPassword, ""),
		DB:               c.DB,
		DialTimeout:      time.Duration(c.DialTimeout),
		ReadTimeout:      time.Duration(c.ReadTimeout),
		WriteTimeout:     time.Duration(c.WriteTimeout),
		PoolSize:         c.PoolSize,
		KeyPrefix:        repl.ReplaceAll(c.KeyPrefix, ""),
		EvictionPolicy:   c.EvictionPolicy,
		MinReplicas:      c.MinReplicas,
		ReplicaTimeout:   time.Duration(c.ReplicaTimeout),
		Logger:           logger,
	}
	for _, a := range c.Addresses {
		o.Addrs = append(o.Addrs, repl.ReplaceAll(a, ""))
	}
	if len(o.Addrs) == 0 {
		o.Addrs = []string{"127.0.0.1:6379"}
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	switch o.EvictionPolicy {
	case "", "warn", "refuse":
	default:
		return o, fmt.Errorf("token_revocation: redis eviction_policy %q: want warn or refuse", o.EvictionPolicy)
	}
	if o.Cluster && o.MasterName != "" {
		return o, fmt.Errorf("token_revocation: redis: cluster and master_name (Sentinel) exclude each other")
	}
	if c.TLS != nil {
		tc, err := c.TLS.config(repl) // tls_config.go
		if err != nil {
			return o, err
		}
		o.TLS = tc
	}
	return o, nil
}
