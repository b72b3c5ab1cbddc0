package token

import (
	"bytes"
	"encoding/xml"
	"io"
)

// The named body channel (form_field) in the documents applications
// decode into a structure whatever the scan finds in them: an XML
// element or attribute of that name (ElementTree, SimpleXML, Jackson's
// XML), a YAML or CBOR map's member (go.yaml.in/yaml, fxamacker/cbor into
// a struct). The scan reads their strings of 16 bytes or more
// (XMLText, documentText); a shorter token is found here alone.

// documentParams calls fn with every value named want (a NormalizeName
// result, matched as foldedNameMatches does) of body read as XML (when
// it looks like XML: '<' first, after white space and a byte order mark)
// and, when its media type mt says so, as YAML or CBOR: an XML element's
// text (up to its first child, as ElementTree's text has it, and all its
// own text joined) and attribute values; a YAML or CBOR member's every
// string, at any depth. A body that does not parse is read as far as it
// goes.
func documentParams(mt string, body []byte, want string, fn func(string)) {
	if !mayHoldName(body, want) {
		return
	}
	wanted := func(name string) bool { return foldedNameMatches(name, want) }
	if _, ok := xmlDocument(body); ok {
		xmlParams(body, wanted, fn)
	}
	dec := documentDecoder(mt, body)
	if dec == nil {
		return
	}
	for {
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		eachMember(v, wanted, fn, 0)
	}
}

// eachMember calls fn with every string (eachString) of every member of
// the decoded value v whose name wanted wants, at any depth.
func eachMember(v any, wanted func(string) bool, fn func(string), depth int) {
	if depth > maxDocumentDepth {
		return
	}
	member := func(k, e any) {
		if name, ok := k.(string); ok && wanted(name) {
			eachString(e, fn, depth+1)
			return
		}
		eachMember(e, wanted, fn, depth+1)
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			eachMember(e, wanted, fn, depth+1)
		}
	case map[string]any:
		for k, e := range v {
			member(k, e)
		}
	case map[any]any:
		for k, e := range v {
			member(k, e)
		}
	}
}

// xmlParams calls fn with the text of every element, and the value of
// every attribute, whose local name wanted wants, as encoding/xml reads
// body (not strict: an unknown entity is text, as lenient parsers keep
// it).
func xmlParams(body []byte, wanted func(string) bool, fn func(string)) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil } // ASCII-compatible (XMLUnreadable refuses the others)
	type open struct {
		text, all []byte
		child     bool
	}
	var stack []*open // a wanted element's text, nil for the others
	for {
		t, err := d.RawToken()
		if err != nil {
			break
		}
		switch t := t.(type) {
		case xml.StartElement:
			if len(stack) > 0 && stack[len(stack)-1] != nil {
				stack[len(stack)-1].child = true
			}
			for _, a := range t.Attr {
				if wanted(a.Name.Local) {
					fn(a.Value)
				}
			}
			var o *open
			if wanted(t.Name.Local) {
				o = &open{}
			}
			stack = append(stack, o)
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1] != nil {
				o := stack[len(stack)-1]
				if !o.child {
					o.text = append(o.text, t...)
				}
				o.all = append(o.all, t...)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				continue
			}
			if o := stack[len(stack)-1]; o != nil {
				fn(string(o.text))
				if len(o.all) != len(o.text) {
					fn(string(o.all))
				}
			}
			stack = stack[:len(stack)-1]
		}
	}
}
