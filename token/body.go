package token

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/textproto"
	"strings"
)

// ErrUnsupportedEncoding is returned for a body the gateway would have to
// read (a form, multipart or JSON) in a Content-Encoding it cannot decode:
// it is refused (415) rather than passed on unread.
var ErrUnsupportedEncoding = errors.New("unsupported content encoding")

// ErrUnsupportedCharset is the ErrUnsupportedEncoding of a body the
// gateway would have to read in a charset that may not spell ASCII as
// ASCII (UTF-16, say, which body-parser decodes): refused (415).
var ErrUnsupportedCharset = fmt.Errorf("%w: a charset other than UTF-8, US-ASCII or ISO-8859-1", ErrUnsupportedEncoding)

// ErrUnreadableBody is returned for a body of a type the gateway reads
// that it cannot parse (a multipart body without a boundary, say, or an
// ambiguous Content-Type): refused rather than passed on unread.
var ErrUnreadableBody = errors.New("unreadable request body")

// BodyKind is how a request body is encoded, as far as token reading goes.
type BodyKind int

// The body kinds.
const (
	// BodyNone: no body, or one no common framework reads parameters from.
	BodyNone BodyKind = iota
	// BodyForm: application/x-www-form-urlencoded, however its parameters
	// are spelled; also a body without a Content-Type, which Rack reads as
	// a form.
	BodyForm
	// BodyMultipart: multipart/form-data (any multipart/ type).
	BodyMultipart
	// BodyJSON: application/json, text/json or any +json type.
	BodyJSON
	// BodyText: any other type that is not a known binary one (text/plain,
	// XML, a type no framework names): no parameters are read from it, but
	// the whole-request scan (Candidates) reads it, within the body limit,
	// as applications and struct decoders parse a body whatever its type.
	BodyText
	// BodyBinary: a known binary type (images, audio, video, fonts,
	// application/octet-stream, archives, PDF, protobuf, gRPC): the scan
	// reads as much of it as the body limit, and the rest goes on unread.
	BodyBinary
)

// binaryType reports whether media type mt (lower case) is a known binary
// type (BodyBinary).
func binaryType(mt string) bool {
	for _, p := range []string{"image/", "audio/", "video/", "font/", "application/grpc"} {
		if strings.HasPrefix(mt, p) {
			return true
		}
	}
	switch mt {
	case "application/octet-stream", "application/pdf", "application/zip", "application/gzip",
		"application/x-tar", "application/x-protobuf", "application/protobuf", "application/wasm",
		"application/vnd.apache.avro+binary", "application/x-7z-compressed":
		return true
	}
	return false
}

// contentEncoded reports whether r's body has a Content-Encoding other than
// identity.
func contentEncoded(r *http.Request) bool {
	for _, v := range r.Header["Content-Encoding"] {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

// BodyKindOf says how r's body is encoded. A Content-Type Go's mime parser
// refuses ("...; charset") still counts by the text before ';', as lenient
// servers read it. Two Content-Type headers that disagree are
// ErrUnreadableBody: upstreams pick different ones.
func BodyKindOf(r *http.Request) (BodyKind, error) {
	if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodConnect {
		// A CONNECT's body is a tunnel (a WebSocket over HTTP/2 or 3):
		// its messages are read by live/, never as a form.
		return BodyNone, nil
	}
	cts := r.Header["Content-Type"]
	for _, ct := range cts[min(1, len(cts)):] {
		if ct != cts[0] {
			return BodyNone, ErrUnreadableBody
		}
	}
	if len(cts) == 0 {
		return BodyForm, nil
	}
	mt, _, _ := strings.Cut(cts[0], ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	kind := BodyNone
	switch {
	case mt == "":
		kind = BodyForm
	case mt == "application/x-www-form-urlencoded":
		kind = BodyForm
	case strings.HasPrefix(mt, "multipart/"):
		kind = BodyMultipart
	case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
		kind = BodyJSON
	case binaryType(mt) && !contentEncoded(r):
		// (Encoded, it is read whole and decoded: body-parser inflates
		// a body of any type before a JSON parser for */* reads it.)
		kind = BodyBinary
	default:
		kind = BodyText
	}
	if kind != BodyBinary && !asciiCharset(mediaParam(cts[0], "charset")) {
		// body-parser decodes UTF-16 and UTF-32 bodies: a token in one is
		// one the gateway would not see.
		return kind, ErrUnsupportedCharset
	}
	return kind, nil
}

// asciiCharset reports whether a body in charset spells ASCII as ASCII
// (tokens and parameter names are ASCII): no charset, UTF-8, US-ASCII or
// ISO-8859-1.
func asciiCharset(charset string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"`)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1":
		return true
	}
	return false
}

// IsForm reports whether r has a form body (see BodyKindOf).
func IsForm(r *http.Request) bool {
	k, err := BodyKindOf(r)
	return err == nil && k == BodyForm
}

// decodedBody returns body decoded from r's Content-Encoding, at most limit
// bytes of it (0: no limit): gzip and deflate (zlib), as body-parser and
// others inflate them; any other coding, or more than one, is
// ErrUnsupportedEncoding.
func decodedBody(r *http.Request, body []byte, limit int64) ([]byte, error) {
	var coding string
	for _, v := range r.Header["Content-Encoding"] {
		for _, c := range strings.Split(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if c == "" || c == "identity" {
				continue
			}
			if coding != "" {
				return nil, ErrUnsupportedEncoding
			}
			coding = c
		}
	}
	var zr io.Reader
	var err error
	switch coding {
	case "":
		return body, nil
	case "gzip", "x-gzip":
		zr, err = gzip.NewReader(bytes.NewReader(body))
	case "deflate":
		zr, err = zlib.NewReader(bytes.NewReader(body))
	default:
		return nil, ErrUnsupportedEncoding
	}
	if err != nil {
		return nil, ErrUnreadableBody
	}
	if limit > 0 {
		zr = io.LimitReader(zr, limit+1)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, ErrUnreadableBody
	}
	if limit > 0 && int64(len(out)) > limit {
		return nil, ErrBodyTooLarge
	}
	return out, nil
}

// paramFunc receives one parameter: its name as the request spells it,
// and a value. alt marks another spelling of the value just given (the
// same parameter, not another occurrence of it).
type paramFunc func(name, value string, alt bool)

// eachBodyParam calls fn for every parameter of a body of kind k: form
// pairs (split and decoded as eachEncodedParam does), multipart fields (as
// sent, and decoded when the part says it is quoted-printable or base64),
// JSON members with a string or number value, at any depth (only the top
// level with top set).
//
// wanted, when not nil, says which names fn wants: a JSON body's other
// members are walked but their values not decoded (a form's or a
// multipart body's are all handed out).
func eachBodyParam(r *http.Request, k BodyKind, body []byte, top bool, fn paramFunc, wanted func(name string) bool) error {
	switch k {
	case BodyForm:
		eachEncodedParam(string(body), fn)
	case BodyMultipart:
		return eachMultipartParam(r, body, fn)
	case BodyJSON:
		return eachJSONParam(body, top, fn, wanted)
	}
	return nil
}

// eachEncodedParam calls fn for every pair of a URL-encoded string (see
// eachPair), its value decoded leniently, then raw when that differs.
func eachEncodedParam(encoded string, fn paramFunc) {
	eachPair(encoded, func(name, value string) {
		v := decodeLenient(value, true)
		fn(name, v, false)
		if v != value {
			fn(name, value, true)
		}
	})
}

func eachMultipartParam(r *http.Request, body []byte, fn paramFunc) error {
	return eachPart(r, body, func(h textproto.MIMEHeader, v []byte) {
		// A part with two names (Go refuses it; Werkzeug, PHP and Rack
		// take the last) is read under each.
		for _, name := range mediaParams(h.Get("Content-Disposition"), "name") {
			fn(name, string(v), false)
			switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
			case "quoted-printable":
				if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(v))); err == nil {
					fn(name, string(d), true)
				}
			case "base64":
				if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(v))); err == nil {
					fn(name, string(d), true)
				}
			}
		}
	})
}

