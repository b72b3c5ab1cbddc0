package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/profile"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("token_revocation", parseCaddyfile)
	// Before basic_auth, like other request guards (rate_limit): a revoked
	// token is rejected before any other authentication or proxying.
	httpcaddyfile.RegisterDirectiveOrder("token_revocation", httpcaddyfile.Before, "basic_auth")
}

func parseCaddyfile(helper httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(helper.Dispenser)
	return h, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	token_revocation [<matcher>] {
//	    # where the denylist lives (default: embedded, in Caddy's data directory)
//	    store embedded [<path>]
//	    store redis {
//	        address <host:port...>      # one: standalone; Sentinels with master_name; seeds with cluster
//	        master_name <name>
//	        cluster
//	        username <user>
//	        password <password>         # e.g. {env.REDIS_PASSWORD}
//	        sentinel_username <user>
//	        sentinel_password <password>
//	        db <n>
//	        tls [{
//	            server_name <name>
//	            ca_file <pem file>
//	            insecure_skip_verify
//	            cert_file <pem file>    # client certificate, for tls-auth-clients
//	            key_file <pem file>
//	            min_version 1.2|1.3     # default: 1.2
//	        }]
//	        dial_timeout <duration>
//	        read_timeout <duration>
//	        write_timeout <duration>
//	        pool_size <n>
//	        key_prefix <prefix>
//	        partitions <n>              # hash slots the denylist spreads over; default: the prefix's, 24 for a new one on a Cluster, else 1
//	        layout compact|upgrade|legacy  # default: the key prefix's, recorded in Redis: compact when new; upgrade (with a warning naming migrate-layout) on one an earlier release wrote
//	        capacity <n>                # deprecated, ignored: the compact layout grows and shrinks by itself
//	        eviction_policy warn|refuse
//	        check_mode mirror|direct    # default: mirror (in-memory copy, fed by Redis)
//	        max_staleness <duration>    # mirror: past it, checks ask Redis (default: 1s)
//	        fail_timeout <duration>     # a check that asks Redis gets the fail mode past it (default: 100ms)
//	        min_replicas <n>            # replicas that must acknowledge a revocation (WAIT); default 0
//	        replica_timeout <duration>  # default: 1s
//	    }
//
//	    # revocation routes: <type> <path> [respond|forward] [{ options }]
//	    revoke <path> [respond|forward] [{  # RFC 7009
//	        revoke_refused <error code or status...>|off  # forward: upstream answers on which the gateway revokes JWTs itself; default unsupported_token_type
//	    }]
//	    logout <path> [respond|forward] {   # OIDC / Keycloak logout
//	        mode respond|forward
//	        namespace <template>
//	        client_auth required|off        # respond mode; default: required on revoke, logout and keycloak_* when clients are set
//	        verified_only                   # respond mode, needs jwt: store only tokens that verify
//	        case_insensitive                # the upstream routes paths without regard to case
//	    }
//	    browser_logout <path> [respond|forward] [{   # this site's sign-out link (GET) or form (POST): the caller's cookies and Authorization
//	        redirect <url>                  # 303 there once logged out; default: 204
//	        cookie_path <path>              # Path of the expired cookies; default: /
//	        cookie_domain <domain>
//	    }]
//	    logout_all <path> [respond|forward]          # log out everywhere (needs jwt)
//	    backchannel_logout <path> [respond|forward]  # OIDC Back-Channel Logout (needs jwt with audience)
//	    caep <path> [respond|forward]                # CAEP session-revoked SETs, RFC 8935 push (needs jwt with audience)
//	    global_token_revocation <path> [respond|forward] [{  # Global Token Revocation: JSON sub_id, a user-wide cut-off (needs jwt)
//	        client_auth required|off        # required: the clients authenticate (Basic); default: a bearer JWT with scope global_token_revocation
//	        email_is_sub                    # an email subject names the user whose sub it is; default: 422
//	    }]
//	    keycloak_logout <path> [respond|forward]     # Keycloak logout: refresh_token, realm-checked
//	    keycloak_revoke <path> [respond|forward]     # Keycloak revoke: only an empty 200 confirms the token
//	    keycloak_admin <path>/* [respond|forward] [{ # a Keycloak client's Admin URL: signed k_push_not_before, k_logout (needs jwt)
//	        issuer <issuer>                 # the realm's jwt block; default: the only one
//	        realm_wide                      # cut off every token of the realm, not only the client's (azp)
//	    }]
//	    oauth_token <path>                           # token endpoint, observed: grants, revoked refresh tokens refused
//	    usergrid_token <path>                        # Usergrid token endpoint, observed: whose token is whose
//	    usergrid_revoketoken <path> [respond|forward]
//	    usergrid_revoketokens <path> [respond|forward]
//
//	    # presets: the routes (and settings) that front an API as it is
//	    profile keycloak [<path prefix>] [{ mode respond|forward }]
//	    profile usergrid [<path prefix>] [{ mode respond|forward }]
//	    profile meshydb [<path prefix>] [{
//	        mode respond|forward
//	        default_tenant <name>           # the tenant of a request without the header; default: default
//	        tenant_header <name>            # default: tenant
//	    }]
//
//	    # JWT verification, one block per issuer: verified tokens revoke
//	    # their jti, session or user, not only themselves (see JWTConfig)
//	    jwt <issuer> {
//	        jwks_url <url>
//	        audience <aud...>
//	        public_key_file <file...>       # PEM, or JWK/JWKS JSON
//	        public_key <PEM or JWK/JWKS JSON...>
//	        hmac_secret <secret...>         # e.g. {env.IDP_HMAC_SECRET}; at least 32 bytes
//	        algorithms <alg...>             # default: what fits the keys; never none
//	        clock_skew <duration>           # default: the handler's clock_skew
//	        jwks_refresh <duration>         # default: 1h
//	        jwks_min_refresh <duration>     # default: 10s
//	        jwks_timeout <duration>         # default: 5s
//	        discovery <url>                 # default without keys: <issuer>/.well-known/openid-configuration
//	        ca_file <pem file...>           # CAs of the issuer's TLS certificate, besides the system's
//	        status_list {                   # check status.status_list of its verified tokens (Token Status List)
//	            allow_hosts <host...>       # hosts the lists may come from; default: the issuer's host
//	            max_stale <duration>        # a list still used this long past its refresh while the issuer is down; default: 10m
//	            first_fetch_wait <duration> # a list never fetched is waited for this long, then fail_mode; default: 1s
//	            fetch_timeout <duration>    # default: 5s
//	            max_size <size>             # a Status List Token's size; default: 4MiB
//	            refresh_min <duration>      # a ttl below it is raised to it; default: 10s
//	            refresh_max <duration>      # a ttl above it, or none, is lowered to it; default: 1h
//	            max_lists <n>               # lists cached at once; default: 1000
//	        }
//	    }
//
//	    # who may call the routes, and how often (see "Abuse limits" in docs/security.md)
//	    clients {
//	        <id> <secret>                   # e.g. {env.REVOKE_CLIENT_SECRET}; client_secret_basic or client_secret_post
//	    }
//	    rate_limit off
//	    rate_limit {                        # revocation routes and token endpoint observers
//	        client <n>/<interval> [<burst>]     # per authenticated client; default: 50/1s 100
//	        address <n>/<interval> [<burst>]    # per client address (not exempt_addresses); default: 50/1s 100
//	        max_keys <n>                        # clients, and addresses, tracked; default: 10000
//	    }
//	    max_entries <n>|off                 # then 503 "denylist full"; default: 1000000
//	    max_owner_records <n>|off           # then token endpoints answer 503; default: 1000000
//	    quota off
//	    quota {                             # space per caller: no flood denies a trusted revocation
//	        anonymous <n>|<percent>%            # store size up to which anonymous revocations are taken; default: 50% (100% if nothing can be trusted)
//	        address <n>|off                     # unexpired entries per address, anonymous calls; default: 10000
//	        client <n>|off                      # unexpired entries per authenticated client; default: off
//	        max_keys <n>                        # addresses, and clients, tracked; default: 10000
//	    }
//	    exempt_addresses <cidr...>|off      # no address rate limit or quota; default: 127.0.0.0/8 ::1
//	    introspection <url> {               # RFC 7662: forward mode, an anonymous opaque token not active is not stored
//	        client_id <id>
//	        client_secret <secret>          # e.g. {env.INTROSPECTION_SECRET}
//	        timeout <duration>              # default: 5s
//	    }
//	    # Shared Signals receivers, one block per transmitter (see SSFConfig)
//	    ssf <transmitter-issuer> {
//	        delivery poll|push              # default: poll (RFC 8936); push: RFC 8935
//	        push_path <path>                # push: the path the transmitter POSTs SETs to
//	        push_url <url>                  # push: that path as the transmitter reaches it
//	        push_authorization <value>      # push: the Authorization each push carries, e.g. Bearer {env.SSF_PUSH_SECRET}
//	        push_max_age <duration>         # push: older SETs refused; default: 7d
//	        bearer_token <token>            # authorizes stream management and polls, e.g. {env.SSF_TOKEN}; or:
//	        client_credentials <token_url> <client_id> <client_secret> [<scope...>]
//	        audience <aud...>               # default: the stream's aud
//	        token_issuers <iss...>          # whose users iss_sub subjects name; default: the transmitter's issuer
//	        email_is_sub                    # an email subject names the user whose sub it is
//	        events <event-type-uri...>      # asked for at creation; default: the CAEP and RISC events that revoke
//	        max_events <n>                  # a poll's maxEvents; default: 100
//	        return_immediately              # default: long polls
//	        poll_timeout <duration>         # default: 70s
//	        verify                          # ask for a verification event once the stream is ready
//	        ca_file <pem file...>           # CAs of the transmitter's TLS certificate, besides the system's
//	        namespace <namespace>           # default: the handler's (which must then be a constant)
//	    }
//
//	    # where tokens are looked for on every request
//	    schemes <scheme...>                 # default: Bearer DPoP
//	    query_param <name>|off              # default: access_token
//	    form_field <name>|off               # default: access_token
//	    cookie <name...>
//	    header <name...>
//	    allow_upgrade <protocol...>         # besides websocket; default: none
//
//	    namespace <template>                # e.g. {http.request.header.tenant}
//	    namespace_default <placeholder> <value>  # e.g. {http.request.header.tenant} main
//	    namespace_fold_case                 # tenants compare without regard to case
//	    max_token_size <size>               # default: 8KiB
//	    max_body_size <size>                # default: 64KiB
//	    body_timeout <duration>             # bodies read for tokens; default: 10s
//	    max_upstream_answer <size>          # forward mode: held to decide; default: 64KiB
//	    default_ttl <duration>              # default: 24h
//	    max_token_lifetime <duration>       # default: 24h
//	    clock_skew <duration>               # default: 5m
//	    fail closed|open                    # default: closed
//	    retry_after <duration>              # default: 5s
//	    hmac_key <key>                      # e.g. {env.TOKEN_REVOCATION_KEY}
//	    name <name>                         # picks this handler in the admin API / CLI (--handler)
//
//	    # live connections (WebSocket, SSE, streams) ended when their token is revoked; default: on
//	    live_connections off
//	    live_connections [{
//	        close_on_expiry                 # also end them when the token's exp passes
//	        frame_wait <duration>           # a WebSocket's close frame waits for the frame in flight; default: 1s
//	        first_messages off              # a WebSocket's first messages pass unread; default: checked
//	        first_messages {
//	            messages <n>                # how many are checked; default: 4
//	            size <size>                 # bytes of frames read within them; default: 64KiB
//	            wait <duration>             # from the upgrade; default: 10s
//	        }
//	    }]
//	}
//
// Route types: see Route.Type.
//
// A name a block does not take is refused with the closest one it takes
// ("did you mean address?") and the list of them (gateway/caddyfile_hint.go);
// names from elsewhere (jwks_uri, caddy-jwt's jwk_url) point at this
// grammar's (jwks_url) rather than being accepted as aliases.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := h.unmarshalSubdirective(d); err != nil {
			return err
		}
	}
	return nil
}

