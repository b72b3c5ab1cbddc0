package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// JWTConfig says how to verify the tokens of one issuer. A token verified
// with it has trusted claims: revoking it also revokes its jti, and, for a
// logout or a refresh token, its session.
//
// An HS* token is verified only with HMACSecrets, an asymmetric one only
// with a public key of the matching type, and "none" never: a public key
// can never be abused as an HMAC secret.
type JWTConfig struct {
	// Issuer is the iss claim of the tokens, exactly as they carry it (for
	// Keycloak: `https://<host>/realms/<realm>`). Required; every entry
	// has its own. `{env.*}` placeholders are replaced when the config is
	// loaded.
	Issuer string `json:"issuer"`

	// Audiences: when set, a token's aud must hold at least one of them.
	// The backchannel_logout and caep routes require them: a logout
	// token's aud is this relying party's client ID, a SET's the
	// receiver's audience.
	Audiences []string `json:"audiences,omitempty"`

	// JWKSURL is where the issuer publishes its keys (for Keycloak:
	// `<issuer>/protocol/openid-connect/certs`). It is fetched in the
	// background when the config loads (if the issuer is down, a warning
	// is logged and Caddy starts anyway; the fetch is retried when a
	// token needs the keys), again when the keys are older than
	// JWKSRefresh, and when a token names an unknown kid, never more than
	// once per JWKSMinRefresh. If a fetch fails, the keys fetched before
	// keep serving.
	JWKSURL string `json:"jwks_url,omitempty"`

	// PublicKeyFiles are files holding static public keys: PEM (PUBLIC
	// KEY, RSA PUBLIC KEY or CERTIFICATE blocks) or JSON (a JWK or a JWKS).
	PublicKeyFiles []string `json:"public_key_files,omitempty"`

	// PublicKeys are static public keys inline: JWK or JWKS JSON, or PEM.
	PublicKeys []string `json:"public_keys,omitempty"`

	// HMACSecrets are shared secrets for HS256, HS384 and HS512, at least
	// 32 bytes each. Use placeholders such as `{env.IDP_HMAC_SECRET}`.
	HMACSecrets []string `json:"hmac_secrets,omitempty"`

	// Algorithms is the allow-list of alg values. Default: the asymmetric
	// algorithms that fit the configured keys (with a JWKS URL: RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA), plus
	// HS256, HS384 and HS512 when an HMAC secret is set. "none" is refused,
	// and so is an HS* algorithm without an HMAC secret.
	Algorithms []string `json:"algorithms,omitempty"`

	// ClockSkew is the leeway on exp, nbf and iat. Default: the handler's
	// clock_skew.
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// JWKSRefresh is the age after which the JWKS is fetched again before
	// its keys are used. Default: 1h.
	JWKSRefresh caddy.Duration `json:"jwks_refresh,omitempty"`

	// JWKSMinRefresh is the least time between two fetches of the JWKS,
	// also when tokens name unknown kids: a flood of forged kids costs the
	// issuer one request per interval. A pushed message the issuer does
	// not send again (backchannel_logout, caep, keycloak_admin; and
	// logout_all) whose kid is unknown within the interval waits for its
	// end and one more fetch (at most the interval; one wait per kid; its
	// recording then goes on if the sender hangs up); other requests never
	// wait. Default: 10s.
	JWKSMinRefresh caddy.Duration `json:"jwks_min_refresh,omitempty"`

	// JWKSTimeout bounds one fetch of the JWKS. Default: 5s.
	JWKSTimeout caddy.Duration `json:"jwks_timeout,omitempty"`

	// Discovery is the issuer's OpenID Connect discovery document, whose
	// jwks_uri says where its keys are; fetched like the JWKS (in the
	// background, refreshed with it, the last one kept while the issuer is
	// down). Default, when no jwks_url, key or secret is set:
	// <issuer>/.well-known/openid-configuration.
	Discovery string `json:"discovery,omitempty"`

	// CAFiles are PEM files of CA certificates trusted, besides the
	// system's, for the TLS connections to the issuer (JWKS, discovery):
	// an identity provider on a private CA.
	CAFiles []string `json:"ca_files,omitempty"`

	// StatusList, when set, checks this issuer's verified tokens that
	// carry a status claim against their Token Status Lists on every
	// request (the check path verifies such a token the first time it
	// sees it). See StatusListConfig.
	StatusList *StatusListConfig `json:"status_list,omitempty"`
}

