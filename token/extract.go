package token

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// ErrTooLarge is returned when a presented token is longer than the limit.
var ErrTooLarge = errors.New("token too large")

// ErrBodyTooLarge is returned when a form body is larger than the limit.
var ErrBodyTooLarge = errors.New("request body too large")

// Sources says where a request may carry a bearer token: every channel the
// upstream accepts must be checked, or a revoked token slips through another.
type Sources struct {
	// Schemes are the Authorization schemes whose credential is a token,
	// compared case-insensitively (e.g. "Bearer", "DPoP").
	Schemes []string
	// QueryParam is the query parameter that carries a token ("" for none).
	QueryParam string
	// FormField is the form-encoded body field that carries a token
	// ("" for none), read only from application/x-www-form-urlencoded bodies.
	FormField string
	// Cookies are cookie names whose value is a token.
	Cookies []string
	// Headers are header names whose whole value is a token.
	Headers []string
	// MaxTokenSize is the longest token accepted, in bytes (0: no limit).
	MaxTokenSize int
	// MaxBodySize bounds how much of a form body is read (0: no limit).
	MaxBodySize int64
}

// Found is one token found in a request and where it was found.
type Found struct {
	Raw    string
	Source string // "header", "query", "form", "cookie" or "header:<name>"
}

// Extract appends every token in r to dst. A form body it reads is put back
// so the upstream gets it unchanged. It returns ErrTooLarge for a token over
// MaxTokenSize and ErrBodyTooLarge for a form body over MaxBodySize.
func (s *Sources) Extract(r *http.Request, dst []Found) ([]Found, error) {
	var err error
	add := func(raw, source string) {
		if raw == "" {
			return
		}
		if s.MaxTokenSize > 0 && len(raw) > s.MaxTokenSize {
			err = ErrTooLarge
			return
		}
		dst = append(dst, Found{Raw: raw, Source: source})
	}
	for _, v := range r.Header.Values("Authorization") {
		// A header may join several credentials with commas.
		for v != "" {
			var cred string
			cred, v, _ = strings.Cut(v, ",")
			if tok, ok := s.bearer(cred); ok {
				add(tok, "header")
			}
		}
	}
	if s.QueryParam != "" {
		formValues(r.URL.RawQuery, s.QueryParam, func(v string) { add(v, "query") })
	}
	for _, name := range s.Cookies {
		for _, c := range r.CookiesNamed(name) {
			add(c.Value, "cookie")
		}
	}
	for _, name := range s.Headers {
		for _, v := range r.Header.Values(name) {
			add(strings.TrimSpace(v), "header:"+name)
		}
	}
	if s.FormField != "" && IsForm(r) {
		// Pairs are read one by one, as lenient upstreams do: a body that is
		// not all well-formed (JSON sent as a form, a stray %) is passed on
		// with its well-formed pairs checked, not refused.
		body, ferr := ReadBody(r, s.MaxBodySize)
		if ferr != nil {
			return dst, ferr
		}
		formValues(string(body), s.FormField, func(v string) { add(v, "form") })
	}
	return dst, err
}

// formValues calls fn with every value of name in a URL-encoded query or
// form body.
func formValues(encoded, name string, fn func(string)) {
	for encoded != "" {
		var pair string
		pair, encoded, _ = strings.Cut(encoded, "&")
		if v, ok := queryValue(pair, name); ok {
			fn(v)
		}
	}
}

// queryValue returns the value of one "key=value" pair of a raw query when
// its key is name, decoded exactly as url.ParseQuery decodes it (a pair with
// a semicolon or a malformed escape is skipped), without building the map
// r.URL.Query() would: the check runs on every request. Unlike
// url.ParseQuery it has no limit on the number of pairs, so a query padded
// past that limit cannot hide a token the upstream may still read.
func queryValue(pair, name string) (string, bool) {
	if pair == "" || strings.Contains(pair, ";") {
		return "", false
	}
	key, value, _ := strings.Cut(pair, "=")
	key, err := url.QueryUnescape(key) // no allocation unless escaped
	if err != nil || key != name {
		return "", false
	}
	value, err = url.QueryUnescape(value)
	return value, err == nil
}

// bearer returns the credential of an Authorization value whose scheme is
// one of s.Schemes. The scheme ends at the first space or tab: RFC 7235
// has a space there, but upstreams that split on any whitespace accept a
// tab too, and a revoked token sent that way must not pass unchecked.
func (s *Sources) bearer(v string) (string, bool) {
	v = strings.TrimSpace(v)
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		return "", false
	}
	scheme, cred := v[:i], v[i+1:]
	for _, want := range s.Schemes {
		if strings.EqualFold(scheme, want) {
			return strings.TrimSpace(cred), true
		}
	}
	return "", false
}

// IsForm reports whether r has an application/x-www-form-urlencoded body.
// A Content-Type whose parameters Go's mime parser refuses ("...; charset")
// still counts when the text before ";" names the form type: servers that
// compare only that text read such a body as a form, so its tokens must be
// checked.
func IsForm(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt == "application/x-www-form-urlencoded"
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// ReadBody reads r's body up to limit bytes (0: no limit) and puts it back,
// so that whoever handles r next reads it unchanged.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var body io.Reader = r.Body
	if limit > 0 {
		body = io.LimitReader(r.Body, limit+1)
	}
	b, err := io.ReadAll(body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if limit > 0 && int64(len(b)) > limit {
		return nil, ErrBodyTooLarge
	}
	r.ContentLength = int64(len(b))
	return b, nil
}

// ReadForm reads and parses r's form body (see ReadBody), leaving the body in
// place for the upstream.
func ReadForm(r *http.Request, limit int64) (url.Values, error) {
	b, err := ReadBody(r, limit)
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(b))
}
