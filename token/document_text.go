package token

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"go.yaml.in/yaml/v3"
)

// An API that reads YAML (Kubernetes' and others' application/yaml) or
// CBOR (WebAuthn, COSE, IoT APIs) decodes a string its own way: YAML's
// double-quoted scalars join escaped line breaks ("revok\<LF>  ed") and
// its !!binary values are base64 split over lines; CBOR's text strings
// of indefinite length are chunks whose headers are bytes of the text.
// None of these is a run of the body as sent.

// documentText returns the strings of body decoded as its media type mt
// (mediaTypeOf) says it is YAML or CBOR, by the decoders Go APIs use (go.yaml.in/yaml,
// fxamacker/cbor): every string, map key and byte string, at any depth,
// each on a line of its own. A body that does not decode gives what its
// documents before the error held.
func documentText(mt string, body []byte) (string, bool) {
	dec := documentDecoder(mt, body)
	if dec == nil {
		return "", false
	}
	var b strings.Builder
	for {
		var v any
		if dec.Decode(&v) != nil {
			break
		}
		eachString(v, func(s string) {
			b.WriteString(s)
			b.WriteByte('\n')
		}, 0)
	}
	return b.String(), b.Len() > 0
}

// documentDecoder is the decoder of body when its media type mt says it
// is YAML or CBOR; nil for the other types.
func documentDecoder(mt string, body []byte) interface{ Decode(any) error } {
	switch {
	case mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml" || mt == "text/x-yaml" || strings.HasSuffix(mt, "+yaml"):
		return yaml.NewDecoder(bytes.NewReader(body))
	case mt == "application/cbor" || strings.HasSuffix(mt, "+cbor") || mt == "application/cbor-seq":
		return cbor.NewDecoder(bytes.NewReader(body))
	}
	return nil
}

// maxDocumentDepth bounds how deep eachString walks a decoded value (the
// decoders bound their own nesting).
const maxDocumentDepth = 64

// eachString calls fn with each string of the decoded value v (JSON's,
// YAML's, CBOR's: strings, byte strings, map keys) at any depth up to
// maxDocumentDepth.
func eachString(v any, fn func(string), depth int) {
	if depth > maxDocumentDepth {
		return
	}
	switch v := v.(type) {
	case string:
		fn(v)
	case []byte:
		fn(string(v))
	case []any:
		for _, e := range v {
			eachString(e, fn, depth+1)
		}
	case map[string]any:
		for k, e := range v {
			fn(k)
			eachString(e, fn, depth+1)
		}
	case map[any]any:
		for k, e := range v {
			eachString(k, fn, depth+1)
			eachString(e, fn, depth+1)
		}
	}
}

// mediaTypeOf is r's media type as the body's decoders are chosen by it:
// the Content-Type before its parameters, trimmed, in lower case.
func mediaTypeOf(r *http.Request) string {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
