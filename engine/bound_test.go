package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// certThumbprint is the SHA-256 thumbprint of a new self-signed client
// certificate, as an mTLS-bound token's cnf.x5t#S256 carries it (RFC 8705
// §3.1).
func certThumbprint(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return token.CertificateThumbprint(der)
}

// boundToken is an access token (RFC 9068) signed with key; cnf, when not
// nil, binds it.
func boundToken(t *testing.T, key *ecdsa.PrivateKey, sub string, iat time.Time, cnf map[string]string) string {
	t.Helper()
	claims := map[string]any{"iss": "https://idp.example", "sub": sub, "client_id": "app",
		"jti": sub + "-" + iat.Format("150405.000000000"), "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()}
	if cnf != nil {
		claims["cnf"] = cnf
	}
	return jwttest.Sign(t, jose.ES256, key, "", "at+jwt", claims)
}

// TestBoundKeyRevocation: revoking a DPoP key (its jkt) and a client
// certificate (its x5t#S256), as the admin API would, rejects the tokens
// bound to them, issued before the revocation and after it; tokens bound
// to other keys and unbound tokens of the same user and client pass. On
// the embedded store and on a real redis-server in the legacy and the
// compact layouts.
func TestBoundKeyRevocation(t *testing.T) {
	ctx := context.Background()
	stores := map[string]func(t *testing.T) denylist.Store{
		"embedded": func(t *testing.T) denylist.Store {
			s, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for _, layout := range []string{redisstore.LayoutLegacy, redisstore.LayoutCompact} {
		stores["redis "+layout] = func(t *testing.T) denylist.Store {
			s, err := redisstore.OpenRedis(ctx, redisstore.RedisOptions{Addrs: []string{redistest.Start(t).Addr}, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			t.Cleanup(func() { store.Close() })
			keys := &Keys{Hasher: denylist.NewHasher([]byte("k")), ClockSkew: time.Minute, ClientCutoffs: true}
			now := time.Now()
			// A fixed clock: the entries' expiries are compared below.
			rec := NewRecorder(keys, store, RecorderConfig{DefaultTTL: time.Hour, MaxTokenLifetime: 24 * time.Hour, ClockSkew: time.Minute,
				Now: func() time.Time { return now }})
			check := NewChecker(keys, store, nil)
			signing, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			sign := func(sub string, iat time.Time, cnf map[string]string) string {
				return boundToken(t, signing, sub, iat, cnf)
			}

			jkt, otherJKT := jwttest.NewDPoPKey(t).JKT, jwttest.NewDPoPKey(t).JKT
			x5t, otherX5T := certThumbprint(t), certThumbprint(t)
			before := now.Add(-10 * time.Minute)
			dpop := sign("alice", before, map[string]string{"jkt": jkt})
			mtls := sign("alice", before, map[string]string{"x5t#S256": x5t})
			otherDPoP := sign("alice", before, map[string]string{"jkt": otherJKT})
			otherMTLS := sign("alice", before, map[string]string{"x5t#S256": otherX5T})
			// x5t's thumbprint as a jkt is another key.
			crossed := sign("alice", before, map[string]string{"jkt": x5t})
			unbound := sign("alice", before, nil)

			revoked := func(raw string) bool {
				t.Helper()
				m, err := check.Check(ctx, "", raw)
				if err != nil {
					t.Fatal(err)
				}
				return m.Revoked
			}
			all := map[string]string{"dpop": dpop, "mtls": mtls, "other dpop": otherDPoP, "other mtls": otherMTLS, "crossed": crossed, "unbound": unbound}
			for what, raw := range all {
				if revoked(raw) {
					t.Fatalf("%s token revoked before anything was", what)
				}
			}

			es, err := rec.Entries(ctx, &Revocation{BoundKeys: []BoundKey{
				{Method: denylist.MethodJKT, Thumbprint: jkt},
				{Method: denylist.MethodX5TS256, Thumbprint: x5t, Until: now.Add(48 * time.Hour)},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(es); got != "cnf cnf " {
				t.Fatalf("entries of kinds %q, want two of kind cnf", got)
			}
			if es[0].Cutoff != denylist.CutoffAlways || es[0].Expires != now.Add(24*time.Hour+time.Minute).Unix() || es[1].Expires != now.Add(48*time.Hour).Unix() {
				t.Fatalf("entries %+v: want absolute, until max_token_lifetime and until the Until given", es)
			}
			if err := rec.Store(ctx, false, es); err != nil {
				t.Fatal(err)
			}

			// Issued after the revocation, bound to the revoked keys.
			after := now.Add(time.Hour)
			dpopAfter := sign("bob", after, map[string]string{"jkt": jkt})
			mtlsAfter := sign("bob", after, map[string]string{"x5t#S256": x5t})
			for what, raw := range map[string]string{"dpop": dpop, "mtls": mtls, "dpop issued after": dpopAfter, "mtls issued after": mtlsAfter} {
				if !revoked(raw) {
					t.Errorf("%s token bound to a revoked key: not revoked", what)
				}
			}
			m, err := check.Check(ctx, "", dpop)
			if err != nil || m.Entry.Kind != denylist.KindKey {
				t.Errorf("dpop token revoked by %+v, %v; want an entry of kind cnf", m, err)
			}
			for _, what := range []string{"other dpop", "other mtls", "crossed", "unbound"} {
				if revoked(all[what]) {
					t.Errorf("%s token revoked: only tokens bound to the revoked keys are", what)
				}
			}
			// An opaque token is checked with the keys of the request
			// that presents it (CheckMadeWith): made with a revoked key,
			// it is revoked by that key's entry; made with other keys, or
			// none, it passes.
			madeWith := func(cnf token.Confirmation) denylist.Match {
				t.Helper()
				m, err := check.CheckMadeWith(ctx, "", "opaque-token-0123456789", &cnf)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			for what, cnf := range map[string]token.Confirmation{"proof of the revoked DPoP key": {JKT: jkt}, "revoked certificate": {X5TS256: x5t}, "revoked certificate and another DPoP key": {JKT: otherJKT, X5TS256: x5t}} {
				if m := madeWith(cnf); !m.Revoked || m.Entry.Kind != denylist.KindKey {
					t.Errorf("opaque token in a request made with the %s: %+v, want revoked by an entry of kind cnf", what, m)
				}
			}
			for what, cnf := range map[string]token.Confirmation{"no key": {}, "other keys": {JKT: otherJKT, X5TS256: otherX5T}, "the certificate's thumbprint as a jkt": {JKT: x5t}} {
				if m := madeWith(cnf); m.Revoked {
					t.Errorf("opaque token in a request made with %s: revoked by %+v, want not", what, m.Entry)
				}
			}
			// The key is namespaced as every claim key: another tenant's
			// tokens bound to it pass.
			if m, err := check.Check(ctx, "tenant-b", dpop); err != nil || m.Revoked {
				t.Errorf("dpop token in another namespace: %+v, %v; want not revoked", m, err)
			}
		})
	}
}

// TestBoundKeyChecked: what Recorder.Entries refuses to store for a
// bound key, each with a message that says what to give.
func TestBoundKeyChecked(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rec, _, _ := newTestRecorder(t, now, nil)
	good := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		b    BoundKey
		want string
	}{
		{BoundKey{Method: "x5t", Thumbprint: good}, `not "x5t"`},
		{BoundKey{Method: denylist.MethodJKT, Thumbprint: good + "="}, "43 base64url characters"},
		{BoundKey{Method: denylist.MethodJKT, Thumbprint: good[:40]}, "43 base64url characters"},
		{BoundKey{Method: denylist.MethodX5TS256, Thumbprint: strings.Repeat("+", 43)}, "43 base64url characters"},
		{BoundKey{Method: denylist.MethodJKT, Thumbprint: good, Until: now.Add(-time.Second)}, "give a time to come"},
	} {
		if _, err := rec.Entries(context.Background(), &Revocation{BoundKeys: []BoundKey{tc.b}}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc.b, err, tc.want)
		}
	}
	if es, err := rec.Entries(context.Background(), &Revocation{BoundKeys: []BoundKey{{Method: denylist.MethodX5TS256, Thumbprint: good}}}); err != nil || len(es) != 1 {
		t.Errorf("a well-formed x5t#S256: %v, %v", es, err)
	}
}

// TestQueryHoldsBoundKeys: a token's query holds the key of each
// thumbprint its cnf names (read unverified: it can only reject its
// token), and a JWT with every claim still fits a Query.
func TestQueryHoldsBoundKeys(t *testing.T) {
	keys := &Keys{Hasher: denylist.NewHasher(nil), ClientCutoffs: true}
	payload := `{"iss":"i","sub":"s","sid":"d","jti":"j","azp":"a","aud":7,"iat":1,"cnf":{"jkt":"J","x5t#S256":"X"}}`
	tok := token.Parse(b64url(`{"alg":"none"}`) + "." + b64url(payload) + ".")
	if !tok.JWT || !tok.LegacyOpaque {
		t.Fatalf("parsed %+v, want a JWT whose odd aud makes it LegacyOpaque (the most keys)", tok)
	}
	q := keys.Query("ns", &tok)
	if q.N != denylist.MaxQueryKeys {
		t.Errorf("the query holds %d keys, want all %d", q.N, denylist.MaxQueryKeys)
	}
	want := []denylist.Key{keys.Bound("ns", BoundKey{Method: denylist.MethodJKT, Thumbprint: "J"}), keys.Bound("ns", BoundKey{Method: denylist.MethodX5TS256, Thumbprint: "X"})}
	if got := q.Keys[q.N-2 : q.N]; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("the query's last keys %v, want the bound keys %v", got, want)
	}
	unbound := token.Parse(b64url(`{"alg":"none"}`) + "." + b64url(`{"iss":"i","sub":"s"}`) + ".")
	for _, k := range keys.Query("ns", &unbound).Keys {
		if k.Kind == denylist.KindKey {
			t.Errorf("an unbound token's query holds a bound key %v", k)
		}
	}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// BenchmarkFillQueryFirstSeen is the query of a JWT first seen, its
// claims' keys remembered (a client's next access token): unbound, and
// bound to a DPoP key, which adds one memo look-up of the thumbprint.
func BenchmarkFillQueryFirstSeen(b *testing.B) {
	keys := &Keys{Hasher: denylist.NewHasher(nil), ClockSkew: time.Minute, ClientCutoffs: true}
	for name, cnf := range map[string]string{"unbound": "", "jkt": `,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}`} {
		b.Run(name, func(b *testing.B) {
			payload := `{"iss":"https://idp.example/realms/demo","sub":"6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f","sid":"s-1","client_id":"app","jti":"j-1","iat":1700000000,"exp":1700003600` + cnf + `}`
			tok := token.Parse(b64url(`{"alg":"ES256","typ":"at+jwt"}`) + "." + b64url(payload) + ".c2ln")
			memo := newClaimKeys()
			var q denylist.Query
			b.ReportAllocs()
			for b.Loop() {
				keys.fillQuery(&q, "", &tok, memo)
			}
		})
	}
}
