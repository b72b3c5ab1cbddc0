package ssf

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

// unsignedJWT is a JWT as the checker reads it (claims, unverified).
func unsignedJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

// TestEventsRevokeWhatTheCheckerLooksUp stores the cut-offs of polled
// SETs as the glue will (engine.Recorder, an embedded store, through the
// outbox) and asks engine.Checker about tokens: the subject formats meet
// the claims the checker looks up.
func TestEventsRevokeWhatTheCheckerLooksUp(t *testing.T) {
	ctx := context.Background()
	store, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "denylist.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now().Truncate(time.Second)
	keys := &engine.Keys{Hasher: denylist.NewHasher([]byte("hmac"))}
	recorder := engine.NewRecorder(keys, store, engine.RecorderConfig{DefaultTTL: time.Hour, MaxTokenLifetime: 24 * time.Hour, Now: func() time.Time { return now }})
	checker := engine.NewChecker(keys, store, nil)
	apply := func(ctx context.Context, s *SET) error {
		entries, err := recorder.Entries(ctx, &engine.Revocation{Cutoffs: s.Cutoffs, Confirmed: true})
		if err != nil {
			return err
		}
		return recorder.Store(ctx, true, entries)
	}

	tx := newTransmitter(t)
	r, _ := newReceiver(t, tx, "poll", NewMemoryState(), newRecorder(), func(c *Config) {
		c.Apply = apply
		c.Now = func() time.Time { return now }
	})
	for _, ex := range []string{caepSessionRevokedOpaque, riscAccountDisabled} {
		tx.Send(r.Stream().ID, claims(ex))
	}
	pollOnce(t, r)
	pollOnce(t, r)
	if un := tx.Unacked(r.Stream().ID); len(un) != 0 {
		t.Fatalf("unacknowledged: %v", un)
	}

	before := strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)
	after := strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
	for _, c := range []struct {
		name, claims string
		revoked      bool
	}{
		{"the session's token (opaque id = sid)", `{"iss":"` + idpTenant + `","sub":"someone","sid":"dMTlD|1600802906337.16|16008.16","iat":` + before + `}`, true},
		{"another session's", `{"iss":"` + idpTenant + `","sub":"someone","sid":"other","iat":` + before + `}`, false},
		{"the session's, another issuer's", `{"iss":"` + idpRoot + `","sub":"someone","sid":"dMTlD|1600802906337.16|16008.16","iat":` + before + `}`, false},
		{"the session's, issued after the event", `{"iss":"` + idpTenant + `","sid":"dMTlD|1600802906337.16|16008.16","iat":` + after + `}`, false},
		{"the disabled account's (iss_sub)", `{"iss":"` + idpRoot + `","sub":"7375626A656374","iat":` + before + `}`, true},
		{"the disabled account's, issued after", `{"iss":"` + idpRoot + `","sub":"7375626A656374","iat":` + after + `}`, false},
		{"the same sub at another issuer", `{"iss":"` + idpTenant + `","sub":"7375626A656374","iat":` + before + `}`, false},
	} {
		m, err := checker.Check(ctx, "", unsignedJWT(c.claims))
		if err != nil {
			t.Fatal(err)
		}
		if m.Revoked != c.revoked {
			t.Errorf("%s: revoked %v, want %v", c.name, m.Revoked, c.revoked)
		}
	}
}