// unmarshalSubdirective parses one subdirective of the handler's block:
// a route (one of route.Kinds) or a setting.
func (h *Handler) unmarshalSubdirective(d *caddyfile.Dispenser) error {
	name := d.Val()
	if _, ok := route.Kinds[name]; ok {
		return h.unmarshalRoute(d, name)
	}
	switch name {
	case "store":
		return unmarshalStore(h, d)
	case "profile":
		return profile.UnmarshalProfile(h.profileTarget(), d) // profile/profile.go
	case "jwt":
		return gateway.UnmarshalJWT(&h.JWT, d) // gateway/jwt.go
	case "clients":
		return gateway.UnmarshalClients(&h.Clients, d) // gateway/client_auth.go
	case "rate_limit":
		return gateway.UnmarshalRateLimit(&h.RateLimit, d) // gateway/ratelimit.go
	case "max_entries":
		return gateway.CeilingArg(d, &h.MaxEntries)
	case "max_owner_records":
		return gateway.CeilingArg(d, &h.MaxOwnerRecords)
	case "quota":
		return gateway.UnmarshalQuota(&h.Quota, d) // gateway/quota.go
	case "exempt_addresses":
		return gateway.AtLeastOneArg(d, &h.ExemptAddresses)
	case "introspection":
		return gateway.UnmarshalIntrospection(&h.Introspection, d) // gateway/quota_introspect.go
	case "ssf":
		return gateway.UnmarshalSSF(&h.SSF, d) // gateway/ssf.go
	case "schemes":
		return gateway.AtLeastOneArg(d, &h.Schemes)
	case "query_param":
		return gateway.OneArg(d, &h.QueryParam)
	case "form_field":
		return gateway.OneArg(d, &h.FormField)
	case "cookie":
		return gateway.AtLeastOneArg(d, &h.Cookies)
	case "header":
		return gateway.AtLeastOneArg(d, &h.Headers)
	case "allow_upgrade":
		return gateway.AtLeastOneArg(d, &h.AllowUpgrades)
	case "namespace":
		// A profile may have set it: refuse a second one, rather than let
		// the later silently win.
		if h.Namespace != "" {
			return d.Errf("token_revocation: namespace given twice (a profile may have set it already: %q)", h.Namespace)
		}
		return gateway.OneArg(d, &h.Namespace)
	case "namespace_default":
		return gateway.UnmarshalNamespaceDefault(&h.NamespaceDefaults, d) // gateway/namespace.go
	case "namespace_fold_case":
		return gateway.FlagArg(d, &h.NamespaceFoldCase)
	case "max_token_size":
		n, err := gateway.SizeArg(d)
		h.MaxTokenSize = int(n)
		return err
	case "max_body_size":
		return gateway.SizeInto(d, &h.MaxBodySize)
	case "max_upstream_answer":
		return gateway.SizeInto(d, &h.MaxUpstreamAnswer)
	case "body_timeout":
		return gateway.DurationArg(d, &h.BodyTimeout)
	case "default_ttl":
		return gateway.DurationArg(d, &h.DefaultTTL)
	case "max_token_lifetime":
		return gateway.DurationArg(d, &h.MaxTokenLifetime)
	case "clock_skew":
		return gateway.DurationArg(d, &h.ClockSkew)
	case "retry_after":
		return gateway.DurationArg(d, &h.RetryAfter)
	case "fail":
		if err := gateway.OneArg(d, &h.FailMode); err != nil {
			return err
		}
		if h.FailMode != FailClosed && h.FailMode != FailOpen {
			return d.Errf("token_revocation: fail %q: want %s or %s", h.FailMode, FailClosed, FailOpen)
		}
		return nil
	case "hmac_key":
		return gateway.OneArg(d, &h.HMACKey)
	case "name":
		return gateway.OneArg(d, &h.Name)
	case "live_connections":
		return gateway.UnmarshalLiveConnections(&h.LiveConnections, d) // gateway/live_connections.go
	}
	return gateway.UnknownName(d, "", "subdirective", name, handlerSubdirectives())
}

