package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/ssf"
)

// SSFConfig is a Shared Signals Framework 1.0 receiver of one
// transmitter (the Caddyfile's `ssf <issuer> { ... }` block): the
// transmitter is discovered at its /.well-known/ssf-configuration, the
// receiver's stream created or reused, and its Security Event Tokens
// polled (RFC 8936) or pushed (RFC 8935) are verified against the
// transmitter's JWKS; the session and user cut-offs their CAEP and RISC
// events ask for are stored in the denylist (through the outbox, never
// lost) before the SET is acknowledged. It starts in the background and
// retries with backoff, so Caddy starts while the transmitter is down.
// See package ssf for the events and subject formats it reads.
type SSFConfig struct {
	// Issuer is the transmitter's issuer. Required.
	Issuer string `json:"issuer"`

	// Delivery is "poll" (the default: the gateway polls the transmitter,
	// RFC 8936) or "push" (the transmitter POSTs SETs to PushPath, RFC
	// 8935).
	Delivery string `json:"delivery,omitempty"`

	// PushPath is the path the transmitter's pushes arrive at, answered
	// by the receiver (push only; required for push).
	PushPath string `json:"push_path,omitempty"`

	// PushURL is PushPath as the transmitter reaches it, a full URL, given
	// to the transmitter as the stream's endpoint_url (push only;
	// required for push).
	PushURL string `json:"push_url,omitempty"`

	// PushAuthorization, when set, is the stream's authorization_header:
	// a push without exactly this Authorization header value is refused
	// (401). May use placeholders, e.g. `Bearer {env.SSF_PUSH_SECRET}`.
	PushAuthorization string `json:"push_authorization,omitempty"`

	// PushMaxAge refuses a pushed SET issued longer ago. Default: 7d.
	PushMaxAge caddy.Duration `json:"push_max_age,omitempty"`

	// BearerToken authorizes stream management and polls (or use
	// ClientCredentials). May use placeholders, e.g.
	// `{env.SSF_TOKEN}`.
	BearerToken string `json:"bearer_token,omitempty"`

	// ClientCredentials gets the access token that authorizes stream
	// management and polls with the OAuth 2.0 client credentials grant.
	ClientCredentials *SSFClientCredentials `json:"client_credentials,omitempty"`

	// Audience: a SET's aud must hold one of these. Default: the aud the
	// transmitter gave the stream.
	Audience []string `json:"audience,omitempty"`

	// TokenIssuers are the iss of the tokens whose users the
	// transmitter's subjects name (an iss_sub subject must name one of
	// them; the first is the issuer of opaque and email subjects).
	// Default: the transmitter's issuer.
	TokenIssuers []string `json:"token_issuers,omitempty"`

	// EmailIsSub: the tokens' sub is the user's e-mail address, so an
	// email subject names a user. Off, email subjects are ignored.
	EmailIsSub bool `json:"email_is_sub,omitempty"`

	// Events are the event type URIs asked for when the stream is
	// created. Default: every CAEP and RISC event that revokes.
	Events []string `json:"events,omitempty"`

	// MaxEvents is a poll's maxEvents. Default: 100.
	MaxEvents int `json:"max_events,omitempty"`

	// ReturnImmediately polls with returnImmediately; off (the default),
	// polls are long polls the transmitter holds until it has events.
	ReturnImmediately bool `json:"return_immediately,omitempty"`

	// PollTimeout bounds one poll: longer than the transmitter holds a
	// long poll. Default: 70s.
	PollTimeout caddy.Duration `json:"poll_timeout,omitempty"`

	// Verify asks the transmitter for a verification event (SSF 1.0
	// section 8.1.4) each time the stream is ready: its arrival, logged as
	// an "ssf event" of type verification and counted in
	// ssf_events_total{outcome="received"}, shows that SETs reach the
	// gateway. Off by default (a transmitter may rate-limit such
	// requests); a refused request is logged, never fatal.
	Verify bool `json:"verify,omitempty"`

	// CAFiles are PEM files of CA certificates trusted for the
	// transmitter's TLS certificate (discovery, JWKS, streams, polls,
	// its token endpoint), besides the system's.
	CAFiles []string `json:"ca_files,omitempty"`

	// Namespace is the namespace the cut-offs are stored in. Default: the
	// handler's namespace, which must then hold no placeholder (a signal
	// comes with no request to fill it from).
	Namespace string `json:"namespace,omitempty"`
}

