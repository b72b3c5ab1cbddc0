package token

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestUnambiguous(t *testing.T) {
	cases := []struct {
		name   string
		target string
		header http.Header
		body   bool
		part   string // "" when the request is let through
	}{
		{"plain", "/api?access_token=T", nil, false, ""},
		{"websocket", "/ws", http.Header{"Upgrade": {"websocket"}}, false, ""},
		{"h2c", "/", http.Header{"Upgrade": {"h2c"}}, false, "upgrade"},
		{"h2c in a list", "/", http.Header{"Upgrade": {"websocket, H2C"}}, false, "upgrade"},
		{"HTTP2-Settings", "/", http.Header{"Http2-Settings": {"AAMAAABkAAQCAAAAAAIAAAAA"}}, false, "upgrade"},
		{"fragment", "/api?access_token=T#", nil, false, "target"},
		{"nbsp", "/api?access_token=T\xa0", nil, false, "target"},
		{"control", "/api?access_token=T\x01", nil, false, "target"},
		{"percent-encoded is fine", "/api?access_token=T%23%C2%A0", nil, false, ""},
		{"json", "/", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, true, ""},
		{"trailing ;", "/", http.Header{"Content-Type": {"application/json;"}}, true, ""},
		{"no content type", "/", nil, true, ""},
		{"list", "/", http.Header{"Content-Type": {"application/x-www-form-urlencoded, text/plain"}}, true, "content_type"},
		{"parameter without ;", "/", http.Header{"Content-Type": {"application/json charset=utf-8"}}, true, "content_type"},
		{"no subtype", "/", http.Header{"Content-Type": {"junkjunkjunk"}}, true, "content_type"},
		{"wildcard", "/", http.Header{"Content-Type": {"application/*"}}, true, "content_type"},
		{"odd but one type", "/", http.Header{"Content-Type": {"a&pplication/json"}}, true, ""},
		{"two headers", "/", http.Header{"Content-Type": {"application/json", "application/json"}}, true, "content_type"},
		{"list without a body", "/", http.Header{"Content-Type": {"a/b, c/d"}}, false, ""},
		{"multipart", "/", http.Header{"Content-Type": {"multipart/form-data; boundary=----WebKitFormBoundaryX"}}, true, ""},
		{"multipart, charset", "/", http.Header{"Content-Type": {`multipart/form-data; charset=utf-8; boundary="b"`}}, true, ""},
		{"multipart xboundary first", "/", http.Header{"Content-Type": {"multipart/form-data; xboundary=a; boundary=b"}}, true, "multipart_boundary"},
		{"multipart boundary in a charset", "/", http.Header{"Content-Type": {`multipart/form-data; charset="boundary=a"; boundary=b`}}, true, "multipart_boundary"},
		{"multipart continuation", "/", http.Header{"Content-Type": {"multipart/form-data; boundary*0=a; boundary*1=b"}}, true, "content_type"},
		{"multipart no boundary", "/", http.Header{"Content-Type": {"multipart/form-data"}}, true, "multipart_boundary"},
		{"trailer", "/", http.Header{"Trailer": {"X-Token"}}, true, "trailer"},
		{"basic", "/", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, false, ""},
		{"basic unpadded", "/", http.Header{"Authorization": {"Basic dXNlcjpwYXM"}}, false, "basic_credential"},
		{"basic junk bytes", "/", http.Header{"Authorization": {"Basic dXNlcjp!wYXNz"}}, false, "basic_credential"},
		{"basic split", "/", http.Header{"Authorization": {"Basic dXNl cjpwYXNz"}}, false, "basic_credential"},
		{"bearer untouched", "/", http.Header{"Authorization": {"Bearer a b c"}}, false, ""},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("POST", "http://x/", nil)
		r.RequestURI = c.target
		r.Header = c.header
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if c.body {
			r.Body, r.ContentLength = http.NoBody, 4
			r.Body = readCloser{strings.NewReader("body")}
		}
		err := Unambiguous(r, nil)
		var a *AmbiguousError
		switch {
		case c.part == "" && err != nil:
			t.Errorf("%s: refused (%v), want let through", c.name, err)
		case c.part != "" && (!errors.As(err, &a) || a.Part != c.part || !errors.Is(err, ErrAmbiguous)):
			t.Errorf("%s: %v, want refused as ambiguous %s", c.name, err, c.part)
		}
	}
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r.Header.Set("Upgrade", "h2c")
	if err := Unambiguous(r, &Strictness{Upgrades: []string{"h2c"}}); err != nil {
		t.Errorf("h2c allowed by the site: %v", err)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
