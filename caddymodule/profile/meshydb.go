package profile

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// MeshyDB.
//
// MeshyDB signs a user out with RFC 7009 revocation of the refresh token,
// POST /{account}/connect/revocation (form token, token_type_hint,
// client_id), and scopes everything by account (the first path segment)
// and tenant (the `tenant` header; without it, the account's default
// tenant). The profile revokes claims (jti, session, user) in the
// namespace "<account>/<tenant>", lower-cased, and checks every request in
// the same one, the default tenant standing for a missing header; a
// request with two different tenant headers is refused (400). A token
// revoked by its own identity is revoked under every account and tenant:
// those come from the request, which its holder spells. Its token endpoint, /{account}/connect/token, is observed
// (oauth_token): revoking a refresh token then also revokes the access
// tokens of its grant, and the refresh token itself is refused there.

// DefaultMeshyDBTenant is the tenant the meshydb profile assumes for a
// request without a tenant header, unless default_tenant says otherwise.
const DefaultMeshyDBTenant = "default"

// profileSetting parses `<option> <value>` into the profile's settings.
func profileSetting(p *profileConfig, d *caddyfile.Dispenser) error {
	name := d.Val()
	var v string
	if err := gateway.OneArg(d, &v); err != nil {
		return err
	}
	p.Settings[name] = v
	return nil
}

// applyMeshyDB sets the namespace: account (the path segment after the
// prefix) and tenant (header, or the default tenant).
func applyMeshyDB(t Target, p *profileConfig) error {
	header := p.Settings["tenant_header"]
	if header == "" {
		header = "tenant"
	}
	if strings.ContainsAny(header, "{}: ") {
		return fmt.Errorf("tenant_header %q: want a header name", header)
	}
	tenant := p.Settings["default_tenant"]
	if tenant == "" {
		tenant = DefaultMeshyDBTenant
	}
	tenantPH := "http.request.header." + http.CanonicalHeaderKey(header)
	ns := fmt.Sprintf("{%s%d}/{%s}", gateway.PathSegmentPlaceholder, p.segments(), tenantPH)
	if *t.Namespace != "" && *t.Namespace != ns {
		return fmt.Errorf("it scopes revocations by account and tenant (namespace %s), but namespace %q is set already: remove it", ns, *t.Namespace)
	}
	*t.Namespace = ns
	// Accounts and tenants compare without regard to case, as the API's
	// routing and its tenant look-up do.
	*t.NamespaceFoldCase = true
	if *t.NamespaceDefaults == nil {
		*t.NamespaceDefaults = map[string]string{}
	}
	defaults := *t.NamespaceDefaults
	if old, ok := defaults[tenantPH]; ok && old != tenant {
		return fmt.Errorf("default tenant %q, but {%s} defaults to %q already", tenant, tenantPH, old)
	}
	defaults[tenantPH] = tenant
	return nil
}