// JWTIssuers are the issuers of the jwt blocks jcs.
func JWTIssuers(jcs []*JWTConfig) []string {
	var out []string
	for _, jc := range jcs {
		out = append(out, jc.Issuer)
	}
	return out
}

// VerifierConfig resolves placeholders and reads key files.
func (jc *JWTConfig) VerifierConfig(logger *zap.Logger, clockSkew time.Duration) (jwtverify.Config, error) {
	repl := caddy.NewReplacer()
	expand := func(what, v string) (string, error) {
		out := repl.ReplaceAll(v, "")
		if v != "" && out == "" {
			return "", fmt.Errorf("%s %q is empty once placeholders are replaced (is the environment variable set?)", what, v)
		}
		return out, nil
	}
	cfg := jwtverify.Config{
		Algorithms:     jc.Algorithms,
		ClockSkew:      time.Duration(jc.ClockSkew),
		JWKSRefresh:    time.Duration(jc.JWKSRefresh),
		JWKSMinRefresh: time.Duration(jc.JWKSMinRefresh),
		JWKSTimeout:    time.Duration(jc.JWKSTimeout),
		Logger:         logger.Named("jwt"),
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = clockSkew
	}
	var err error
	if cfg.Issuer, err = expand("issuer", jc.Issuer); err != nil {
		return cfg, err
	}
	if cfg.JWKSURL, err = expand("jwks_url", jc.JWKSURL); err != nil {
		return cfg, err
	}
	for _, a := range jc.Audiences {
		a, err := expand("audience", a)
		if err != nil {
			return cfg, err
		}
		cfg.Audiences = append(cfg.Audiences, a)
	}
	for _, f := range jc.PublicKeyFiles {
		f, err := expand("public_key_file", f)
		if err != nil {
			return cfg, err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return cfg, fmt.Errorf("public_key_file: %v", err)
		}
		cfg.PublicKeys = append(cfg.PublicKeys, b)
	}
	for _, k := range jc.PublicKeys {
		cfg.PublicKeys = append(cfg.PublicKeys, []byte(k))
	}
	for _, s := range jc.HMACSecrets {
		s, err := expand("hmac_secret", s)
		if err != nil {
			return cfg, err
		}
		cfg.HMACSecrets = append(cfg.HMACSecrets, []byte(s))
	}
	return cfg, setConnection(&cfg, jc.Discovery, jc.JWKSURL, jc.CAFiles, expand) // jwt_discovery.go
}

// newVerifiers builds the verifiers of the jwt blocks jcs (nil without
// any) and returns the config each was built with; the set's Start
// starts fetching their JWKS in the background.
func newVerifiers(jcs []*JWTConfig, clockSkew time.Duration, logger *zap.Logger) (*jwtverify.Set, []jwtverify.Config, error) {
	if len(jcs) == 0 {
		return nil, nil, nil
	}
	var vs []*jwtverify.Verifier
	var cfgs []jwtverify.Config
	for i, jc := range jcs {
		cfg, err := jc.VerifierConfig(logger, clockSkew)
		if err == nil {
			var v *jwtverify.Verifier
			if v, err = jwtverify.New(cfg); err == nil {
				vs = append(vs, v)
				cfgs = append(cfgs, cfg)
				continue
			}
		}
		if jc.Issuer == "" {
			return nil, nil, fmt.Errorf("token_revocation: jwt %d: %w", i+1, err)
		}
		return nil, nil, fmt.Errorf("token_revocation: jwt %q: %w", jc.Issuer, err)
	}
	set, err := jwtverify.NewSet(vs...)
	if err != nil {
		return nil, nil, fmt.Errorf("token_revocation: jwt: %w: give each issuer one jwt block", err)
	}
	return set, cfgs, nil
}

