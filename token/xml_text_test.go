package token

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestXMLText: the text of an XML body is what Python's ElementTree reads
// of it (findtext, an attribute), each spelling below checked there: a
// token split by a reference, a CDATA section, a comment or a processing
// instruction is whole in it, and found by the scan.
func TestXMLText(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	for _, body := range []string{
		"<r><t>" + tok[:3] + "&#" + "107;" + tok[4:] + "</t></r>", // 'k'
		"<r><t>" + tok[:3] + "&#x6B;" + tok[4:] + "</t></r>",
		"<r><t>" + tok[:5] + "<![CDATA[" + tok[5:9] + "]]>" + tok[9:] + "</t></r>",
		"<r><t>" + tok[:5] + "<!-- c -->" + tok[5:] + "</t></r>",
		"<r><t>" + tok[:5] + "<?pi x?>" + tok[5:] + "</t></r>",
		"\xef\xbb\xbf <?xml version=\"1.0\"?>\n<r t=\"" + tok[:4] + "&#81;" + tok[5:] + "\"/>", // 'Q'; BOM, attribute
		"<r><t>" + tok[:5] + "</t><u>" + tok[5:] + "</u></r>",                                  // an element's text content joins its children's
		"<r><t>" + tok[:3] + "&#" + strings.Repeat("0", 20) + "107;" + tok[4:] + "</t></r>",    // leading zeros, as XML allows
		"<r t=\"" + tok[:3] + "&#x0000000000000000006b;" + tok[4:] + "\"/>",
	} {
		text, ok := XMLText([]byte(body))
		if !ok || !strings.Contains(text, tok) {
			t.Errorf("XMLText(%q) = %q, %v: want the token in it", body, text, ok)
		}
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{"Content-Type": {"text/plain"}}
		if _, found := candidatesOf(r, body)[tok]; !found {
			t.Errorf("the scan of %q misses the token", body)
		}
	}
	for _, body := range []string{"", "x=<y>", `{"a":"<b>"}`, "  \n"} {
		if text, ok := XMLText([]byte(body)); ok {
			t.Errorf("XMLText(%q) = %q: not XML, want nothing", body, text)
		}
	}
	if text, _ := XMLText([]byte("<r>a &amp; b &lt; &unknown; &#xZZ; & <![CDATA[x")); text != "a & b < &unknown; &#xZZ; & x" {
		t.Errorf("lenient reading: %q", text)
	}
}

// TestXMLUnreadable: XML in an encoding that does not spell ASCII as
// ASCII, a DOCTYPE with an internal subset (entities, attribute
// defaults) or naming an external DTD is refused (ErrUnreadableBody), in
// any case; other XML, a DOCTYPE of a name alone among it, is not.
func TestXMLUnreadable(t *testing.T) {
	utf16le := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteString(s[i:i+1] + "\x00")
		}
		return b.String()
	}
	for _, body := range []string{
		`<!DOCTYPE r [<!ENTITY a "Rev"><!ENTITY b "oked">]><r>&a;&b;</r>`,
		"\n<?xml version=\"1.0\"?><!doctype r [<!entity % p SYSTEM \"x\">]><r/>",
		`<!DOCTYPE r SYSTEM "http://example.com/t.dtd"><r><access_token>&a;&b;</access_token></r>`,
		`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x.dtd"><r/>`,
		// expat reports an attribute default of the internal subset.
		`<!DOCTYPE r [<!ATTLIST r access_token CDATA "Rev&#111;ked">]><r/>`,
		`<!DOCTYPE r []><r/>`,
		// Encodings expat and Java's parsers detect or are told.
		utf16le("<r><t>x</t></r>"),
		utf16le(" <r/>"),
		"\xff\xfe" + utf16le("<r/>"),
		"\xfe\xff\x00<\x00r\x00/\x00>",
		"\x00\x00\x00<\x00\x00\x00r",
		"\x4c\x6f\xa7\x94\x93@\xa5\x85", // "<?xml ve" in EBCDIC
		`<?xml version="1.0" encoding="UTF-7"?><r>+AFk-z7k</r>`,
		`<?xml version='1.0' encoding='ebcdic-cp-us'?><r/>`,
		`<?xml version="1.0" encoding="UTF-16"?><r/>`,
	} {
		if !XMLUnreadable([]byte(body)) {
			t.Errorf("XMLUnreadable(%q) = false", body)
		}
		r, _ := http.NewRequest("POST", "http://h/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/xml")
		var s Sources
		if _, _, err := s.ExtractBody(r, nil); err != ErrUnreadableBody {
			t.Errorf("ExtractBody(%q): %v, want ErrUnreadableBody", body, err)
		}
	}
	for _, body := range []string{`<!DOCTYPE html><p>&amp;</p>`, `<r>ENTITY</r>`, `x=<!ENTITY`, `<r>SYSTEM PUBLIC</r>`, `<!-- SYSTEM --><r/>`,
		`<?xml version="1.0" encoding="UTF-8"?><r/>`, `<?xml version="1.0" encoding='iso-8859-1'?><r/>`, `<?xml version="1.0"?><r>encoding</r>`, "\xef\xbb\xbf<r/>"} {
		if XMLUnreadable([]byte(body)) {
			t.Errorf("XMLUnreadable(%q) = true", body)
		}
	}
}

