package redisstore

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults of RedisOptions.
const (
	// DefaultRedisAddress is the address of a Caddy config's Redis when
	// it gives none (OpenRedis itself requires an address).
	DefaultRedisAddress      = "127.0.0.1:6379"
	DefaultRedisKeyPrefix    = "trv"
	DefaultRedisStreamMaxLen = 1_000_000
	DefaultRedisDialTimeout  = 2 * time.Second
	DefaultRedisReadTimeout  = time.Second
	DefaultRedisWriteTimeout = time.Second
	DefaultRedisFailTimeout  = 100 * time.Millisecond
)

// defaultFailTimeout is the FailTimeout of options that give none:
// DefaultRedisFailTimeout, except in this package's tests (main_test.go).
var defaultFailTimeout = DefaultRedisFailTimeout

// Check modes of a Redis denylist (RedisOptions.CheckMode).
const (
	// CheckModeMirror keeps every live revocation in memory (MirrorStore).
	CheckModeMirror = "mirror"
	// CheckModeDirect asks Redis on every check.
	CheckModeDirect = "direct"
)

// Eviction policies (RedisOptions.EvictionPolicy).
const (
	EvictionPolicyWarn   = "warn"
	EvictionPolicyRefuse = "refuse"
)

// RedisOptions are the settings of a Redis denylist, the `store redis`
// block of the Caddy config as it is written in JSON. One set of options
// serves the three topologies go-redis knows: one address is a standalone
// server; MasterName makes the addresses Sentinels; Cluster makes them
// cluster seed nodes.
//
// Durations are written in JSON as strings ("2s", "250ms", "1d") or as
// integers of nanoseconds, as Caddy's durations are. WithDefaults fills in
// what is left unset and Validate says what is wrong; OpenRedis does both.
type RedisOptions struct {
	// Addrs are host:port pairs: one for a standalone server; the
	// Sentinels when MasterName is set; cluster seed nodes when Cluster is
	// true. OpenRedis needs one; the Caddy module uses
	// DefaultRedisAddress when none is given.
	Addrs []string `json:"addresses,omitempty"`

	// MasterName is the Sentinel master set name; setting it selects
	// Sentinel mode.
	MasterName string `json:"master_name,omitempty"`

	// Cluster selects Redis Cluster mode.
	Cluster bool `json:"cluster,omitempty"`

	// Username for Redis ACL authentication.
	Username string `json:"username,omitempty"`

	// Password for Redis authentication. In a Caddy config, use a
	// placeholder such as `{env.REDIS_PASSWORD}`.
	Password string `json:"password,omitempty"`

	// SentinelUsername authenticates to the Sentinels.
	SentinelUsername string `json:"sentinel_username,omitempty"`

	// SentinelPassword authenticates to the Sentinels.
	SentinelPassword string `json:"sentinel_password,omitempty"`

	// DB is the database number (standalone and Sentinel only).
	DB int `json:"db,omitempty"`

	// TLS enables TLS to Redis (files are read by TLSClientConfig).
	TLS *RedisTLS `json:"tls,omitempty"`

	// TLSConfig, when set, is used as is instead of TLS (for programs
	// that build their own; not part of the JSON config).
	TLSConfig *tls.Config `json:"-"`

	// DialTimeout bounds connecting. Default: 2s.
	DialTimeout time.Duration `json:"dial_timeout,omitempty"`

	// ReadTimeout bounds each read. Default: 1s.
	ReadTimeout time.Duration `json:"read_timeout,omitempty"`

	// WriteTimeout bounds each write. Default: 1s.
	WriteTimeout time.Duration `json:"write_timeout,omitempty"`

	// PoolSize is the connection pool size per node. Default: go-redis's.
	PoolSize int `json:"pool_size,omitempty"`

	// KeyPrefix namespaces the denylist's keys. Default: "trv". Instances
	// that share revocations must share the prefix. All of a partition's
	// keys share one cluster hash slot ("{prefix}:..." with one
	// partition) so a revocation is one atomic script per partition, in
	// Cluster too.
	KeyPrefix string `json:"key_prefix,omitempty"`

	// Partitions is how many partitions the denylist is spread over
	// (denylist/redisstore/partition.go), each its own cluster hash slot, entries,
	// expiry and event stream: on a Redis Cluster, a multiple of the
	// number of primaries spreads memory and writes over all of them.
	// Default: the count the key prefix's marker ("{prefix}:partitions")
	// records, written by the first instance: on a Cluster, 24
	// (DefaultClusterPartitions: every primary of a Cluster of up to 24
	// gets a share, before and after it grows or shrinks), or 1 on a
	// prefix an earlier release wrote there; 1 on a standalone server or
	// Sentinel. A count given here must agree with the marker (it is
	// written by the first instance of a new prefix; another count is
	// refused at start: it would be a denylist of its own).
	Partitions int `json:"partitions,omitempty"`

	// Layout is how entries are stored (denylist/redisstore/redis_layout.go):
	// "compact" (a third to a fifth of legacy's Redis memory; reads legacy entries
	// too), "legacy" (the layout of 0.1 and 0.2, ~340 bytes of Redis
	// memory per revocation) or "upgrade" (reads and writes both, so that
	// instances of an earlier release sharing the Redis keep seeing every
	// revocation). Default: the one the key prefix's marker
	// ("{prefix}:layout") records, written by the first instance: compact
	// on a prefix with no data; on one holding legacy data (written by an
	// earlier release, which writes no marker) upgrade, with a warning
	// naming `caddy token-revocation migrate-layout`, which moves the
	// entries and marks the prefix compact. A layout given here must agree
	// with the marker (legacy on a compact prefix, or compact on a legacy
	// one, is refused at start).
	Layout string `json:"layout,omitempty"`

	// Capacity is accepted for configurations written for earlier
	// builds and ignored: the compact layout's buckets follow the live
	// revocations (one more per ~40 entries, one less as they expire), so
	// there is nothing to size. An instance given it logs a warning
	// saying to remove it; a negative one is refused. (Not marked
	// Deprecated for the linters: the Caddyfile still parses it on
	// purpose, to say so.)
	Capacity int `json:"capacity,omitempty"`

	// CheckMode says how a request's tokens are checked: "mirror"
	// (default) keeps every live revocation in memory, loaded at start and
	// kept up to date from Redis's stream of revocations, so a check costs
	// a hash and a map look-up and a revocation reaches every instance
	// within milliseconds; "direct" asks Redis on every request (one round
	// trip each), the simple baseline. OpenRedis opens the Redis store
	// alone; the caller mirrors it (OpenMirror) when Mirrored says so.
	CheckMode string `json:"check_mode,omitempty"`

	// MaxStaleness bounds how out of date the mirror may be (mirror mode).
	// Redis answers the mirror at least every quarter of it, events or
	// not; while its last answer is younger than MaxStaleness a check is
	// answered from memory. Past it (Redis unreachable), checks ask Redis
	// directly, and fail as fail_mode says when Redis does not answer.
	// Default: 1s (DefaultMirrorMaxStaleness).
	MaxStaleness time.Duration `json:"max_staleness,omitempty"`

	// EvictionPolicy says what to do when Redis's maxmemory-policy could
	// evict denylist keys (allkeys-*), silently un-revoking tokens:
	// "warn" (default) logs a warning; "refuse" fails the open (in Caddy,
	// the config load).
	EvictionPolicy string `json:"eviction_policy,omitempty"`

	// MinReplicas is how many replicas must acknowledge a revocation
	// (Redis WAIT, on the connection that wrote it) before Revoke returns
	// nil; fewer within ReplicaTimeout fail with ErrUnavailable (answered
	// 503 with Retry-After; the client's retry is idempotent). A
	// revocation acknowledged by the primary alone is lost when the
	// primary dies before replicating it and a replica is promoted: with
	// Sentinel or Cluster and at least one replica per primary, set it to
	// 1 so that a revocation answered 2xx survives the primary's death: it
	// is on a replica, and failover promotes the most up-to-date one.
	// Default: 0 (the primary's answer is enough; a failover may lose the
	// revocations of the last moments before it).
	MinReplicas int `json:"min_replicas,omitempty"`

	// ReplicaTimeout bounds the wait for MinReplicas acknowledgements;
	// past it Revoke fails with ErrUnavailable (the write stays on the
	// primary). Default: 1s (DefaultRedisReplicaTimeout).
	ReplicaTimeout time.Duration `json:"replica_timeout,omitempty"`

	// FailTimeout bounds how long a check (or a look-up) waits for Redis:
	// past it, the check gets the handler's fail mode (503 with fail
	// closed, the request passes with fail open), whatever the connection
	// pool or the network does. It applies to every check that asks Redis:
	// each one in check_mode direct, and in mirror mode those past
	// max_staleness. Once a check went unanswered that long (and nothing
	// else was answered meanwhile), the others get the fail mode at once
	// while one at a time asks Redis, until it answers (readBreaker).
	// Default: 100ms (DefaultRedisFailTimeout).
	FailTimeout time.Duration `json:"fail_timeout,omitempty"`

	// StreamMaxLen bounds the revocation event streams (approximately),
	// shared by the partitions (at least 10000 each).
	// Default: DefaultRedisStreamMaxLen. Not part of the JSON config.
	StreamMaxLen int64 `json:"-"`

	// Logger receives warnings (eviction policy) and rate-limited errors.
	// Not part of the JSON config.
	Logger *zap.Logger `json:"-"`
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

// UnmarshalJSON reads the options as Caddy writes them: every duration
// either a string ("2s", "1d") or an integer of nanoseconds. Unknown
// fields are an error, as they are everywhere in a Caddy config.
func (o *RedisOptions) UnmarshalJSON(b []byte) error {
	type plain RedisOptions // without this method
	aux := struct {
		*plain
		DialTimeout    jsonDuration `json:"dial_timeout,omitempty"`
		ReadTimeout    jsonDuration `json:"read_timeout,omitempty"`
		WriteTimeout   jsonDuration `json:"write_timeout,omitempty"`
		MaxStaleness   jsonDuration `json:"max_staleness,omitempty"`
		ReplicaTimeout jsonDuration `json:"replica_timeout,omitempty"`
		FailTimeout    jsonDuration `json:"fail_timeout,omitempty"`
	}{plain: (*plain)(o)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return fmt.Errorf("token_revocation: redis: %w", err)
	}
	o.DialTimeout = time.Duration(aux.DialTimeout)
	o.ReadTimeout = time.Duration(aux.ReadTimeout)
	o.WriteTimeout = time.Duration(aux.WriteTimeout)
	o.MaxStaleness = time.Duration(aux.MaxStaleness)
	o.ReplicaTimeout = time.Duration(aux.ReplicaTimeout)
	o.FailTimeout = time.Duration(aux.FailTimeout)
	return nil
}

// jsonDuration is a duration in JSON as Caddy reads one (caddy.Duration):
// a string that ParseDuration accepts, or an integer of nanoseconds.
type jsonDuration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		*d = jsonDuration(v)
		return err
	}
	var n int64
	err := json.Unmarshal(b, &n)
	*d = jsonDuration(n)
	return err
}

