package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPIPrefix is the path under Caddy's admin endpoint where AdminAPI
// serves.
const AdminAPIPrefix = "/token-revocation/"

// AdminAPI is the admin.api.token_revocation module: it serves the
// token_revocation handlers' operator endpoints on Caddy's admin endpoint,
// under /token-revocation/. It is registered with the handler, so every
// Caddy that can run the handler serves it; it has no configuration.
//
// Endpoints (JSON in, JSON out; errors are Caddy API errors, {"error": ...}):
//
//	POST /token-revocation/revoke     revoke a token, jti, session, user, client or bound key (AdminRequest)
//	POST /token-revocation/unrevoke   undo a revocation (AdminRequest; key also accepted)
//	POST /token-revocation/check      is it revoked? (AdminRequest; a token is checked as a request would be)
//	GET  /token-revocation/entries    list live entries: ?limit=<n>&cursor=<next_cursor>
//	GET  /token-revocation/status     the handlers and the health of their stores
//
// Every endpoint accepts ?handler=<name> to pick one handler (Handler.Name)
// when the running config has several token_revocation handlers that
// differ; with only one (or several identical ones) it may be left out.
//
// The admin module is built apart from the HTTP app, so it finds the
// provisioned handlers in a package-level registry that Handler.Provision
// fills and Handler.Cleanup empties.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.token_revocation",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin API's routes: everything under AdminAPIPrefix.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: AdminAPIPrefix, Handler: caddy.AdminHandlerFunc(serveAdmin)}}
}

// adminEndpoint is one endpoint of the admin API, served by a method of
// adminCall in its own file (admin_<name>.go).
type adminEndpoint struct {
	method string
	serve  func(a *adminCall) (any, error)
}

var adminEndpoints = map[string]adminEndpoint{
	"revoke":   {http.MethodPost, (*adminCall).revoke},
	"unrevoke": {http.MethodPost, (*adminCall).unrevoke},
	"check":    {http.MethodPost, (*adminCall).check},
	"entries":  {http.MethodGet, (*adminCall).entries},
	"status":   {http.MethodGet, (*adminCall).status},
	"ready":    {http.MethodGet, (*adminCall).ready}, // ready.go
}

// serveAdmin dispatches a request under AdminAPIPrefix.
func serveAdmin(w http.ResponseWriter, r *http.Request) error {
	name := strings.Trim(strings.TrimPrefix(r.URL.Path, AdminAPIPrefix), "/")
	ep, ok := adminEndpoints[name]
	if !ok {
		return apiError(http.StatusNotFound, "no endpoint %s%s: the endpoints are %s", AdminAPIPrefix, name, adminEndpointNames())
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		return apiError(http.StatusMethodNotAllowed, "method %s not allowed on %s%s: use %s", r.Method, AdminAPIPrefix, name, ep.method)
	}
	a := &adminCall{w: w, r: r, name: name}
	out, err := ep.serve(a)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func adminEndpointNames() string {
	var out []string
	for n, ep := range adminEndpoints {
		out = append(out, ep.method+" "+AdminAPIPrefix+n)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// Interface guards.
var (
	_ caddy.Module      = AdminAPI{}
	_ caddy.AdminRouter = AdminAPI{}
)
