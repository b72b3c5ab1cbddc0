package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func parseHandler(t *testing.T, input string) (*Handler, error) {
	t.Helper()
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return h, err
}

func routeList(h *Handler) string {
	var out []string
	for _, r := range h.Routes {
		out = append(out, r.Type+" "+r.Path+" "+r.Mode)
	}
	return strings.Join(out, "\n")
}

func TestProfiles(t *testing.T) {
	tests := []struct {
		name, input string
		routes      string
		namespace   string
		defaults    map[string]string
	}{
		{
			name:  "keycloak",
			input: "token_revocation {\n profile keycloak\n}",
			routes: `keycloak_logout /realms/{realm}/protocol/openid-connect/logout forward
keycloak_revoke /realms/{realm}/protocol/openid-connect/revoke forward
keycloak_logout /auth/realms/{realm}/protocol/openid-connect/logout forward
keycloak_revoke /auth/realms/{realm}/protocol/openid-connect/revoke forward`,
		},
		{
			name:  "keycloak under /auth, respond",
			input: "token_revocation {\n profile keycloak /auth/ {\n mode respond\n }\n}",
			routes: `keycloak_logout /auth/realms/{realm}/protocol/openid-connect/logout respond
keycloak_revoke /auth/realms/{realm}/protocol/openid-connect/revoke respond`,
		},
		{
			name:  "usergrid respond: token endpoints still forward",
			input: "token_revocation {\n profile usergrid {\n mode respond\n }\n}",
			routes: `usergrid_token /management/token forward
usergrid_token /{org}/{app}/token forward
usergrid_token /{org}/{app}/users/{user}/token forward
usergrid_revoketoken /management/users/{user}/revoketoken respond
usergrid_revoketokens /management/users/{user}/revoketokens respond
usergrid_revoketoken /{org}/{app}/users/{user}/revoketoken respond
usergrid_revoketokens /{org}/{app}/users/{user}/revoketokens respond`,
		},
		{
			name:  "meshydb",
			input: "token_revocation {\n profile meshydb\n}",
			routes: `revoke /{account}/connect/revocation forward
oauth_token /{account}/connect/token forward`,
			namespace: "{http.request.uri.path.0}/{http.request.header.Tenant}",
			defaults:  map[string]string{"http.request.header.Tenant": "default"},
		},
		{
			name:  "meshydb under a prefix, with its options",
			input: "token_revocation {\n profile meshydb /meshy {\n default_tenant main\n tenant_header X-Tenant\n }\n}",
			routes: `revoke /meshy/{account}/connect/revocation forward
oauth_token /meshy/{account}/connect/token forward`,
			namespace: "{http.request.uri.path.1}/{http.request.header.X-Tenant}",
			defaults:  map[string]string{"http.request.header.X-Tenant": "main"},
		},
		{
			name:  "two profiles side by side",
			input: "token_revocation {\n profile keycloak /kc\n profile usergrid /ug\n}",
			routes: `keycloak_logout /kc/realms/{realm}/protocol/openid-connect/logout forward
keycloak_revoke /kc/realms/{realm}/protocol/openid-connect/revoke forward
usergrid_token /ug/management/token forward
usergrid_token /ug/{org}/{app}/token forward
usergrid_token /ug/{org}/{app}/users/{user}/token forward
usergrid_revoketoken /ug/management/users/{user}/revoketoken forward
usergrid_revoketokens /ug/management/users/{user}/revoketokens forward
usergrid_revoketoken /ug/{org}/{app}/users/{user}/revoketoken forward
usergrid_revoketokens /ug/{org}/{app}/users/{user}/revoketokens forward`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHandler(t, tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if got := routeList(h); got != tt.routes {
				t.Errorf("routes:\n%s\nwant:\n%s", got, tt.routes)
			}
			if h.Namespace != tt.namespace {
				t.Errorf("namespace %q, want %q", h.Namespace, tt.namespace)
			}
			for k, v := range tt.defaults {
				if h.NamespaceDefaults[k] != v {
					t.Errorf("namespace default of %s: %q, want %q", k, h.NamespaceDefaults[k], v)
				}
			}
			newTestHandler(t, h, nil) // the expanded config provisions and validates
		})
	}
}

func TestProfileErrors(t *testing.T) {
	tests := map[string]struct{ input, want string }{
		"no name":          {"token_revocation {\n profile\n}", "name the API (one of keycloak, meshydb, usergrid)"},
		"unknown":          {"token_revocation {\n profile okta\n}", `unknown API "okta" (valid: keycloak, meshydb, usergrid)`},
		"bad prefix":       {"token_revocation {\n profile keycloak auth\n}", "must start with /"},
		"placeholder":      {"token_revocation {\n profile keycloak /{x}\n}", "hold no placeholder"},
		"extra arg":        {"token_revocation {\n profile keycloak /a /b\n}", "wrong argument count"},
		"bad mode":         {"token_revocation {\n profile keycloak {\n mode both\n }\n}", `mode "both"`},
		"unknown option":   {"token_revocation {\n profile keycloak {\n default_tenant x\n }\n}", `unknown option "default_tenant"`},
		"twice":            {"token_revocation {\n profile keycloak\n profile keycloak\n}", "routed already"},
		"namespace first":  {"token_revocation {\n namespace {http.request.header.X}\n profile meshydb\n}", "remove it"},
		"namespace after":  {"token_revocation {\n profile meshydb\n namespace {http.request.header.X}\n}", "namespace given twice"},
		"meshydb header":   {"token_revocation {\n profile meshydb {\n tenant_header {x}\n }\n}", "want a header name"},
		"observer respond": {"token_revocation {\n oauth_token /token respond\n}", "works in mode forward only"},
		"default no value": {"token_revocation {\n namespace_default {http.request.header.tenant}\n}", "want <placeholder> <value>"},
		"default twice":    {"token_revocation {\n namespace_default {a} x\n namespace_default {a} y\n}", "given twice"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseHandler(t, tt.input)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
