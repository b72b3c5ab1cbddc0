package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// PathSegmentPlaceholder is the prefix of the placeholders of path
// segments, `{http.request.uri.path.N}`.
const PathSegmentPlaceholder = "http.request.uri.path."

// headerPlaceholder is the prefix of the placeholders of request
// headers, `{http.request.header.Name}`.
const headerPlaceholder = "http.request.header."

// expandNamespace evaluates the namespace template ns for r. Three things
// differ from a plain placeholder replacement, so that a namespace cannot
// be dodged by spelling a request another way:
//
//   - {http.request.uri.path.N} is segment N of the cleaned path, as route
//     paths are matched ("//acct/x" and "/./acct/x" are in acct's
//     namespace, not in "");
//   - {http.request.header.Name} is the header's one value: a request
//     with two different values is ambiguous (upstreams bind the first or
//     the last) and is refused with 400, where Caddy's placeholder would
//     join them into a namespace of their own;
//   - a placeholder that is empty in r takes its value from
//     NamespaceDefaults when it has one there (no tenant header is the
//     default tenant, as the API sees it).
//
// With NamespaceFoldCase, the namespace is lower-cased, for an API that
// compares tenants and accounts without regard to case.
func (h *Runtime) expandNamespace(r *http.Request, repl *caddy.Replacer, ns string) (string, error) {
	var segs []string
	var ambiguous string
	out, _ := repl.ReplaceFunc(ns, func(key string, val any) (any, error) {
		if idx, ok := strings.CutPrefix(key, PathSegmentPlaceholder); ok {
			if i, err := strconv.Atoi(idx); err == nil && i >= 0 {
				if segs == nil {
					segs = route.SplitClean(r.URL.Path)
				}
				val = ""
				if i < len(segs) {
					val = route.WithoutMatrix(segs[i])
				}
			}
		}
		if name, ok := strings.CutPrefix(key, headerPlaceholder); ok {
			v, one := oneHeaderValue(r.Header.Values(name), h.NamespaceFoldCase)
			if !one {
				ambiguous = name
			}
			val = v
		}
		if caddy.ToString(val) == "" {
			if d, ok := h.NamespaceDefaults[key]; ok {
				return d, nil
			}
		}
		return val, nil
	})
	if ambiguous != "" {
		return "", &route.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the " + ambiguous + " header is given more than once, with different values"}
	}
	if h.NamespaceFoldCase {
		out = strings.ToLower(out)
	}
	return out, nil
}

// oneHeaderValue returns the value of a header given as values (trimmed;
// the same value repeated is one value). one is false when it has two
// different values (compared without regard to case with foldCase).
func oneHeaderValue(values []string, foldCase bool) (v string, one bool) {
	for i, x := range values {
		x = strings.TrimSpace(x)
		switch {
		case i == 0:
			v = x
		case x != v && !(foldCase && strings.EqualFold(x, v)):
			return "", false
		}
	}
	return v, true
}

// UnmarshalNamespaceDefault parses `namespace_default <placeholder> <value>`.
func UnmarshalNamespaceDefault(dst *map[string]string, d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Err("token_revocation: namespace_default: want <placeholder> <value>, e.g. namespace_default {http.request.header.tenant} main")
	}
	key := strings.TrimSuffix(strings.TrimPrefix(args[0], "{"), "}")
	if key == "" || strings.ContainsAny(key, "{} ") {
		return d.Errf("token_revocation: namespace_default: %q is not a placeholder: write it as {http.request.header.tenant}", args[0])
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	defaults := *dst
	if old, ok := defaults[key]; ok && old != args[1] {
		return d.Errf("token_revocation: namespace_default {%s} given twice (%q and %q)", key, old, args[1])
	}
	defaults[key] = args[1]
	return nil
}

// Namespace evaluates the namespace for r: the route's own, if set, else
// the handler's. A request whose namespace is ambiguous (two different
// values of a header it is made of) is an *oauthError (400).
func (h *Runtime) Namespace(r *http.Request, routeNS string) (string, error) {
	ns := h.NamespaceTemplate
	if routeNS != "" {
		ns = routeNS
	}
	if !strings.Contains(ns, "{") {
		return ns, nil
	}
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ns, nil
	}
	return h.expandNamespace(r, repl, ns)
}