// TestWideTextIsScanned: a body in UTF-16 or UTF-32, which Python's
// json.loads and XML parsers detect whatever the Content-Type, is scanned
// decoded, and as XML when it is.
func TestWideTextIsScanned(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	widen := func(s string, unit int, big bool) string {
		var b strings.Builder
		for _, r := range s {
			c := make([]byte, unit)
			if big {
				c[unit-1] = byte(r)
			} else {
				c[0] = byte(r)
			}
			b.Write(c)
		}
		return b.String()
	}
	for _, c := range []struct{ name, body string }{
		{"JSON, UTF-16LE", widen(`{"access_token":"`+tok+`"}`, 2, false)},
		{"JSON, UTF-16BE with BOM", "\xfe\xff" + widen(`{"access_token":"`+tok+`"}`, 2, true)},
		{"JSON, UTF-32LE, an escape", widen(`{"access_token":"\u0059`+tok[1:]+`"}`, 4, false)},
		{"XML, UTF-16LE, a reference", widen("<r><t>"+tok[:3]+"&#107;"+tok[4:]+"</t></r>", 2, false)},
	} {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{"Content-Type": {"application/octet-stream"}}
		if _, ok := candidatesOf(r, c.body)[tok]; !ok {
			t.Errorf("%s: the token is not among the candidates", c.name)
		}
	}
}

// FuzzXMLTextIsTheDecoder: for a body Go's encoding/xml reads whole
// (strict, no DOCTYPE), XMLText's text is the decoder's character data
// joined, line ends normalized as XML parsers do, and each attribute
// value the decoder reads is on a line of its own after it (white space
// in values aside, which parsers normalize and no token has).
func FuzzXMLTextIsTheDecoder(f *testing.F) {
	f.Add(`<r a="x&amp;y"><t>Rev&#111;ked<![CDATA[<x>]]><!-- c --><?p?>oked</t><u/></r>`)
	f.Add("<r>\r\n&lt;&#x41;</r>")
	f.Fuzz(func(t *testing.T, body string) {
		doc := strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(body, " \t\r\n"), "\ufeff"), " \t\r\n")
		if !strings.HasPrefix(doc, "<") {
			return // not read as XML (the decoder reads text alone)
		}
		d := xml.NewDecoder(strings.NewReader(doc)) // from the document's first '<', as XMLText
		var chars strings.Builder
		var attrs []string
		for {
			tok, err := d.RawToken()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			switch tok := tok.(type) {
			case xml.CharData:
				chars.Write(tok)
			case xml.StartElement:
				for _, a := range tok.Attr {
					attrs = append(attrs, a.Value)
				}
			case xml.Directive:
				return
			}
		}
		if d.InputOffset() != int64(len(doc)) {
			return
		}
		text, ok := XMLText([]byte(body))
		if !ok {
			t.Fatalf("XMLText(%q): not read as XML", body)
		}
		norm := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n") }
		want := norm(chars.String())
		if got := norm(text); !strings.HasPrefix(got, want) {
			t.Fatalf("XMLText(%q) = %q, want it to start with the decoder's text %q", body, got, want)
		}
		rest := strings.Fields(norm(text)[len(want):])
		var wantAttrs []string
		for _, a := range attrs {
			wantAttrs = append(wantAttrs, strings.Fields(a)...)
		}
		if strings.Join(rest, " ") != strings.Join(wantAttrs, " ") {
			t.Fatalf("XMLText(%q): attributes %q, the decoder's %q", body, rest, wantAttrs)
		}
	})
}
