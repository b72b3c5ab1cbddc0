package token

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrTooLarge is returned when a presented token is longer than the limit.
var ErrTooLarge = errors.New("token too large")

// ErrBodyTooLarge is returned when a body to be read whole (a form, JSON,
// text; a binary type that reads as JSON or XML: readsAsDocument) is
// larger than the limit.
var ErrBodyTooLarge = errors.New("request body too large")

// Sources says where a request may carry a bearer token: every channel the
// upstream accepts must be checked, or a revoked token slips through another.
type Sources struct {
	// Schemes are the Authorization schemes whose credential is a token,
	// compared case-insensitively (e.g. "Bearer", "DPoP").
	Schemes []string
	// QueryParam is the query parameter that carries a token ("" for none).
	QueryParam string
	// FormField is the body field that carries a token ("" for none), read
	// from form, multipart and JSON bodies (see BodyKindOf).
	FormField string
	// Cookies are cookie names whose value is a token.
	Cookies []string
	// Headers are header names whose whole value is a token.
	Headers []string
	// MaxTokenSize is the longest token accepted, in bytes (0: no limit).
	MaxTokenSize int
	// MaxBodySize bounds how much of a body is read, before and after
	// its Content-Encoding is decoded (0: no limit).
	MaxBodySize int64

	// What Prepare computes: the names as requests are compared with them.
	prepared                 bool
	queryName, formName      string
	cookieNames, headerNames []string
	headerSources            []string
}

// Found is one token found in a request and where it was found.
type Found struct {
	Raw    string
	Source string // "header", "query", "form", "cookie" or "header:<name>"
}

// MaxFound is the most tokens one request may carry: a request past it is
// ErrTooManyTokens. No client sends hundreds; an attacker repeating a
// cookie or parameter to make the check costly does.
const MaxFound = 256

// ErrTooManyTokens is returned for a request carrying more than MaxFound
// tokens.
var ErrTooManyTokens = errors.New("too many tokens")

// Prepare computes what Extract compares request names with. Call it once
// after setting the fields (Extract works without it, but allocates).
func (s *Sources) Prepare() {
	s.queryName = NormalizeName(s.QueryParam)
	s.formName = NormalizeName(s.FormField)
	s.cookieNames = s.cookieNames[:0]
	for _, c := range s.Cookies {
		s.cookieNames = append(s.cookieNames, NormalizeName(c))
	}
	s.headerNames, s.headerSources = s.headerNames[:0], s.headerSources[:0]
	for _, h := range s.Headers {
		s.headerNames = append(s.headerNames, normalizeHeaderName(h))
		s.headerSources = append(s.headerSources, "header:"+h)
	}
	s.prepared = true
}

// Extract appends every token in r to dst: every token that a widely used
// server framework could take from r, read the way the most lenient of
// them reads it (see authorizationValues, encodedValues, cookieValues,
// headerValues, bodyValues). A body it reads is put back so the upstream
// gets it unchanged. It returns ErrTooLarge for a token over MaxTokenSize,
// ErrBodyTooLarge for a body over MaxBodySize, ErrTooManyTokens,
// ErrUnsupportedEncoding or ErrUnreadableBody for a body it would have to
// read and cannot.
func (s *Sources) Extract(r *http.Request, dst []Found) ([]Found, error) {
	dst, _, err := s.extract(r, dst, false)
	return dst, err
}

// ExtractBody is Extract that also reads a body of every kind the gateway
// reads (BodyKindOf), whether or not FormField is set, and returns it
// decoded (nil when there is none), for Candidates to scan. It is the
// check's reading: it also hands out every string a session kept in a
// named cookie holds (sessionCookieStrings), which a revocation, reading
// with Extract, must not revoke (a user id, a theme). A body read
// whole is put back as a *PooledBody: its caller may Release it once the
// request is done and nothing holds the strings found in it (a caller
// that does not leaves the buffer to the garbage collector).
func (s *Sources) ExtractBody(r *http.Request, dst []Found) ([]Found, []byte, error) {
	return s.extract(r, dst, true)
}

