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

// TestXMLDependsOnDTD: a DOCTYPE that declares entities or names an
// external DTD is refused (ErrUnreadableBody), in any case; other XML,
// a DOCTYPE of a name alone among it, is not.
func TestXMLDependsOnDTD(t *testing.T) {
	for _, body := range []string{
		`<!DOCTYPE r [<!ENTITY a "Rev"><!ENTITY b "oked">]><r>&a;&b;</r>`,
		"\n<?xml version=\"1.0\"?><!doctype r [<!entity % p SYSTEM \"x\">]><r/>",
		`<!DOCTYPE r SYSTEM "http://example.com/t.dtd"><r><access_token>&a;&b;</access_token></r>`,
		`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x.dtd"><r/>`,
	} {
		if !XMLDependsOnDTD([]byte(body)) {
			t.Errorf("XMLDependsOnDTD(%q) = false", body)
		}
		r, _ := http.NewRequest("POST", "http://h/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/xml")
		var s Sources
		if _, _, err := s.ExtractBody(r, nil); err != ErrUnreadableBody {
			t.Errorf("ExtractBody(%q): %v, want ErrUnreadableBody", body, err)
		}
	}
	for _, body := range []string{`<!DOCTYPE html><p>&amp;</p>`, `<r>ENTITY</r>`, `x=<!ENTITY`, `<r>SYSTEM PUBLIC</r>`, `<!-- SYSTEM --><r/>`} {
		if XMLDependsOnDTD([]byte(body)) {
			t.Errorf("XMLDependsOnDTD(%q) = true", body)
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
