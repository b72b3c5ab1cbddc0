package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRedisOptionsValidate(t *testing.T) {
	ok := RedisOptions{Addrs: []string{"127.0.0.1:6379"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal options: %v", err)
	}
	for _, good := range []RedisOptions{
		{Addrs: []string{"a:1", "b:2"}, MasterName: "m"},
		{Addrs: []string{"a:1"}, Cluster: true},
		{Addrs: []string{"a:1"}, CheckMode: CheckModeDirect},
		{Addrs: []string{"a:1"}, CheckMode: CheckModeMirror, MaxStaleness: time.Second},
		{Addrs: []string{"a:1"}, EvictionPolicy: EvictionPolicyRefuse, MinReplicas: 1},
		{Addrs: []string{"a:1"}, TLS: &RedisTLS{MinVersion: "1.3", CertFile: "c", KeyFile: "k"}},
	} {
		if err := good.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", good, err)
		}
	}
	a := []string{"127.0.0.1:6379"}
	for want, bad := range map[string]RedisOptions{
		"no address":                    {},
		"an address is empty":           {Addrs: []string{""}},
		"exclude each other":            {Addrs: a, Cluster: true, MasterName: "m"},
		"2 addresses given":             {Addrs: []string{"a:1", "b:2"}},
		"key_prefix":                    {Addrs: a, KeyPrefix: "a{b}"},
		"eviction_policy":               {Addrs: a, EvictionPolicy: "ignore"},
		"min_replicas":                  {Addrs: a, MinReplicas: -1},
		"db -1":                         {Addrs: a, DB: -1},
		"pool_size":                     {Addrs: a, PoolSize: -1},
		"max_staleness must not":        {Addrs: a, MaxStaleness: -time.Second},
		"applies to check_mode mirror":  {Addrs: a, CheckMode: CheckModeDirect, MaxStaleness: time.Second},
		"check_mode \"sometimes\"":      {Addrs: a, CheckMode: "sometimes"},
		"tls min_version":               {Addrs: a, TLS: &RedisTLS{MinVersion: "1.1"}},
		"give both cert_file and key_f": {Addrs: a, TLS: &RedisTLS{CertFile: "c"}},
	} {
		err := bad.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "token_revocation: redis") || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want an error about %q", bad, err, want)
		}
	}
}

func TestRedisOptionsWithDefaults(t *testing.T) {
	o := RedisOptions{Addrs: []string{"a:1"}}.WithDefaults()
	if o.KeyPrefix != DefaultRedisKeyPrefix || o.StreamMaxLen != DefaultRedisStreamMaxLen ||
		o.DialTimeout != DefaultRedisDialTimeout || o.ReadTimeout != DefaultRedisReadTimeout ||
		o.WriteTimeout != DefaultRedisWriteTimeout || o.CheckMode != CheckModeMirror ||
		o.EvictionPolicy != EvictionPolicyWarn || o.ReplicaTimeout != 0 || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
	if o := (RedisOptions{MinReplicas: 1}).WithDefaults(); o.ReplicaTimeout != DefaultRedisReplicaTimeout {
		t.Errorf("min_replicas without replica_timeout: %s", o.ReplicaTimeout)
	}
	set := RedisOptions{KeyPrefix: "p", DialTimeout: 3 * time.Second, ReadTimeout: -1, CheckMode: CheckModeDirect}.WithDefaults()
	if set.KeyPrefix != "p" || set.DialTimeout != 3*time.Second || set.ReadTimeout != -1 || set.CheckMode != CheckModeDirect {
		t.Errorf("defaults overrode settings: %+v", set)
	}
	if len(set.Addrs) != 0 {
		t.Errorf("WithDefaults invented an address: %v", set.Addrs)
	}
}

func TestRedisOptionsLabel(t *testing.T) {
	for want, o := range map[string]RedisOptions{
		"redis:a:1/trv":       {Addrs: []string{"a:1"}, Password: "secret"},
		"redis:a:1,b:2@m#2/p": {Addrs: []string{"a:1", "b:2"}, MasterName: "m", DB: 2, KeyPrefix: "p"},
		"redis:c:7000/trv":    {Addrs: []string{"c:7000"}, Cluster: true},
	} {
		if got := o.Label(); got != want {
			t.Errorf("Label(%+v) = %q, want %q", o, got, want)
		}
	}
}