// extract is Extract, reading the body for its tokens (FormField set) or
// to return it (wantBody).
func (s *Sources) extract(r *http.Request, dst []Found, wantBody bool) ([]Found, []byte, error) {
	if !s.prepared {
		p := *s
		p.Prepare()
		s = &p
	}
	// The tokens found go to dst through add (a closure, not a method, so
	// that dst stays on the caller's stack).
	var source, want string
	var err error
	add := func(raw string) {
		if raw == "" || err != nil {
			return
		}
		if s.MaxTokenSize > 0 && len(raw) > s.MaxTokenSize {
			err = ErrTooLarge
			return
		}
		// A spelling that decodes to itself was just found: skip it.
		for i := len(dst) - 1; i >= 0 && i >= len(dst)-4; i-- {
			if dst[i].Raw == raw {
				return
			}
		}
		if len(dst) >= MaxFound {
			err = ErrTooManyTokens
			return
		}
		dst = append(dst, Found{Raw: raw, Source: source})
	}
	param := func(name, value string, _ bool) {
		if foldedNameMatches(name, want) {
			add(value)
		}
	}
	if values := r.Header["Authorization"]; len(values) > 0 {
		source = "header"
		authorizationValues(values, s.Schemes, add)
	}
	if s.queryName != "" && r.URL.RawQuery != "" {
		source, want = "query", s.queryName
		eachEncodedParam(r.URL.RawQuery, param)
	}
	if len(s.cookieNames) > 0 && len(r.Header["Cookie"]) > 0 {
		source = "cookie"
		for _, name := range s.cookieNames {
			cookieValues(r, name, add, wantBody)
		}
	}
	for i, name := range s.headerNames {
		source = s.headerSources[i]
		headerValues(r, name, add)
	}
	var body []byte
	if (s.formName != "" || wantBody) && err == nil {
		kind, kerr := BodyKindOf(r)
		if kerr != nil {
			return dst, nil, kerr
		}
		if kind == BodyBinary {
			var berr error
			var cut bool
			if body, cut, berr = readBodyPrefix(r, s.MaxBodySize); berr != nil {
				return dst, nil, berr
			}
			if cut && readsAsDocument(r, body) {
				return dst, nil, ErrBodyTooLarge
			}
			if s.formName != "" && !cut {
				source, want = "form", s.formName
				if berr := untypedParams(r, body, s.formName, param, add); berr != nil {
					return dst, nil, berr
				}
			}
		} else if kind != BodyNone {
			var berr error
			if body, berr = s.readBody(r); berr != nil {
				return dst, nil, berr
			}
			if XMLUnreadable(body) { // UTF-16 or UTF-32 (whatever the type: json.loads detects them too), a DTD
				return dst, nil, ErrUnreadableBody
			}
			if kind == BodyMultipart && partCharsetUnreadable(r, body) {
				return dst, nil, ErrUnsupportedCharset
			}
			if s.formName != "" {
				source, want = "form", s.formName
				formName := s.formName
				wanted := func(name string) bool { return foldedNameMatches(name, formName) }
				if kind != BodyJSON || mayHoldName(body, formName) { // else no member is named so
					if berr := eachBodyParam(r, kind, body, false, param, wanted); berr != nil {
						return dst, nil, berr
					}
				}
				if kind != BodyJSON {
					if berr := untypedParams(r, body, formName, param, add); berr != nil {
						return dst, nil, berr
					}
				}
			}
		}
	}
	return dst, body, err
}

// untypedParams reads the values named want of r's body, of a type other
// than JSON, as the decoders that ignore its Content-Type read them: as
// JSON (forcedJSONParams, to param) and as XML, YAML or CBOR
// (documentParams, to add).
func untypedParams(r *http.Request, body []byte, want string, param paramFunc, add func(string)) error {
	if err := forcedJSONParams(body, want, param); err != nil {
		return err
	}
	documentParams(mediaTypeOf(r), body, want, add)
	return nil
}

// forcedJSONParams reads body, of a type other than JSON, as JSON when it
// looks like a JSON object or array (after JSON white space and a UTF-8
// byte order mark, '{' or '['), as the decoders that ignore the
// Content-Type read it (Go's json.NewDecoder(r.Body), Flask's
// get_json(force=True), Express's express.json({type: "*/*"})): fn gets
// its members named as want (NormalizeName'd), at any depth. Such a body
// that could name want (mayHoldName) and is not exactly one JSON value is
// ErrUnreadableBody: Python's json takes NaN, Go's decoder stops after
// the first value.
func forcedJSONParams(body []byte, want string, fn paramFunc) error {
	rest := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' && rest[0] != '[' || !mayHoldName(rest, want) {
		return nil
	}
	return eachJSONParam(rest, false, fn, func(name string) bool { return foldedNameMatches(name, want) })
}