// SSFClientCredentials are an SSF receiver's OAuth 2.0 client
// credentials (client_secret_basic).
type SSFClientCredentials struct {
	// TokenURL is the authorization server's token endpoint.
	TokenURL string `json:"token_url"`
	// ClientID identifies the gateway to it.
	ClientID string `json:"client_id"`
	// ClientSecret authenticates it; may use placeholders, e.g.
	// `{env.SSF_CLIENT_SECRET}`.
	ClientSecret string `json:"client_secret"`
	// Scopes are asked for. Default: none.
	Scopes []string `json:"scopes,omitempty"`
}

// UnmarshalSSF parses `ssf <issuer> { ... }` into a block appended to
// dst.
func UnmarshalSSF(dst *[]*SSFConfig, d *caddyfile.Dispenser) error {
	c := &SSFConfig{}
	if !d.NextArg() {
		return d.Err("token_revocation: ssf: missing the transmitter's issuer: ssf <issuer> { ... }")
	}
	c.Issuer = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "delivery":
			err = OneArg(d, &c.Delivery)
		case "push_path":
			err = OneArg(d, &c.PushPath)
		case "push_url":
			err = OneArg(d, &c.PushURL)
		case "push_authorization":
			var v []string
			if err = AtLeastOneArg(d, &v); err == nil {
				c.PushAuthorization = strings.Join(v, " ")
			}
		case "push_max_age":
			err = DurationArg(d, &c.PushMaxAge)
		case "bearer_token":
			err = OneArg(d, &c.BearerToken)
		case "client_credentials":
			args := d.RemainingArgs()
			if len(args) < 3 {
				return d.Err("token_revocation: ssf client_credentials: want <token_url> <client_id> <client_secret> [<scope>...]")
			}
			c.ClientCredentials = &SSFClientCredentials{TokenURL: args[0], ClientID: args[1], ClientSecret: args[2], Scopes: args[3:]}
		case "audience":
			err = AtLeastOneArg(d, &c.Audience)
		case "token_issuers":
			err = AtLeastOneArg(d, &c.TokenIssuers)
		case "email_is_sub":
			err = FlagArg(d, &c.EmailIsSub)
		case "events":
			err = AtLeastOneArg(d, &c.Events)
		case "max_events":
			err = IntArg(d, &c.MaxEvents)
		case "return_immediately":
			err = FlagArg(d, &c.ReturnImmediately)
		case "poll_timeout":
			err = DurationArg(d, &c.PollTimeout)
		case "verify":
			err = FlagArg(d, &c.Verify)
		case "ca_file":
			err = AtLeastOneArg(d, &c.CAFiles)
		case "namespace":
			err = OneArg(d, &c.Namespace)
		default:
			err = UnknownName(d, "ssf "+c.Issuer, "option", d.Val(), SSFOptions)
		}
		if err != nil {
			return err
		}
	}
	if err := c.check(); err != nil {
		return d.Err(err.Error())
	}
	*dst = append(*dst, c)
	return nil
}

