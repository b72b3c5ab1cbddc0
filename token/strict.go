package token

import (
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"strings"
)

// ErrAmbiguous wraps every AmbiguousError: a request that two common
// parsers could read two ways, refused (400) rather than passed on.
var ErrAmbiguous = errors.New("ambiguous request")

// AmbiguousError says which part of a request cannot be read one way only.
type AmbiguousError struct {
	// Part is what was refused: "upgrade", "target", "trailer",
	// "content_type", "multipart_boundary" or "basic_credential".
	Part string
	// Why says what is wrong, for the answer's error_description.
	Why string
}

func (e *AmbiguousError) Error() string { return "ambiguous " + e.Part + ": " + e.Why }

// Unwrap makes errors.Is(err, ErrAmbiguous) true.
func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// Strictness says which ambiguities a site lets through: all refused when
// zero.
type Strictness struct {
	// Upgrades are the Upgrade protocols let through besides "websocket",
	// lower case (a WebSocket's messages are read by the gateway; any
	// other protocol is a tunnel it cannot read, "h2c" above all).
	Upgrades []string
}

// Unambiguous returns an *AmbiguousError when r cannot be read one way
// only, nil otherwise. It refuses, as upstream parsers disagree on them:
//
//   - an Upgrade to anything but a WebSocket (or s.Upgrades), and
//     HTTP2-Settings: an h2c tunnel carries requests the gateway never
//     sees;
//   - a request target holding '#', a control byte, a space or a byte
//     >= 0x80: frameworks cut the fragment (or split on Unicode spaces)
//     and read what precedes it, where the gateway would compare more;
//   - with a body, a Content-Type that is not exactly one well-formed
//     media type (a list, a parameter without ';', two headers), and a
//     multipart type whose parameters are not one boundary (and a
//     charset), or where another "boundary" comes first in the text
//     (PHP takes the first one it finds);
//   - trailers (declared, or sent): headers after the body, which the
//     check has not seen when the upstream may read them;
//   - a Basic credential that is not strict base64 (padded, no spaces):
//     lenient decoders skip what is not base64 and read a password.
func Unambiguous(r *http.Request, s *Strictness) error {
	if err := upgradeAllowed(r, s); err != nil {
		return err
	}
	if err := targetUnambiguous(r.RequestURI); err != nil {
		return err
	}
	if len(r.Trailer) > 0 || len(r.Header["Trailer"]) > 0 {
		// Trailers come after the body: an upstream that reads them
		// reads headers the check never saw.
		return &AmbiguousError{Part: "trailer", Why: "the request declares trailers: send them as headers"}
	}
	if hasBody(r) {
		if err := contentTypeUnambiguous(r.Header["Content-Type"]); err != nil {
			return err
		}
	}
	for _, v := range r.Header["Authorization"] {
		if err := basicUnambiguous(v); err != nil {
			return err
		}
	}
	return nil
}

func upgradeAllowed(r *http.Request, s *Strictness) error {
	if len(r.Header["Http2-Settings"]) > 0 {
		return &AmbiguousError{Part: "upgrade", Why: "HTTP2-Settings: an h2c upgrade is not read by the gateway"}
	}
	for _, v := range r.Header["Upgrade"] {
		for _, p := range strings.Split(v, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "" || p == "websocket" {
				continue
			}
			if s != nil && contains(s.Upgrades, p) {
				continue
			}
			return &AmbiguousError{Part: "upgrade", Why: "Upgrade: " + quoteSafe(p) + " is a tunnel the gateway cannot read (only websocket is let through)"}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// targetUnambiguous refuses a request target with a fragment, a control
// byte, a space or a byte outside ASCII.
func targetUnambiguous(target string) error {
	for i := 0; i < len(target); i++ {
		c := target[i]
		switch {
		case c == '#':
			return &AmbiguousError{Part: "target", Why: "the request target holds '#' (a fragment is never sent to a server)"}
		case c <= ' ' || c == 0x7f:
			return &AmbiguousError{Part: "target", Why: "the request target holds a control byte or a space: percent-encode it"}
		case c >= 0x80:
			return &AmbiguousError{Part: "target", Why: "the request target holds a byte outside ASCII: percent-encode it"}
		}
	}
	return nil
}

// hasBody reports whether r may carry a body.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// contentTypeUnambiguous refuses what is not exactly one well-formed media
// type (no Content-Type at all is fine: Rack reads a form, and so does the
// gateway).
func contentTypeUnambiguous(cts []string) error {
	if len(cts) == 0 {
		return nil
	}
	if len(cts) > 1 {
		return &AmbiguousError{Part: "content_type", Why: "more than one Content-Type header"}
	}
	ct := cts[0]
	mt, params, err := mime.ParseMediaType(ct)
	semis := strings.Count(strings.TrimSuffix(strings.TrimRight(ct, " \t"), ";"), ";")
	if err != nil || strings.ContainsRune(mt, ',') || semis != len(params) ||
		strings.Count(mt, "/") != 1 || strings.HasPrefix(mt, "/") || strings.HasSuffix(mt, "/") || strings.ContainsRune(mt, '*') {
		// A list ("a/b, c/d"), a parameter without ';' or with a
		// continuation (RFC 2231: *0, *1), no type/subtype, a
		// wildcard: parsers read them apart.
		return &AmbiguousError{Part: "content_type", Why: "the Content-Type is not exactly one media type with ';'-separated parameters"}
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return nil
	}
	b, ok := params["boundary"]
	if !ok || b == "" {
		return &AmbiguousError{Part: "multipart_boundary", Why: "a multipart Content-Type without a boundary"}
	}
	for name := range params {
		if name != "boundary" && name != "charset" {
			return &AmbiguousError{Part: "multipart_boundary", Why: "a multipart Content-Type takes a boundary and a charset only"}
		}
	}
	// PHP takes the value after the first "boundary" in the text: it must
	// be the parameter's name.
	lower := strings.ToLower(ct)
	i := strings.Index(lower, "boundary")
	before := strings.TrimRight(lower[:i], " \t")
	after := strings.TrimLeft(lower[i+len("boundary"):], " \t")
	if !strings.HasSuffix(before, ";") || !strings.HasPrefix(after, "=") {
		return &AmbiguousError{Part: "multipart_boundary", Why: "the first \"boundary\" in the Content-Type is not the boundary parameter"}
	}
	return nil
}

// basicUnambiguous refuses a Basic credential that is not exactly
// "Basic <strict base64>".
func basicUnambiguous(v string) error {
	v = strings.TrimLeft(v, " \t")
	if len(v) < 5 || !strings.EqualFold(v[:5], "basic") || len(v) > 5 && v[5] != ' ' && v[5] != '\t' {
		return nil
	}
	cred := strings.TrimRight(v[min(6, len(v)):], " \t")
	if _, err := base64.StdEncoding.Strict().DecodeString(cred); err != nil || cred == "" || strings.ContainsAny(cred, " \t\r\n") {
		return &AmbiguousError{Part: "basic_credential", Why: "the Basic credential is not strict base64 (RFC 7617: padded, no spaces)"}
	}
	return nil
}

// quoteSafe returns s when it is short printable ASCII, or a placeholder:
// what a client sent is echoed in an answer only when harmless.
func quoteSafe(s string) string {
	if len(s) > 32 {
		return "(a long protocol name)"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\' {
			return "(a protocol name)"
		}
	}
	return `"` + s + `"`
}