// readBody reads r's body (put back unchanged) and decodes its
// Content-Encoding, within MaxBodySize.
func (s *Sources) readBody(r *http.Request) ([]byte, error) {
	body, err := readWhole(r, s.MaxBodySize, true) // r.Body: a *PooledBody
	if err != nil {
		return nil, err
	}
	return decodedBody(r, body, s.MaxBodySize)
}

// readBodyPrefix reads the first limit bytes of r's body (all of it when
// limit is 0) and puts the body back whole: a binary body longer than the
// limit is passed on, the rest unread. cut says there was more.
func readBodyPrefix(r *http.Request, limit int64) (_ []byte, cut bool, _ error) {
	if limit <= 0 {
		b, err := ReadBody(r, 0)
		return b, false, err
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		r.Body = io.NopCloser(bytes.NewReader(b))
		return nil, false, err
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	if int64(len(b)) > limit {
		return b[:limit], true, nil
	}
	return b, false, nil
}

// readsAsDocument reports whether a body of a binary type, of which
// prefix is the start, is one a decoder that ignores the Content-Type
// reads as a document a token may be in (Go's json.NewDecoder on r.Body,
// Flask's get_json(force=True), an XML parser on the raw bytes): after
// JSON white space (and a UTF-8 byte order mark), '{', '[' or '"', or
// nothing but white space; '<' too but for an image (an SVG upload is
// XML); the same in UTF-16 or UTF-32 (wideText: json.loads and expat
// detect them); and a body its type says is a protobuf message
// (protobufType), which generated code decodes whole. Such a body past
// the limit is refused (ErrBodyTooLarge)
// rather than passed on with its rest unread: the token may be past the
// limit.
func readsAsDocument(r *http.Request, prefix []byte) bool {
	if t, ok := wideText(prefix[:min(len(prefix), 256)]); ok {
		prefix = []byte(t)
	}
	if protobufType(mediaTypeOf(r)) {
		return true // a message its type declares: generated code decodes it whole
	}
	rest := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(prefix, " \t\r\n"), []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(rest) == 0 {
		return true
	}
	switch rest[0] {
	case '{', '[', '"':
		return true
	case '<':
		ct, _, _ := strings.Cut(strings.ToLower(r.Header.Get("Content-Type")), ";")
		return !strings.HasPrefix(strings.TrimSpace(ct), "image/")
	}
	return false
}

// ReadBody reads r's body up to limit bytes (0: no limit) and puts it back,
// so that whoever handles r next reads it unchanged.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	return readWhole(r, limit, false)
}

// maxBodyPresize bounds the buffer a body is read into before its bytes
// arrive: a client that announces a large Content-Length and sends little
// gets no more.
const maxBodyPresize = 256 << 10

// readWhole is ReadBody; with pooled, into a buffer of the pool, put back
// as a *PooledBody. The buffer is sized by the announced length (within
// limit and maxBodyPresize), so a body of known length is read without
// growing it.
func readWhole(r *http.Request, limit int64, pooled bool) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := min(max(r.ContentLength, 0), maxBodyPresize)
	if limit > 0 {
		size = min(size, limit)
	}
	var buf []byte
	if pooled {
		buf = getBodyBuffer(int(size) + 1) // nil past the largest class
	}
	if buf == nil {
		pooled = false
		buf = make([]byte, 0, size+1) // +1: the read that says EOF needs room
	}
	var body io.Reader = r.Body
	if limit > 0 {
		body = io.LimitReader(r.Body, limit+1)
	}
	b, err := readInto(buf, body)
	r.Body.Close()
	if pooled {
		pb := &PooledBody{buf: b}
		pb.refs.Store(1)
		r.Body = pb
	} else {
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	if limit > 0 && int64(len(b)) > limit {
		return nil, ErrBodyTooLarge
	}
	r.ContentLength = int64(len(b))
	return b, nil
}

// readInto is io.ReadAll into b (grown when it is full).
func readInto(b []byte, body io.Reader) ([]byte, error) {
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append grow it
		}
	}
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