// check reports what the block lacks or mixes up.
func (c *SSFConfig) check() error {
	where := "token_revocation: ssf " + c.Issuer
	if _, err := ssf.WellKnownURL(c.Issuer); err != nil {
		return err
	}
	switch c.Delivery {
	case "", "poll":
		if c.PushPath != "" || c.PushURL != "" || c.PushAuthorization != "" {
			return fmt.Errorf("%s: push_path, push_url and push_authorization are for delivery push", where)
		}
	case "push":
		if !strings.HasPrefix(c.PushPath, "/") {
			return fmt.Errorf("%s: delivery push needs push_path, the path (starting with /) the transmitter POSTs to", where)
		}
		if u, err := url.Parse(c.PushURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%s: delivery push needs push_url, the full URL at which the transmitter reaches push_path (https://gateway.example.com%s)", where, c.PushPath)
		}
	default:
		return fmt.Errorf("%s: delivery %q: want poll or push", where, c.Delivery)
	}
	if c.BearerToken != "" && c.ClientCredentials != nil {
		return fmt.Errorf("%s: give bearer_token or client_credentials, not both", where)
	}
	return nil
}

// ssfReceivers are a gateway's running SSF receivers (its gw.ssf):
// runtime state, built at Provision from the ssf blocks, stopped at
// Cleanup.
type ssfReceivers struct {
	cancel     context.CancelFunc
	done       sync.WaitGroup
	transports []*http.Transport // one per block, idle connections closed at Cleanup
	All        []*ssf.Receiver
	configs    []*SSFConfig             // all's blocks, index for index
	push       map[string]*ssf.Receiver // by push_path
	Logger     *zap.Logger
}

// NewSSFReceivers builds a Receiver per ssf block of cfgs over store (its
// SignalState keeps each receiver's stream, events applied and
// acknowledgements owed), storing what their SETs revoke through record
// (the gateway's, record.go) in the block's namespace, or namespace (the
// handler's).
func NewSSFReceivers(cfgs []*SSFConfig, namespace string, store denylist.Store, record recordFunc, logger *zap.Logger) (*ssfReceivers, error) {
	repl := caddy.NewReplacer()
	rs := &ssfReceivers{push: map[string]*ssf.Receiver{}, Logger: logger}
	signals := denylist.SignalStateOf(store)
	seen := map[string]bool{}
	for _, c := range cfgs {
		if err := c.check(); err != nil {
			return nil, err
		}
		if seen[c.Issuer] {
			return nil, fmt.Errorf("token_revocation: ssf %s: two ssf blocks name this transmitter; one receives all its events", c.Issuer)
		}
		seen[c.Issuer] = true
		// expand resolves placeholders, refusing a value they leave empty
		// (an unset environment variable): the transmitter would refuse
		// every call, or any push would pass.
		expand := func(what, v string) (string, error) {
			out := repl.ReplaceAll(v, "")
			if v != "" && out == "" {
				return "", fmt.Errorf("token_revocation: ssf %s: %s %q is empty once placeholders are replaced (is the environment variable set?)", c.Issuer, what, v)
			}
			return out, nil
		}
		bearer, err := expand("bearer_token", c.BearerToken)
		if err != nil {
			return nil, err
		}
		pushAuth, err := expand("push_authorization", c.PushAuthorization)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if len(c.CAFiles) > 0 {
			if tr, err = caTransport(c.CAFiles, expand); err != nil { // jwt_discovery.go
				return nil, fmt.Errorf("token_revocation: ssf %s: %s", c.Issuer, strings.TrimPrefix(err.Error(), "token_revocation: "))
			}
		}
		rs.transports = append(rs.transports, tr)
		client := &http.Client{Transport: tr}
		ns := c.Namespace
		if ns == "" {
			if strings.Contains(namespace, "{") {
				return nil, fmt.Errorf("token_revocation: ssf %s: the handler's namespace %q is a template a signal cannot fill: give the ssf block a namespace", c.Issuer, namespace)
			}
			ns = namespace
		}
		if rs.push[c.PushPath] != nil {
			return nil, fmt.Errorf("token_revocation: ssf %s: push_path %s is another ssf block's", c.Issuer, c.PushPath)
		}
		var state ssf.State = &ssf.StoreState{Store: signals, Source: c.Issuer}
		if signals == nil {
			logger.Warn("the store keeps no signal state: SSF events may be applied again after a restart", zap.String("issuer", c.Issuer))
			state = ssf.NewMemoryState()
		}
		cfg := ssf.Config{
			Issuer:            c.Issuer,
			Delivery:          c.Delivery,
			PushEndpoint:      repl.ReplaceAll(c.PushURL, ""),
			PushAuthorization: pushAuth,
			Audience:          c.Audience,
			Subjects:          ssf.Subjects{TokenIssuers: c.TokenIssuers, EmailIsSub: c.EmailIsSub},
			EventsRequested:   c.Events,
			PushMaxAge:        time.Duration(c.PushMaxAge),
			Description:       "caddy-token-revocation",
			MaxEvents:         c.MaxEvents,
			ReturnImmediately: c.ReturnImmediately,
			PollTimeout:       time.Duration(c.PollTimeout),
			HTTPClient:        client,
			State:             state,
			Metrics:           newSSFMetrics(c.Issuer), // metrics.go
			Apply:             ssfApply(record, c.Issuer, ns),
			Logger:            logger.Named("ssf"),
		}
		switch {
		case bearer != "":
			cfg.Auth = ssf.BearerToken(bearer)
		case c.ClientCredentials != nil:
			cc := c.ClientCredentials
			clientSecret, err := expand("client_credentials' secret", cc.ClientSecret)
			if err != nil {
				return nil, err
			}
			cfg.Auth = &ssf.ClientCredentials{TokenURL: cc.TokenURL, ClientID: cc.ClientID,
				ClientSecret: clientSecret, Scopes: cc.Scopes, HTTPClient: client}
		}
		r, err := ssf.New(cfg)
		if err != nil {
			return nil, err
		}
		rs.All = append(rs.All, r)
		rs.configs = append(rs.configs, c)
		if c.PushPath != "" {
			rs.push[c.PushPath] = r
		}
	}
	return rs, nil
}

// Start runs each receiver in the background: Start retried with
// backoff, then, for poll, Run until close.
func (rs *ssfReceivers) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	rs.cancel = cancel
	for i, r := range rs.All {
		rs.done.Add(1)
		go func() {
			defer rs.done.Done()
			rs.run(ctx, rs.configs[i], r)
		}()
	}
}

