package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"go.uber.org/zap"
)

func TestJWTConnection(t *testing.T) {
	h := &Handler{}
	h.setDefaults()
	h.logger = zap.NewNop()
	cfg, err := (&gateway.JWTConfig{Issuer: "https://idp.test/"}).VerifierConfig(h.logger, time.Duration(h.ClockSkew))
	if err != nil || cfg.DiscoveryURL != "https://idp.test/.well-known/openid-configuration" {
		t.Errorf("no keys: discovery %q (%v), want the issuer's", cfg.DiscoveryURL, err)
	}
	cfg, _ = (&gateway.JWTConfig{Issuer: "https://idp.test", JWKSURL: "https://idp.test/keys"}).VerifierConfig(h.logger, time.Duration(h.ClockSkew))
	if cfg.DiscoveryURL != "" {
		t.Errorf("with jwks_url: discovery %q, want none", cfg.DiscoveryURL)
	}
	if _, err := (&gateway.JWTConfig{Issuer: "https://idp.test", JWKSURL: "https://idp.test/keys", Discovery: "https://idp.test/d"}).VerifierConfig(h.logger, time.Duration(h.ClockSkew)); err == nil {
		t.Error("jwks_url and discovery: accepted")
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := (&gateway.JWTConfig{Issuer: "https://idp.test", CAFiles: []string{bad}}).VerifierConfig(h.logger, time.Duration(h.ClockSkew)); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a ca_file without a certificate: %v", err)
	}
}