// ParseDuration parses a duration as time.ParseDuration does, with one
// more unit, "d", a day of 24h ("1d12h", "1.5d"), as Caddy's
// caddy.ParseDuration does.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) > 1024 {
		return 0, errors.New("parsing duration: input string too long")
	}
	var out strings.Builder
	numStart, inNumber := 0, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		isNum := (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+'
		if isNum && !inNumber {
			numStart = out.Len()
		}
		if ch == 'd' && inNumber {
			num := out.String()[numStart:]
			days, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing duration %q: %w", s, err)
			}
			rest := out.String()[:numStart]
			out.Reset()
			out.WriteString(rest + strconv.FormatFloat(days*24, 'f', -1, 64) + "h")
			inNumber = false
			continue
		}
		out.WriteByte(ch)
		inNumber = isNum
	}
	return time.ParseDuration(out.String())
}

// WithDefaults returns o with its unset fields set to their defaults.
func (o RedisOptions) WithDefaults() RedisOptions {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultRedisKeyPrefix
	}
	if o.StreamMaxLen <= 0 {
		o.StreamMaxLen = DefaultRedisStreamMaxLen
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultRedisDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultRedisReadTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultRedisWriteTimeout
	}
	if o.FailTimeout <= 0 {
		o.FailTimeout = defaultFailTimeout
	}
	if o.CheckMode == "" {
		o.CheckMode = CheckModeMirror
	}
	if o.EvictionPolicy == "" {
		o.EvictionPolicy = EvictionPolicyWarn
	}
	if o.MinReplicas > 0 && o.ReplicaTimeout <= 0 {
		o.ReplicaTimeout = DefaultRedisReplicaTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Validate reports the first setting of o that is wrong, in an error that
// starts "token_revocation: redis" and says what to write instead. Unset
// fields are taken at their defaults. It reads no file: TLSClientConfig
// does.
func (o RedisOptions) Validate() error {
	o = o.WithDefaults()
	if len(o.Addrs) == 0 {
		return errors.New("token_revocation: redis: no address: give host:port in addresses")
	}
	for _, a := range o.Addrs {
		if a == "" {
			return errors.New("token_revocation: redis: an address is empty: give host:port")
		}
	}
	switch {
	case o.Cluster && o.MasterName != "":
		return errors.New("token_revocation: redis: cluster and master_name (Sentinel) exclude each other: set one")
	case !o.Cluster && o.MasterName == "" && len(o.Addrs) > 1:
		return fmt.Errorf("token_revocation: redis: %d addresses given: set master_name (Sentinel) or cluster, or give one address", len(o.Addrs))
	case strings.ContainsAny(o.KeyPrefix, "{}"):
		return fmt.Errorf("token_revocation: redis key_prefix %q must not contain { or }: the store adds its own hash tag", o.KeyPrefix)
	case o.EvictionPolicy != EvictionPolicyWarn && o.EvictionPolicy != EvictionPolicyRefuse:
		return fmt.Errorf("token_revocation: redis eviction_policy %q: want %s or %s", o.EvictionPolicy, EvictionPolicyWarn, EvictionPolicyRefuse)
	case o.MinReplicas < 0:
		return fmt.Errorf("token_revocation: redis min_replicas %d: want 0 or more", o.MinReplicas)
	case o.DB < 0:
		return fmt.Errorf("token_revocation: redis db %d: want 0 or more", o.DB)
	case o.Layout != "" && o.Layout != LayoutLegacy && o.Layout != LayoutUpgrade && o.Layout != LayoutCompact:
		return fmt.Errorf("token_revocation: redis layout %q: want %s, %s or %s, or no layout (the key prefix's own, compact for a new one)", o.Layout, LayoutCompact, LayoutUpgrade, LayoutLegacy)
	case o.Capacity < 0:
		return fmt.Errorf("token_revocation: redis capacity %d: remove it (the compact layout grows and shrinks by itself; the option is ignored)", o.Capacity)
	case o.Partitions < 0 || o.Partitions > MaxRedisPartitions:
		return fmt.Errorf("token_revocation: redis partitions %d: want 1 to %d", o.Partitions, MaxRedisPartitions)
	case o.PoolSize < 0:
		return fmt.Errorf("token_revocation: redis pool_size %d: want 0 (go-redis's default) or more", o.PoolSize)
	case o.MaxStaleness < 0:
		return errors.New("token_revocation: redis max_staleness must not be negative")
	case o.CheckMode == CheckModeDirect && o.MaxStaleness != 0:
		return fmt.Errorf("token_revocation: redis max_staleness applies to check_mode %s only: remove it or the check_mode", CheckModeMirror)
	}
	if err := ValidateCheckMode(o.CheckMode); err != nil {
		return err
	}
	if o.TLS != nil {
		if _, err := o.TLS.minVersion(); err != nil {
			return err
		}
	}
	return nil
}

// ValidateCheckMode reports whether mode is a check mode ("" is the
// default, mirror), in an error that says which are.
func ValidateCheckMode(mode string) error {
	switch mode {
	case "", CheckModeMirror, CheckModeDirect:
		return nil
	}
	return fmt.Errorf("token_revocation: redis check_mode %q: want %s or %s", mode, CheckModeMirror, CheckModeDirect)
}

// Mirrored reports whether the store is to be checked through a mirror
// (check_mode mirror, the default).
func (o RedisOptions) Mirrored() bool {
	return o.CheckMode == "" || o.CheckMode == CheckModeMirror
}

// Label names the denylist o points at without secrets, as
// "redis:<addresses>[@<master>][#<db>]/<prefix>" (a metric label).
func (o RedisOptions) Label() string {
	o = o.WithDefaults()
	label := "redis:" + strings.Join(o.Addrs, ",")
	if o.MasterName != "" {
		label += "@" + o.MasterName
	}
	if o.DB != 0 {
		label += "#" + strconv.Itoa(o.DB)
	}
	return label + "/" + o.KeyPrefix
}

// TLSClientConfig returns the tls.Config of the connections to Redis:
// TLSConfig when set, else one built from TLS (reading its files), else
// nil (no TLS).
func (o RedisOptions) TLSClientConfig() (*tls.Config, error) {
	if o.TLSConfig != nil || o.TLS == nil {
		return o.TLSConfig, nil
	}
	t := o.TLS
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	var err error
	if tc.MinVersion, err = t.minVersion(); err != nil {
		return nil, err
	}
	if t.CAFile != "" {
		if tc.RootCAs, err = certPool(t.CAFile); err != nil {
			return nil, fmt.Errorf("token_revocation: redis tls ca_file: %w", err)
		}
	}
	if t.CertFile != "" { // and KeyFile (minVersion checked)
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("token_revocation: redis tls cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// minVersion checks t's settings that need no file and returns its
// minimum TLS version: MinVersion "" (1.2), "1.2" or "1.3".
func (t *RedisTLS) minVersion() (uint16, error) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return 0, errors.New("token_revocation: redis tls: give both cert_file and key_file (the client certificate and its key)")
	}
	switch t.MinVersion {
	case "", "1.2", "tls1.2":
		return tls.VersionTLS12, nil
	case "1.3", "tls1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("token_revocation: redis tls min_version %q: want 1.2 or 1.3", t.MinVersion)
}

// certPool reads a PEM file of CA certificates.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%q holds no PEM certificate", file)
	}
	return pool, nil
}

// describe names where the store's data lives, for errors and logs.
func (o RedisOptions) describe() string {
	q := make([]string, len(o.Addrs))
	for i, a := range o.Addrs {
		q[i] = strconv.Quote(a)
	}
	addrs := "address " + strings.Join(q, ", ")
	if len(q) > 1 {
		addrs = "addresses " + strings.Join(q, ", ")
	}
	switch {
	case o.MasterName != "":
		return fmt.Sprintf("redis master %q via Sentinel %s", o.MasterName, addrs)
	case o.Cluster:
		return "redis cluster " + addrs
	}
	return "redis " + addrs
}