// unmarshalRoute parses `<type> <path> [respond|forward] [{ ... }]`.
func (h *Handler) unmarshalRoute(d *caddyfile.Dispenser, typ string) error {
	rc := &route.Route{Type: typ}
	if !d.NextArg() {
		return d.Errf("token_revocation: %s: missing path", typ)
	}
	rc.Path = d.Val()
	if d.NextArg() {
		rc.Mode = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := unmarshalRouteOption(d, rc); err != nil {
			return err
		}
	}
	if _, err := route.Compile(rc); err != nil {
		return d.Errf("token_revocation: %s %s: %v", typ, rc.Path, err)
	}
	h.Routes = append(h.Routes, rc)
	return nil
}

// unmarshalRouteOption parses one option of rc's block. Options of
// another kind's route are refused when the route compiles.
func unmarshalRouteOption(d *caddyfile.Dispenser, rc *route.Route) error {
	switch d.Val() {
	case "mode":
		return gateway.OneArg(d, &rc.Mode)
	case "namespace":
		return gateway.OneArg(d, &rc.Namespace)
	case "case_insensitive":
		return gateway.FlagArg(d, &rc.CaseInsensitive)
	case "client_auth":
		return gateway.OneArg(d, &rc.ClientAuth)
	case "verified_only":
		return gateway.FlagArg(d, &rc.VerifiedOnly)
	case "revoke_refused":
		return gateway.AtLeastOneArg(d, &rc.RevokeRefused)
	case "redirect":
		return gateway.OneArg(d, &route.BrowserLogoutConfig(rc).Redirect)
	case "cookie_path":
		return gateway.OneArg(d, &route.BrowserLogoutConfig(rc).CookiePath)
	case "cookie_domain":
		return gateway.OneArg(d, &route.BrowserLogoutConfig(rc).CookieDomain)
	case "issuer":
		return gateway.OneArg(d, &route.KeycloakAdminConfig(rc).Issuer)
	case "realm_wide":
		return gateway.FlagArg(d, &route.KeycloakAdminConfig(rc).RealmWide)
	case "email_is_sub":
		return gateway.FlagArg(d, &rc.EmailIsSub)
	}
	return gateway.UnknownName(d, rc.Type+" "+rc.Path, "option", d.Val(), gateway.RouteOptions)
}

