package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// pathPattern matches request paths against a template such as
// "/realms/{realm}/protocol/openid-connect/logout": literal segments match
// exactly, "{name}" matches one segment and captures it, and a final "*"
// matches the rest.
type pathPattern struct {
	raw      string
	segments []string
}

func parsePathPattern(p string) (*pathPattern, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q must start with /", p)
	}
	segs := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	for i, s := range segs {
		switch {
		case s == "*" && i != len(segs)-1:
			return nil, fmt.Errorf("path %q: * may only be the last segment", p)
		case strings.HasPrefix(s, "{") != strings.HasSuffix(s, "}"):
			return nil, fmt.Errorf("path %q: segment %q: a placeholder is a whole segment, {name}", p, s)
		case s == "{}":
			return nil, fmt.Errorf("path %q: placeholder without a name", p)
		}
	}
	return &pathPattern{raw: p, segments: segs}, nil
}

func (p *pathPattern) String() string { return p.raw }

// match reports whether the request path matches, and the captured
// segments. A revocation route must not be dodged by spelling its path
// another way: the path is matched both as decoded and cleaned (so "//",
// "/./", "..", a trailing slash and "%2F" between segments all still
// match) and segment by segment as escaped (so "%2F" inside one segment is
// one segment, as an upstream that splits before decoding sees it).
func (p *pathPattern) match(r *http.Request) (map[string]string, bool) {
	var buf [16]string // every request is matched: split without allocating
	if vars, ok := p.matchSegments(appendSplitClean(buf[:0], r.URL.Path)); ok {
		return vars, true
	}
	if raw := r.URL.EscapedPath(); raw != r.URL.Path {
		segs := splitClean(raw)
		for i, s := range segs {
			if u, err := url.PathUnescape(s); err == nil {
				segs[i] = u
			}
		}
		return p.matchSegments(segs)
	}
	return nil, false
}

func splitClean(p string) []string {
	return strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
}

// appendSplitClean appends splitClean(p) to dst. With enough room in dst
// and an already clean path starting with "/" (as most are), it allocates
// nothing.
func appendSplitClean(dst []string, p string) []string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	p = strings.Trim(path.Clean(p), "/")
	for {
		seg, rest, more := strings.Cut(p, "/")
		dst = append(dst, seg)
		if !more {
			return dst
		}
		p = rest
	}
}

func (p *pathPattern) matchSegments(segs []string) (map[string]string, bool) {
	var vars map[string]string
	for i, want := range p.segments {
		if want == "*" {
			return vars, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if strings.HasPrefix(want, "{") {
			if segs[i] == "" {
				return nil, false
			}
			if vars == nil {
				vars = make(map[string]string, 2)
			}
			vars[want[1:len(want)-1]] = segs[i]
			continue
		}
		if segs[i] != want {
			return nil, false
		}
	}
	return vars, len(segs) == len(p.segments)
}
