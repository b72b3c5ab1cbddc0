package caddymodule

import (
	"slices"
	"strings"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/profile"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseErr parses body (a token_revocation block) and returns its error.
func parseErr(t *testing.T, body string) error {
	t.Helper()
	return new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(body))
}

// parseErrSaying parses body, which must fail with an error saying each
// of want, and returns the error.
func parseErrSaying(t *testing.T, body string, want ...string) error {
	t.Helper()
	err := parseErr(t, body)
	if err == nil {
		t.Fatal("parsed")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not say %q", err, w)
		}
	}
	return err
}

// TestUnknownNamesSayWhatWasMeant: an unknown name at every level of the
// grammar gets the name it most likely means and the valid ones; names
// brought from elsewhere point at this grammar's. On 5278a12 each of these
// was a bare `unknown option "..."` (or subdirective, store, API).
func TestUnknownNamesSayWhatWasMeant(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"subdirective", "token_revocation {\n\trevok /oauth/revoke\n}",
			[]string{`unknown subdirective "revok": did you mean revoke?`, "valid: backchannel_logout, browser_logout,", "store, profile, jwt, clients"}},
		{"setting", "token_revocation {\n\tmax_entry 10\n}",
			[]string{`did you mean max_entries?`}},
		{"route option", "token_revocation {\n\trevoke /oauth/revoke {\n\t\tmod forward\n\t}\n}",
			[]string{`revoke /oauth/revoke: unknown option "mod": did you mean mode?`, "valid: mode, namespace,"}},
		{"store kind", "token_revocation {\n\tstore reddis\n}",
			[]string{`store: unknown store "reddis": did you mean redis?`, "valid: embedded, redis"}},
		{"redis", "token_revocation {\n\tstore redis {\n\t\tadress 127.0.0.1:6379\n\t}\n}",
			[]string{`redis: unknown option "adress": did you mean address?`, "valid: address, master_name, cluster,"}},
		{"redis from go-redis", "token_revocation {\n\tstore redis {\n\t\taddr 127.0.0.1:6379\n\t}\n}",
			[]string{`did you mean address? (addr is go-redis's name for it; here it is address)`}},
		{"redis tls", "token_revocation {\n\tstore redis {\n\t\ttls {\n\t\t\tca-file /ca.pem\n\t\t}\n\t}\n}",
			[]string{`redis tls: unknown option "ca-file": did you mean ca_file?`, "valid: server_name, ca_file,"}},
		{"jwt", "token_revocation {\n\tjwt https://idp.example {\n\t\taudeince api\n\t}\n}",
			[]string{`jwt https://idp.example: unknown option "audeince": did you mean audience?`, "valid: jwks_url, audience,"}},
		{"jwt jwks_uri", "token_revocation {\n\tjwt https://idp.example {\n\t\tjwks_uri https://idp.example/certs\n\t}\n}",
			[]string{`did you mean jwks_url? (jwks_uri is the OpenID discovery document's name for it; here it is jwks_url)`}},
		{"jwt jwk_url", "token_revocation {\n\tjwt https://idp.example {\n\t\tjwk_url https://idp.example/certs\n\t}\n}",
			[]string{`did you mean jwks_url? (jwk_url is caddy-jwt's name for it; here it is jwks_url)`}},
		{"rate_limit", "token_revocation {\n\trate_limit {\n\t\tper_client 5/1s\n\t}\n}",
			[]string{`rate_limit: unknown option "per_client": did you mean client?`, "valid: client, address, max_keys"}},
		{"live_connections", "token_revocation {\n\tlive_connections {\n\t\tframe_wiat 2s\n\t}\n}",
			[]string{`did you mean frame_wait?`, "valid: close_on_expiry, frame_wait"}},
		{"profile API", "token_revocation {\n\tprofile keycloack\n}",
			[]string{`profile: unknown API "keycloack": did you mean keycloak?`, "valid: keycloak, meshydb, usergrid"}},
		{"profile option", "token_revocation {\n\tprofile meshydb {\n\t\ttenant tenant-id\n\t}\n}",
			[]string{`profile meshydb: unknown option "tenant": did you mean tenant_header?`, "valid: mode, default_tenant, tenant_header"}},
		{"no likely name", "token_revocation {\n\tstore redis {\n\t\tzzzzzz 1\n\t}\n}",
			[]string{`redis: unknown option "zzzzzz" (valid: address,`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := parseErrSaying(t, c.body, c.want...)
			if !strings.HasPrefix(err.Error(), "token_revocation: ") {
				t.Errorf("error %q does not start with token_revocation:", err)
			}
		})
	}
}

