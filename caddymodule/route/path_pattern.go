package route

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// pathPattern matches request paths against a template such as
// "/realms/{realm}/protocol/openid-connect/logout": literal segments match
// exactly (or but for ASCII case, with foldCase), "{name}" matches one
// segment and captures it, and a final "*" matches the rest. A segment's
// matrix parameters (";x=y", which JAX-RS, Tomcat and Jetty ignore when
// they route) are ignored, so "/logout;x=y" is the route "/logout" as the
// upstream sees it.
type pathPattern struct {
	Raw      string
	segments []string
	foldCase bool
}

// ParsePathPattern parses a route's path, with {placeholder} segments and
// a trailing * (foldCase: matched without regard to case).
func ParsePathPattern(p string, foldCase bool) (*pathPattern, error) {
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
		case strings.Contains(s, ";"):
			return nil, fmt.Errorf("path %q: segment %q: ';' starts matrix parameters, which are ignored when matching: leave them out", p, s)
		}
	}
	return &pathPattern{Raw: p, segments: segs, foldCase: foldCase}, nil
}

func (p *pathPattern) String() string { return p.Raw }

// PathMatch is a request path that matched a pattern.
type PathMatch struct {
	// Vars are the captured segments.
	Vars map[string]string
	// segs are the segments of path, unescaped.
	segs []string
	// Path is the path that matched, as the pattern spells it: cleaned,
	// without matrix parameters, placeholders filled in with what they
	// captured. A forwarded route call goes upstream with this path, so
	// that the upstream serves the route the gateway matched, not another
	// Path that a spelling the gateway cleaned would reach ("/a/../x").
	Path string
}

// Match reports whether the request path matches. A revocation route must
// not be dodged by spelling its path another way: the path is matched both
// as decoded and cleaned (so "//", "/./", "..", a trailing slash and "%2F"
// between segments all still match) and segment by segment as escaped (so
// "%2F" inside one segment is one segment, as an upstream that splits
// before decoding sees it). It allocates nothing for a path that does not
// Match.
func (p *pathPattern) Match(r *http.Request) (*PathMatch, bool) {
	var buf [16]string // every request is matched: split without allocating
	segs := AppendSplitClean(buf[:0], r.URL.Path)
	if p.matchSegments(segs) {
		return p.matched(segs), true
	}
	if raw := r.URL.EscapedPath(); raw != r.URL.Path {
		segs := SplitClean(raw)
		for i, s := range segs {
			s = WithoutMatrix(s)
			if u, err := url.PathUnescape(s); err == nil {
				segs[i] = u
			}
		}
		if p.matchSegments(segs) {
			return p.matched(segs), true
		}
	}
	return nil, false
}

// WithoutMatrix returns a path segment without its matrix parameters.
func WithoutMatrix(seg string) string {
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		return seg[:i]
	}
	return seg
}

// SplitClean is the segments of p once cleaned (path.Clean).
func SplitClean(p string) []string {
	return strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
}

// AppendSplitClean appends splitClean(p) to dst. With enough room in dst
// and an already clean path starting with "/" (as most are), it allocates
// nothing.
func AppendSplitClean(dst []string, p string) []string {
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

func (p *pathPattern) matchSegments(segs []string) bool {
	for i, want := range p.segments {
		if want == "*" {
			return true
		}
		if i >= len(segs) {
			return false
		}
		seg := WithoutMatrix(segs[i])
		if strings.HasPrefix(want, "{") {
			if seg == "" {
				return false
			}
			continue
		}
		if seg != want && !(p.foldCase && strings.EqualFold(seg, want)) {
			return false
		}
	}
	return len(segs) == len(p.segments)
}

// matched builds the pathMatch of segs, which match p.
func (p *pathPattern) matched(segs []string) *PathMatch {
	m := &PathMatch{segs: make([]string, len(segs))}
	for i, seg := range segs {
		seg = WithoutMatrix(seg)
		if i < len(p.segments) && p.segments[i] != "*" {
			if want := p.segments[i]; !strings.HasPrefix(want, "{") {
				seg = want
			} else {
				if m.Vars == nil {
					m.Vars = make(map[string]string, 2)
				}
				m.Vars[want[1:len(want)-1]] = seg
			}
		}
		m.segs[i] = seg
	}
	m.Path = "/" + strings.Join(m.segs, "/")
	return m
}

// SetPath makes r's URL path m's path, escaped segment by segment (a
// captured segment may hold a '/').
func (m *PathMatch) SetPath(r *http.Request) {
	esc := make([]string, len(m.segs))
	for i, s := range m.segs {
		esc[i] = url.PathEscape(s)
	}
	u := *r.URL
	u.Path, u.RawPath = m.Path, "/"+strings.Join(esc, "/")
	if u.RawPath == u.Path {
		u.RawPath = ""
	}
	r.URL = &u
	r.RequestURI = u.RequestURI()
}