// ssfStartBackoff bounds the wait between two failed starts of a
// receiver (the first waits a second, each next twice as long).
const ssfStartBackoff = time.Minute

// run starts r, retrying with backoff until the transmitter and the
// store answer, then polls until ctx is done (push: servePush answers).
func (rs *ssfReceivers) run(ctx context.Context, c *SSFConfig, r *ssf.Receiver) {
	wait := time.Second
	for {
		err := r.Start(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		rs.Logger.Warn("ssf receiver not started; retrying", zap.String("issuer", c.Issuer), zap.Duration("retry_in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, ssfStartBackoff)
	}
	if c.Verify {
		if state, err := r.RequestVerification(ctx); err != nil {
			rs.Logger.Warn("ssf verification event not requested", zap.String("issuer", c.Issuer), zap.Error(err))
		} else {
			rs.Logger.Info("ssf verification event requested", zap.String("issuer", c.Issuer), zap.String("state", state))
		}
	}
	if r.Stream().Delivery.Method == ssf.DeliveryPoll {
		_ = r.Run(ctx)
	}
}

// recordFunc stores what a revocation revokes, under source: the
// gateway's record (record.go).
type recordFunc func(ctx context.Context, source string, rev *engine.Revocation) error

// ssfApply is the Apply of a receiver of issuer: its SET's cut-offs, in
// namespace ns, stored as confirmed through record (the identity
// provider has revoked them already: through the outbox, never lost).
// The SET is acknowledged only when it returns nil.
func ssfApply(record recordFunc, issuer, ns string) func(context.Context, *ssf.SET) error {
	return func(ctx context.Context, set *ssf.SET) error {
		return record(ctx, "ssf "+issuer, &engine.Revocation{Namespace: ns, Cutoffs: set.Cutoffs, Confirmed: true})
	}
}

// servePush answers a push to an ssf block's push_path, and reports
// whether r was one. rs may be nil (no ssf block).
func (rs *ssfReceivers) servePush(w http.ResponseWriter, r *http.Request) bool {
	if rs == nil {
		return false
	}
	rc := rs.push[r.URL.Path]
	if rc == nil {
		return false
	}
	rc.ServeHTTP(w, r)
	return true
}

// ValidateSSF refuses a push_path of rs that is also a route's.
func ValidateSSF(rs *ssfReceivers, routes []*route.Compiled) error {
	if rs == nil {
		return nil
	}
	for _, rt := range routes {
		for p := range rs.push {
			if rt.Pattern.String() == p {
				return fmt.Errorf("token_revocation: ssf push_path %s is also the path of a %s route", p, rt.Type)
			}
		}
	}
	return nil
}

// Close stops the receivers and waits for them: a reload leaves no poll
// running. rs may be nil.
func (rs *ssfReceivers) Close() {
	if rs == nil {
		return
	}
	if rs.cancel != nil {
		rs.cancel()
	}
	rs.done.Wait()
	for _, r := range rs.All {
		r.Close()
	}
	for _, tr := range rs.transports {
		tr.CloseIdleConnections()
	}
}
