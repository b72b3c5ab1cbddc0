package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Introspection of anonymous opaque revocations (forward mode).
//
// A forward-mode revocation of an opaque token by an anonymous caller
// proves nothing by the upstream's 200: RFC 7009 has the identity
// provider answer 200 for a token it does not know. With an introspection
// block, such a token is first checked with the identity provider's
// introspection endpoint (RFC 7662), before the call is forwarded: an
// inactive (unknown, expired, revoked) token costs no space — the call
// still goes to the upstream, which answers it, but the token is not
// stored, so that junk cannot fill the denylist; an active one is
// trusted (the share of max_entries anonymous callers cannot take, no
// address quota; see quota.go). When the endpoint cannot be asked (down,
// an error, an answer that is not RFC 7662's), the token stays anonymous:
// stored, within the anonymous share and its address's quota.
//
// The gateway authenticates to the endpoint as a client
// (client_secret_basic, RFC 7662 section 2.1), which must be allowed to
// introspect every token of the identity provider: an endpoint answers
// active false for a token the asking client may not see, and such a
// token would then not be stored by the gateway (the upstream still
// revokes it).

// DefaultIntrospectionTimeout bounds one introspection request.
const DefaultIntrospectionTimeout = 5 * time.Second

// IntrospectionConfig is the identity provider's token introspection
// endpoint (RFC 7662), asked about the opaque tokens of anonymous
// forward-mode revocations before they take space.
type IntrospectionConfig struct {
	// URL is the introspection endpoint, e.g.
	// https://idp.example/realms/main/protocol/openid-connect/token/introspect.
	URL string `json:"url"`
	// ClientID is the client the gateway authenticates as.
	ClientID string `json:"client_id"`
	// ClientSecret is its secret. Use a placeholder such as
	// `{env.INTROSPECTION_SECRET}` rather than the secret itself.
	ClientSecret string `json:"client_secret"`
	// Timeout bounds one introspection request. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// introspector asks an introspection endpoint whether tokens are active.
type introspector struct {
	url, id, Secret string
	Client          *http.Client
}

// newIntrospector checks the introspection block c and resolves its
// placeholders; nil without one.
func newIntrospector(c *IntrospectionConfig) (*introspector, error) {
	if c == nil {
		return nil, nil
	}
	repl := caddy.NewReplacer()
	in := &introspector{url: repl.ReplaceAll(c.URL, ""), id: repl.ReplaceAll(c.ClientID, ""), Secret: repl.ReplaceAll(c.ClientSecret, "")}
	if u, err := url.Parse(in.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("token_revocation: introspection %q: want the http(s) URL of the identity provider's introspection endpoint", c.URL)
	}
	if in.id == "" || in.Secret == "" {
		return nil, fmt.Errorf("token_revocation: introspection %s: client_id and client_secret are needed (and must not be empty once placeholders are replaced)", c.URL)
	}
	timeout := time.Duration(c.Timeout)
	if timeout == 0 {
		timeout = DefaultIntrospectionTimeout
	}
	if timeout < 0 {
		return nil, fmt.Errorf("token_revocation: introspection timeout must not be negative")
	}
	in.Client = &http.Client{Timeout: timeout}
	return in, nil
}

// errNotIntrospection is an answer that is not RFC 7662's.
var errNotIntrospection = errors.New("not an introspection answer")

// active asks whether the token raw is active. hint is its
// token_type_hint ("" for none).
func (in *introspector) active(ctx context.Context, raw, hint string) (bool, error) {
	form := url.Values{"token": {raw}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.id), url.QueryEscape(in.Secret)) // RFC 6749 section 2.3.1
	res, err := in.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
		return false, fmt.Errorf("%w: status %d", errNotIntrospection, res.StatusCode)
	}
	var answer struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&answer); err != nil || answer.Active == nil {
		return false, fmt.Errorf("%w: no boolean active member", errNotIntrospection)
	}
	return *answer.Active, nil
}

// keepActive asks the introspection endpoint about each opaque token of
// ts: it returns ts without the inactive ones, and whether every opaque
// token of it is active (unknown when the endpoint could not be asked).
// It logs with env's loggers.
func (in *introspector) keepActive(ctx context.Context, env *route.Env, c *route.Call, ts []token.Token) (kept []token.Token, allActive bool) {
	h := env
	hint := ""
	if c.RefreshHint {
		hint = "refresh_token"
	}
	kept, allActive = ts[:0], true
	for _, t := range ts {
		if t.JWT {
			kept = append(kept, t)
			continue
		}
		active, err := in.active(ctx, t.Raw, hint)
		metricIntrospections.WithLabelValues(introspectionResult(active, err)).Inc()
		switch {
		case err != nil:
			h.ErrLog.Error("introspection failed: the token counts as anonymous", zap.String("route", c.Route.Label()), zap.String("hash", h.Keys.Token(&t).Digest.Short()), zap.Error(err))
			allActive = false
		case active:
		default:
			if ce := h.Logger.Check(zapcore.DebugLevel, "token not recorded: the introspection endpoint says it is not active"); ce != nil {
				ce.Write(zap.String("route", c.Route.Label()), zap.String("hash", h.Keys.Token(&t).Digest.Short()))
			}
			continue
		}
		kept = append(kept, t)
	}
	return kept, allActive
}

// introspectionResult is the introspections_total label of an answer.
func introspectionResult(active bool, err error) string {
	switch {
	case err != nil:
		return "error"
	case active:
		return "active"
	}
	return "inactive"
}

// UnmarshalIntrospection parses
//
//	introspection <url> {
//	    client_id <id>
//	    client_secret <secret>
//	    timeout <duration>
//	}
func UnmarshalIntrospection(dst **IntrospectionConfig, d *caddyfile.Dispenser) error {
	if *dst != nil {
		return d.Err("token_revocation: introspection given twice")
	}
	c := &IntrospectionConfig{}
	if !d.NextArg() {
		return d.Err("token_revocation: introspection: missing the endpoint's URL: introspection <url> { client_id <id>; client_secret <secret> }")
	}
	c.URL = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "client_id":
			err = OneArg(d, &c.ClientID)
		case "client_secret":
			err = OneArg(d, &c.ClientSecret)
		case "timeout":
			err = DurationArg(d, &c.Timeout)
		default:
			err = UnknownName(d, "introspection", "option", d.Val(), introspectionOptions)
		}
		if err != nil {
			return err
		}
	}
	*dst = c
	return nil
}
