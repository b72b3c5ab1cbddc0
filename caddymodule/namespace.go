package caddymodule

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func init() {
	handlerOptions["namespace_default"] = unmarshalNamespaceDefault
}

// pathSegmentPlaceholder is the prefix of the placeholders of path
// segments, `{http.request.uri.path.N}`.
const pathSegmentPlaceholder = "http.request.uri.path."

// expandNamespace evaluates the namespace template ns for r. Two things
// differ from a plain placeholder replacement, so that a namespace cannot
// be dodged by spelling a request another way:
//
//   - {http.request.uri.path.N} is segment N of the cleaned path, as route
//     paths are matched ("//acct/x" and "/./acct/x" are in acct's
//     namespace, not in "");
//   - a placeholder that is empty in r takes its value from
//     NamespaceDefaults when it has one there (no tenant header is the
//     default tenant, as the API sees it).
func (h *Handler) expandNamespace(r *http.Request, repl *caddy.Replacer, ns string) string {
	if len(h.NamespaceDefaults) == 0 && !strings.Contains(ns, pathSegmentPlaceholder) {
		return repl.ReplaceAll(ns, "")
	}
	var segs []string
	out, _ := repl.ReplaceFunc(ns, func(key string, val any) (any, error) {
		if idx, ok := strings.CutPrefix(key, pathSegmentPlaceholder); ok {
			if i, err := strconv.Atoi(idx); err == nil && i >= 0 {
				if segs == nil {
					segs = splitClean(r.URL.Path)
				}
				val = ""
				if i < len(segs) {
					val = segs[i]
				}
			}
		}
		if caddy.ToString(val) == "" {
			if d, ok := h.NamespaceDefaults[key]; ok {
				return d, nil
			}
		}
		return val, nil
	})
	return out
}

// unmarshalNamespaceDefault parses `namespace_default <placeholder> <value>`.
func unmarshalNamespaceDefault(h *Handler, d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Err("token_revocation: namespace_default: want <placeholder> <value>, e.g. namespace_default {http.request.header.tenant} main")
	}
	key := strings.TrimSuffix(strings.TrimPrefix(args[0], "{"), "}")
	if key == "" || strings.ContainsAny(key, "{} ") {
		return d.Errf("token_revocation: namespace_default: %q is not a placeholder: write it as {http.request.header.tenant}", args[0])
	}
	if h.NamespaceDefaults == nil {
		h.NamespaceDefaults = map[string]string{}
	}
	if old, ok := h.NamespaceDefaults[key]; ok && old != args[1] {
		return d.Errf("token_revocation: namespace_default {%s} given twice (%q and %q)", key, old, args[1])
	}
	h.NamespaceDefaults[key] = args[1]
	return nil
}