// ValidateJWT refuses routes that cannot work with the jwt blocks jcs
// (their verifiers set, nil without any).
func ValidateJWT(routes []*route.Compiled, set *jwtverify.Set, jcs []*JWTConfig) error {
	for _, rt := range routes {
		if !rt.Kind.Verifies {
			continue
		}
		if set == nil {
			return fmt.Errorf("token_revocation: route %s %s verifies tokens: add a jwt block for their issuer (e.g. jwt <issuer> { jwks_url <url> })", rt.Type, rt.Path)
		}
		if rt.Kind.NeedsAudience && !anyAudience(jcs) {
			return fmt.Errorf("token_revocation: route %s %s must check the aud of its tokens: set audience in the jwt block of the issuer that sends them", rt.Type, rt.Path)
		}
	}
	return nil
}

func anyAudience(jcs []*JWTConfig) bool {
	for _, jc := range jcs {
		if len(jc.Audiences) > 0 {
			return true
		}
	}
	return false
}

// verifyFunc verifies a token with the jwt blocks' verifiers.
type verifyFunc func(ctx context.Context, raw string, opts jwtverify.Options) (*jwtverify.Token, error)

// newVerify is the verifyFunc over set (nil: no jwt block). A failure is
// logged at debug level (reason only, never the token); signing keys
// that cannot be fetched, as an error.
func newVerify(set *jwtverify.Set, errLog *route.RateLimitedLogger, logger *zap.Logger) verifyFunc {
	return func(ctx context.Context, raw string, opts jwtverify.Options) (*jwtverify.Token, error) {
		if set == nil {
			return nil, errors.New("no jwt verifier configured")
		}
		v, err := set.Verify(ctx, raw, opts)
		if err != nil {
			if errors.Is(err, jwtverify.ErrKeysUnavailable) {
				errLog.Error("token not verified: signing keys unavailable", zap.Error(err))
			} else if c := logger.Check(zapcore.DebugLevel, "token not verified"); c != nil {
				c.Write(zap.Error(err))
			}
		}
		return v, err
	}
}

// UnmarshalJWT parses `jwt <issuer> { ... }`; see UnmarshalCaddyfile.
func UnmarshalJWT(jcs *[]*JWTConfig, d *caddyfile.Dispenser) error {
	jc := &JWTConfig{}
	if !d.NextArg() {
		return d.Err("token_revocation: jwt: missing issuer (the iss claim of the tokens): jwt <issuer> { ... }")
	}
	jc.Issuer = d.Val()
	if d.NextArg() {
		return d.Errf("token_revocation: jwt %s %s: one issuer per jwt block, its settings in the block; write three lines: jwt %s {, then jwks_url <url> (or another setting), then }", jc.Issuer, d.Val(), jc.Issuer)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "jwks_url":
			err = OneArg(d, &jc.JWKSURL)
		case "audience", "audiences":
			err = AtLeastOneArg(d, &jc.Audiences)
		case "public_key_file":
			err = AtLeastOneArg(d, &jc.PublicKeyFiles)
		case "public_key":
			err = AtLeastOneArg(d, &jc.PublicKeys)
		case "hmac_secret":
			err = AtLeastOneArg(d, &jc.HMACSecrets)
		case "algorithms":
			err = AtLeastOneArg(d, &jc.Algorithms)
		case "clock_skew":
			err = DurationArg(d, &jc.ClockSkew)
		case "jwks_refresh":
			err = DurationArg(d, &jc.JWKSRefresh)
		case "jwks_min_refresh":
			err = DurationArg(d, &jc.JWKSMinRefresh)
		case "jwks_timeout":
			err = DurationArg(d, &jc.JWKSTimeout)
		case "discovery":
			err = OneArg(d, &jc.Discovery)
		case "ca_file":
			err = AtLeastOneArg(d, &jc.CAFiles)
		case "status_list":
			err = unmarshalStatusList(&jc.StatusList, jc.Issuer, d) // status_list.go
		default:
			err = UnknownName(d, "jwt "+jc.Issuer, "option", d.Val(), JWTOptions)
		}
		if err != nil {
			return err
		}
	}
	*jcs = append(*jcs, jc)
	return nil
}