// eachPart calls fn with each part of the multipart body, its header and
// its raw content; a body that does not parse is ErrUnreadableBody.
func eachPart(r *http.Request, body []byte, fn func(h textproto.MIMEHeader, content []byte)) error {
	boundary := multipartBoundary(r.Header.Get("Content-Type"))
	if boundary == "" {
		return ErrUnreadableBody
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ErrUnreadableBody
		}
		v, err := io.ReadAll(p)
		if err != nil {
			return ErrUnreadableBody
		}
		fn(p.Header, v)
	}
}

// partCharsetUnreadable reports whether a part of the multipart body
// declares a charset that does not spell ASCII as ASCII (asciiCharset):
// busboy (multer, Express) decodes a field with its part's charset, and
// its "base64" one base64-encodes the bytes, so raw bytes reach the
// application as the token they encode. Only a body that says "charset"
// somewhere is parsed; one that does not parse is unreadable too.
func partCharsetUnreadable(r *http.Request, body []byte) bool {
	if !containsFold(body, "charset", rarestByte("charset")) {
		return false
	}
	bad := false
	err := eachPart(r, body, func(h textproto.MIMEHeader, _ []byte) {
		bad = bad || !asciiCharset(mediaParam(h.Get("Content-Type"), "charset"))
	})
	return bad || err != nil
}

// multipartBoundary returns the boundary parameter of a multipart
// Content-Type, also from one Go's mime parser refuses; "" when it has
// none, or two that differ (parsers would split the body differently).
func multipartBoundary(ct string) string {
	bs := mediaParams(ct, "boundary")
	for _, b := range bs[min(1, len(bs)):] {
		if b != bs[0] {
			return ""
		}
	}
	if len(bs) == 0 {
		return ""
	}
	return bs[0]
}

// mediaParam returns parameter key of a header value such as a
// Content-Type (the first, when it is given twice), also of one Go's mime
// parser refuses.
func mediaParam(v, key string) string {
	if ps := mediaParams(v, key); len(ps) > 0 {
		return ps[0]
	}
	return ""
}

// mediaParams returns every value of parameter key of a header value such
// as a Content-Type or a Content-Disposition: as Go's mime parser reads
// it, or, where that refuses the value (a parameter given twice, say),
// each one a lenient parser could take.
func mediaParams(v, key string) []string {
	if _, params, err := mime.ParseMediaType(v); err == nil {
		if p, ok := params[key]; ok {
			return []string{p}
		}
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			out = append(out, strings.Trim(strings.TrimSpace(val), `"`))
		}
	}
	return out
}

// maxJSONDepth bounds how deep a JSON body is followed: deeper is
// ErrUnreadableBody.
const maxJSONDepth = 64

// eachJSONParam calls fn for every member of a JSON body whose value is a
// string or a number (each element, for an array of them), at any depth or
// at the top only. Members repeated in one object are each read (a map
// would keep only the last). An empty body gives nothing; a body that is
// not one JSON value is ErrUnreadableBody: parsers more lenient than Go's
// (Python's json takes NaN and Infinity) could read a token after what
// stops this one.
func eachJSONParam(body []byte, top bool, fn paramFunc, wanted func(name string) bool) error {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a BOM, which some parsers skip
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !walkJSONParams(body, top, fn, wanted) {
		return ErrUnreadableBody // not one value, or too deep
	}
	return nil
}