// unmarshalStore parses `store embedded [<path>]` and `store redis { ... }`.
func unmarshalStore(h *Handler, d *caddyfile.Dispenser) error {
	if h.Store != nil {
		return d.Err("token_revocation: store given twice")
	}
	if !d.NextArg() {
		return d.Err("token_revocation: store: want embedded [<path>], or redis followed by a block: store redis {, then address <host:port> on the next line, then }")
	}
	h.Store = &storage.StoreConfig{}
	switch d.Val() {
	case "embedded":
		h.Store.Embedded = &storage.EmbeddedConfig{}
		if d.NextArg() {
			h.Store.Embedded.Path = d.Val()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	case "redis":
		h.Store.Redis = &redisstore.RedisOptions{}
		if d.NextArg() {
			return d.Errf("token_revocation: store redis %s: the address goes in a block; write three lines: store redis {, then address %s, then }", d.Val(), d.Val())
		}
		return unmarshalRedis(d, h.Store.Redis)
	}
	return gateway.UnknownName(d, "store", "store", d.Val(), gateway.StoreKinds)
}

func unmarshalRedis(d *caddyfile.Dispenser, c *redisstore.RedisOptions) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "address", "addresses":
			err = gateway.AtLeastOneArg(d, &c.Addrs)
		case "master_name":
			err = gateway.OneArg(d, &c.MasterName)
		case "cluster":
			c.Cluster = true
			if d.NextArg() {
				err = d.ArgErr()
			}
		case "username":
			err = gateway.OneArg(d, &c.Username)
		case "password":
			err = gateway.OneArg(d, &c.Password)
		case "sentinel_username":
			err = gateway.OneArg(d, &c.SentinelUsername)
		case "sentinel_password":
			err = gateway.OneArg(d, &c.SentinelPassword)
		case "db":
			err = gateway.IntArg(d, &c.DB)
		case "pool_size":
			err = gateway.IntArg(d, &c.PoolSize)
		case "key_prefix":
			err = gateway.OneArg(d, &c.KeyPrefix)
		case "partitions":
			err = gateway.IntArg(d, &c.Partitions)
		case "layout":
			err = gateway.OneArg(d, &c.Layout)
		case "capacity":
			err = gateway.IntArg(d, &c.Capacity)
		case "eviction_policy":
			err = gateway.OneArg(d, &c.EvictionPolicy)
		case "check_mode":
			if err = gateway.OneArg(d, &c.CheckMode); err == nil {
				if err = redisstore.ValidateCheckMode(c.CheckMode); err != nil {
					err = d.Err(err.Error())
				}
			}
		case "max_staleness":
			err = gateway.DurationArg(d, (*caddy.Duration)(&c.MaxStaleness))
		case "fail_timeout":
			err = gateway.DurationArg(d, (*caddy.Duration)(&c.FailTimeout))
		case "min_replicas":
			err = gateway.IntArg(d, &c.MinReplicas)
		case "replica_timeout":
			err = gateway.DurationArg(d, (*caddy.Duration)(&c.ReplicaTimeout))
		case "dial_timeout":
			err = gateway.DurationArg(d, (*caddy.Duration)(&c.DialTimeout))
		case "read_timeout":
			err = gateway.DurationArg(d, (*caddy.Duration)(&c.ReadTimeout))
		case "write_timeout":
			err = gateway.DurationArg(d, (*caddy.Duration)(&c.WriteTimeout))
		case "tls":
			c.TLS = &redisstore.RedisTLS{}
			if d.NextArg() {
				return d.ArgErr()
			}
			for n2 := d.Nesting(); d.NextBlock(n2); {
				switch d.Val() {
				case "server_name":
					err = gateway.OneArg(d, &c.TLS.ServerName)
				case "ca_file":
					err = gateway.OneArg(d, &c.TLS.CAFile)
				case "insecure_skip_verify":
					c.TLS.InsecureSkipVerify = true
				case "cert_file":
					err = gateway.OneArg(d, &c.TLS.CertFile)
				case "key_file":
					err = gateway.OneArg(d, &c.TLS.KeyFile)
				case "min_version":
					err = gateway.OneArg(d, &c.TLS.MinVersion)
				default:
					err = gateway.UnknownName(d, "redis tls", "option", d.Val(), gateway.RedisTLSOptions)
				}
				if err != nil {
					return err
				}
			}
		default:
			err = gateway.UnknownName(d, "redis", "option", d.Val(), gateway.RedisOptions)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)

// handlerSubdirectives are the names a token_revocation block takes: the
// route types, then the settings.
func handlerSubdirectives() []string {
	return append(route.RouteTypes(), gateway.HandlerSettings...)
}