func TestRedisOptionsJSON(t *testing.T) {
	var o RedisOptions
	err := json.Unmarshal([]byte(`{"addresses":["a:1"],"master_name":"m","password":"{env.P}","db":1,
		"dial_timeout":"3s","read_timeout":1500000000,"write_timeout":"1d","max_staleness":"250ms","replica_timeout":"1.5d2h",
		"check_mode":"mirror","eviction_policy":"refuse","min_replicas":1,"pool_size":5,"key_prefix":"k",
		"tls":{"server_name":"s","ca_file":"ca","min_version":"1.3"}}`), &o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Addrs[0] != "a:1" || o.MasterName != "m" || o.Password != "{env.P}" || o.DB != 1 ||
		o.DialTimeout != 3*time.Second || o.ReadTimeout != 1500*time.Millisecond || o.WriteTimeout != 24*time.Hour ||
		o.MaxStaleness != 250*time.Millisecond || o.ReplicaTimeout != 38*time.Hour || o.CheckMode != "mirror" ||
		o.EvictionPolicy != "refuse" || o.MinReplicas != 1 || o.PoolSize != 5 || o.KeyPrefix != "k" ||
		o.TLS == nil || o.TLS.ServerName != "s" || o.TLS.CAFile != "ca" || o.TLS.MinVersion != "1.3" {
		t.Fatalf("decoded %+v", o)
	}
	// What it marshals to reads back the same.
	b, _ := json.Marshal(o)
	var again RedisOptions
	if err := json.Unmarshal(b, &again); err != nil || again.WriteTimeout != o.WriteTimeout || again.TLS.CAFile != "ca" {
		t.Fatalf("round trip of %s: %+v, %v", b, again, err)
	}
	for _, bad := range []string{`{"adresses":["a:1"]}`, `{"dial_timeout":"soon"}`, `{"dial_timeout":true}`, `{"tls":{"ca":"x"}}`} {
		if err := json.Unmarshal([]byte(bad), new(RedisOptions)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2s": 2 * time.Second, "1d": 24 * time.Hour, "1.5d": 36 * time.Hour, "1d12h": 36 * time.Hour,
		"-1d": -24 * time.Hour, "250ms": 250 * time.Millisecond, "2h1d": 26 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "soon", "1x", strings.Repeat("1", 1025) + "s"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

// writeCertPEM writes the test server's certificate and key as PEM files
// and returns their paths.
func writeCertPEM(t *testing.T, srv *httptest.Server) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	cert := srv.TLS.Certificates[0]
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestRedisTLSConfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	certFile, keyFile := writeCertPEM(t, srv)

	tc, err := (RedisOptions{TLS: &RedisTLS{CAFile: certFile, CertFile: certFile, KeyFile: keyFile, MinVersion: "1.3", ServerName: "redis.internal"}}).TLSClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS13 || tc.RootCAs == nil || tc.ServerName != "redis.internal" {
		t.Fatalf("tls config: %d certificates, min version %x, RootCAs %v, server name %q", len(tc.Certificates), tc.MinVersion, tc.RootCAs != nil, tc.ServerName)
	}
	if tc, err := (RedisOptions{TLS: &RedisTLS{}}).TLSClientConfig(); err != nil || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("default: %v, min version %x, want TLS 1.2", err, tc.MinVersion)
	}
	for name, bad := range map[string]*RedisTLS{
		"min_version": {MinVersion: "1.1"},
		"cert_file":   {CertFile: certFile},
		"ca_file":     {CAFile: keyFile},
		"key_file":    {CertFile: certFile, KeyFile: certFile},
	} {
		if _, err := (RedisOptions{TLS: bad}).TLSClientConfig(); err == nil || !strings.HasPrefix(err.Error(), "token_revocation: redis tls") {
			t.Errorf("bad %s: %v", name, err)
		}
	}
}
