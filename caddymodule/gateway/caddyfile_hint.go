package gateway

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The names each block of the Caddyfile grammar takes, for the error an
// unknown one gets (unknownName). TestGrammarNamesAreAccepted holds each
// list equal to the names UnmarshalCaddyfile's godoc writes at that level,
// and checks the parser takes every one.
var (
	HandlerSettings = []string{
		"store", "profile", "jwt", "clients", "rate_limit", "max_entries", "max_owner_records", "quota", "exempt_addresses", "introspection", "ssf",
		"schemes", "query_param", "form_field", "cookie", "header", "allow_upgrade",
		"namespace", "namespace_default", "namespace_fold_case", "max_token_size", "max_body_size",
		"body_timeout", "max_upstream_answer", "default_ttl", "max_token_lifetime", "clock_skew",
		"fail", "retry_after", "hmac_key", "name", "live_connections",
	}
	RouteOptions = []string{
		"mode", "namespace", "client_auth", "verified_only", "case_insensitive", "revoke_refused",
		"redirect", "cookie_path", "cookie_domain", "issuer", "realm_wide",
		"email_is_sub",
	}
	StoreKinds   = []string{"embedded", "redis"}
	RedisOptions = []string{
		"address", "master_name", "cluster", "username", "password", "sentinel_username",
		"sentinel_password", "db", "tls", "dial_timeout", "read_timeout", "write_timeout",
		"pool_size", "key_prefix", "partitions", "layout", "capacity", "eviction_policy",
		"check_mode", "max_staleness", "min_replicas", "replica_timeout", "fail_timeout",
	}
	RedisTLSOptions = []string{"server_name", "ca_file", "insecure_skip_verify", "cert_file", "key_file", "min_version"}
	JWTOptions      = []string{
		"jwks_url", "audience", "public_key_file", "public_key", "hmac_secret", "algorithms",
		"clock_skew", "jwks_refresh", "jwks_min_refresh", "jwks_timeout", "discovery", "ca_file",
		"status_list",
	}
	statusListOptions = []string{
		"allow_hosts", "max_stale", "first_fetch_wait", "fetch_timeout", "max_size",
		"refresh_min", "refresh_max", "max_lists",
	}
	SSFOptions = []string{
		"delivery", "push_path", "push_url", "push_authorization", "push_max_age", "bearer_token",
		"client_credentials", "audience", "token_issuers", "email_is_sub", "events", "max_events",
		"return_immediately", "poll_timeout", "verify", "ca_file", "namespace",
	}
	RateLimitOptions       = []string{"client", "address", "max_keys"}
	quotaOptions           = []string{"anonymous", "address", "client", "max_keys"}
	introspectionOptions   = []string{"client_id", "client_secret", "timeout"}
	LiveConnectionsOptions = []string{"close_on_expiry", "frame_wait", "first_messages"}
	firstMessagesOptions   = []string{"messages", "size", "wait"}
)

// broughtFromElsewhere are names users bring from other software, and the
// name this grammar has for them. They are refused, with a pointer, rather
// than accepted as aliases: one spelling per setting in every config.
var broughtFromElsewhere = map[string]struct{ name, from string }{
	"jwks_uri":        {"jwks_url", "the OpenID discovery document's name for it"},
	"jwk_url":         {"jwks_url", "caddy-jwt's name for it"},
	"jwk_set_uri":     {"jwks_url", "Spring Security's name for it"},
	"jwks_endpoint":   {"jwks_url", ""},
	"addr":            {"address", "go-redis's name for it"},
	"addrs":           {"address", "go-redis's name for it"},
	"master":          {"master_name", ""},
	"sentinel_master": {"master_name", ""},
	"secret":          {"hmac_secret", ""},
}

// UnknownName is the error for name, a what ("option", "subdirective",
// "store", "API") that the block where ("redis", "jwt https://idp.example";
// "" for the handler's own block) does not take: it says the closest name
// of valid ("did you mean address?"), or the one a name brought from other
// software stands for, and lists valid.
func UnknownName(d *caddyfile.Dispenser, where, what, name string, valid []string) error {
	var b strings.Builder
	b.WriteString("token_revocation: ")
	if where != "" {
		b.WriteString(where + ": ")
	}
	fmt.Fprintf(&b, "unknown %s %q", what, name)
	if s := Suggest(name, valid); s != "" {
		fmt.Fprintf(&b, ": did you mean %s?", s)
		if o, ok := broughtFromElsewhere[name]; ok && o.name == s && o.from != "" {
			fmt.Fprintf(&b, " (%s is %s; here it is %s)", name, o.from, s)
		}
	}
	fmt.Fprintf(&b, " (valid: %s)", strings.Join(valid, ", "))
	return d.Err(b.String())
}

// Suggest returns the name of valid that name most likely means, or "".
func Suggest(name string, valid []string) string {
	if o, ok := broughtFromElsewhere[name]; ok && slices.Contains(valid, o.name) {
		return o.name
	}
	lower := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	best, bestDist := "", 0
	for _, v := range valid {
		if v == lower {
			return v // wrong case, or a dash for an underscore
		}
		dist := editDistance(lower, v)
		if best == "" || dist < bestDist {
			best, bestDist = v, dist
		}
	}
	// Close enough to be a typo: at most a third of the name's letters
	// (two for short names) differ. Else a name that starts the other or
	// the other way round (check: check_mode), else one that holds it
	// (prefix: key_prefix; per_client: client).
	if best != "" && bestDist <= max(2, len(lower)/3) {
		return best
	}
	if len(lower) < 3 {
		return ""
	}
	for _, v := range valid {
		if strings.HasPrefix(v, lower) || strings.HasPrefix(lower, v) {
			return v
		}
	}
	for _, v := range valid {
		if len(v) >= 4 && (strings.Contains(v, lower) || strings.Contains(lower, v)) {
			return v
		}
	}
	return ""
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance of a and b: insertions, deletions, substitutions and swaps of
// two neighbouring letters.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