// TestOneLineFormsSayWhatToType: `store redis <addr>` and `clients <id>
// <secret>` written on one line get what to type instead; on 5278a12,
// Caddy's "wrong argument count or unexpected line ending".
func TestOneLineFormsSayWhatToType(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
		notSaid    string
	}{
		{"store redis", "token_revocation {\n\tstore redis 10.0.0.5:6379\n}",
			[]string{"store redis 10.0.0.5:6379: the address goes in a block", "store redis {, then address 10.0.0.5:6379, then }"}, ""},
		{"clients", "token_revocation {\n\tclients app s3cret-value\n}",
			[]string{"clients app: the clients go in a block", "clients {, then app <secret>, then }"}, "s3cret-value"},
		{"clients line", "token_revocation {\n\tclients {\n\t\tapp s3cret value\n\t}\n}",
			[]string{"clients: app: one secret per client", "in quotes"}, "s3cret"},
		{"jwt", "token_revocation {\n\tjwt https://idp.example https://idp.example/certs\n}",
			[]string{"jwt https://idp.example https://idp.example/certs: one issuer per jwt block", "jwt https://idp.example {, then jwks_url <url>"}, ""},
		{"rate_limit", "token_revocation {\n\trate_limit client 5/1s\n}",
			[]string{"rate_limit client: want off, or a block", "rate_limit {, then client 50/1s 100"}, ""},
		{"store alone", "token_revocation {\n\tstore\n}",
			[]string{"store redis {, then address <host:port> on the next line, then }"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := parseErrSaying(t, c.body, c.want...)
			if strings.Contains(err.Error(), "wrong argument count") {
				t.Errorf("error %q is Caddy's generic one", err)
			}
			if c.notSaid != "" && strings.Contains(err.Error(), c.notSaid) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

// blockNames returns the names the godoc grammar writes directly inside
// the blocks opened by the lines starting with one of headers.
func blockNames(lines []string, headers ...string) []string {
	indent := func(l string) int { return (len(l) - len(strings.TrimLeft(l, " "))) / 4 }
	var out []string
	for i, l := range lines {
		h := strings.TrimSpace(l)
		if !slices.ContainsFunc(headers, func(p string) bool { return strings.HasPrefix(h, p) }) {
			continue
		}
		for _, c := range lines[i+1:] {
			if strings.TrimSpace(c) == "" {
				continue
			}
			if indent(c) <= indent(l) {
				break
			}
			f := strings.Fields(c)[0]
			if indent(c) == indent(l)+1 && !strings.HasPrefix(f, "#") && !strings.HasPrefix(f, "}") && !strings.HasPrefix(f, "<") && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// TestGrammarNamesAreAccepted holds the lists an unknown name's error
// shows equal to the names the godoc grammar (and so the README) writes at
// each level, and checks the parser takes every one of them.
func TestGrammarNamesAreAccepted(t *testing.T) {
	g := godocGrammar(t)
	wrap := func(inner string) func(string) string {
		return func(name string) string { return strings.ReplaceAll(inner, "NAME", name) }
	}
	for _, c := range []struct {
		level   string
		headers []string
		list    []string
		body    func(name string) string
	}{
		{"handler", []string{"token_revocation [<matcher>] {"}, handlerSubdirectives(), wrap("token_revocation {\n\tNAME\n}")},
		{"route", []string{"revoke <path>", "logout <path>", "browser_logout <path>", "keycloak_admin <path>", "global_token_revocation <path>"}, gateway.RouteOptions,
			wrap("token_revocation {\n\trevoke /r {\n\t\tNAME\n\t}\n}")},
		{"redis", []string{"store redis {"}, gateway.RedisOptions, wrap("token_revocation {\n\tstore redis {\n\t\tNAME\n\t}\n}")},
		{"redis tls", []string{"tls [{"}, gateway.RedisTLSOptions, wrap("token_revocation {\n\tstore redis {\n\t\ttls {\n\t\t\tNAME\n\t\t}\n\t}\n}")},
		{"jwt", []string{"jwt <issuer> {"}, gateway.JWTOptions, wrap("token_revocation {\n\tjwt https://idp.example {\n\t\tNAME\n\t}\n}")},
		{"ssf", []string{"ssf <transmitter-issuer> {"}, gateway.SSFOptions, wrap("token_revocation {\n\tssf https://tx.example {\n\t\tNAME\n\t}\n}")},
		{"rate_limit", []string{"rate_limit {"}, gateway.RateLimitOptions, wrap("token_revocation {\n\trate_limit {\n\t\tNAME\n\t}\n}")},
		{"live_connections", []string{"live_connections [{"}, gateway.LiveConnectionsOptions, wrap("token_revocation {\n\tlive_connections {\n\t\tNAME\n\t}\n}")},
		{"profile meshydb", []string{"profile meshydb"}, profile.Profiles["meshydb"].OptionNames(), wrap("token_revocation {\n\tprofile meshydb {\n\t\tNAME\n\t}\n}")},
	} {
		t.Run(c.level, func(t *testing.T) {
			documented := blockNames(g, c.headers...)
			if len(documented) == 0 {
				t.Fatalf("no names found under %q in the godoc grammar", c.headers)
			}
			a, b := slices.Sorted(slices.Values(documented)), slices.Sorted(slices.Values(c.list))
			if !slices.Equal(a, b) {
				t.Errorf("the godoc grammar writes %v\nthe error lists %v", a, b)
			}
			for _, name := range c.list {
				if err := parseErr(t, c.body(name)); err != nil && strings.Contains(err.Error(), "unknown") {
					t.Errorf("%s is listed but refused: %v", name, err)
				}
			}
		})
	}
	if err := parseErr(t, "token_revocation {\n\tstore embedded\n}"); err != nil {
		t.Errorf("store embedded: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	valid := []string{"address", "master_name", "cluster", "key_prefix", "check_mode"}
	for got, want := range map[string]string{
		"adress": "address", "Address": "address", "master-name": "master_name", "clsuter": "cluster",
		"prefix": "key_prefix", "addr": "address", "check": "check_mode", "zzz": "", "db": "",
	} {
		if s := gateway.Suggest(got, valid); s != want {
			t.Errorf("suggest(%q) = %q, want %q", got, s, want)
		}
	}
}
