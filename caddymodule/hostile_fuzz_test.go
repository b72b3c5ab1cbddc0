package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// Fuzz tests of hostile input (issue 6): path patterns, the Caddyfile
// parser and the revocation routes' request parsing never panic; a path
// that matches a route still matches however it is re-spelt. Seed corpora
// are under testdata/fuzz/<name>; scripts/test runs each fuzzer briefly.

func FuzzPathPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"/oauth/revoke", "/oauth/revoke"},
		{"/oauth/revoke", "//oauth/./x/../revoke/"},
		{"/oauth/revoke", "/oauth%2Frevoke?x=1"},
		{"/{tenant}/connect/revocation", "/t1/connect/revocation"},
		{"/{tenant}/connect/revocation", "/t%2F1/connect/revocation"},
		{"/{org}/{app}/users/{user}/revoketoken", "/o/a/users/u%20v/revoketoken"},
		{"/management/*", "/management/users/x/revoketokens"},
		{"/realms/{realm}/protocol/openid-connect/logout", "/realms/%2E%2E/protocol/openid-connect/logout"},
		{"/", "/"},
		{"/{x}", "/%"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, target string) {
		p, err := route.ParsePathPattern(pattern, false)
		if err != nil {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") || u.Host != "" {
			return
		}
		m, ok := p.Match(&http.Request{URL: u})
		if !ok {
			return
		}
		vars := m.Vars
		// The interception cannot be dodged: the same path with a slash
		// doubled, a "/./" or a trailing slash added still matches, with
		// the same captures.
		raw := u.EscapedPath()
		for _, v := range []string{"/" + raw, "/." + raw, raw + "/", strings.Replace(raw, "/", "//", -1), "/x/.." + raw} {
			vu, err := url.ParseRequestURI(v)
			if err != nil {
				continue
			}
			vm, vok := p.Match(&http.Request{URL: vu})
			if !vok {
				t.Fatalf("pattern %q matches %q but not %q", pattern, target, v)
			}
			if !reflect.DeepEqual(vm.Vars, vars) || vm.Path != m.Path {
				t.Fatalf("pattern %q: %q captures %v (path %q), %q captures %v (path %q)", pattern, target, vars, m.Path, v, vm.Vars, vm.Path)
			}
		}
	})
}

func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"revoke /oauth/revoke\nlogout /logout forward",
		"store redis {\n address a:1 b:2\n master_name m\n min_replicas 1\n replica_timeout 1s\n tls {\n ca_file x\n }\n}",
		"store embedded /tmp/x\nfail open\nretry_after 2s\nmax_body_size 1KiB\nmax_token_size 1MB",
		"revoke /{tenant}/x {\n mode forward\n namespace {http.vars.tenant}\n}\nnamespace {http.request.header.tenant}",
		"jwt https://idp {\n hmac_secret abc\n algorithms HS256\n audience a b\n}\nlogout_all /all",
		"cookie a b\nheader X-T\nschemes Bearer\nquery_param off\nform_field off",
		"store redis {\n}\nstore embedded",
		"revoke",
		"}\n{",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, input := range []string{"token_revocation {\n" + body + "\n}", "token_revocation " + body} {
			if _, err := caddyfile.Tokenize([]byte(input), "Caddyfile"); err != nil {
				continue // NewTestDispenser would exit on a lexer error
			}
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
				continue
			}
			// What parsed is a valid JSON config that reads back the same.
			b, err := json.Marshal(&h)
			if err != nil {
				t.Fatalf("%q: parsed, but its JSON fails: %v", input, err)
			}
			var back Handler
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%q: JSON %s does not read back: %v", input, b, err)
			}
			if b2, _ := json.Marshal(&back); !bytes.Equal(b, b2) {
				t.Fatalf("%q: JSON %s reads back as %s", input, b, b2)
			}
		}
	})
}

// memStore is a denylist.Store in memory, for fuzzing without disk writes.
type memStore struct{ ix *denylist.Index }

func (m memStore) Revoke(_ context.Context, e ...denylist.Entry) error { m.ix.Put(e...); return nil }
func (m memStore) Unrevoke(_ context.Context, k ...denylist.Key) error { m.ix.Delete(k...); return nil }
func (m memStore) Check(_ context.Context, q *denylist.Query) (denylist.Match, error) {
	return m.ix.Check(q, time.Now().Unix()), nil
}
func (m memStore) Get(_ context.Context, k denylist.Key) (denylist.Entry, bool, error) {
	e, ok := m.ix.Get(k, time.Now().Unix())
	return e, ok, nil
}
func (m memStore) List(context.Context, string, int) ([]denylist.Entry, string, error) {
	return nil, "", nil
}
func (m memStore) Status(context.Context) denylist.Status {
	return denylist.Status{Backend: "memory", Healthy: true, Entries: m.ix.Len()}
}
func (m memStore) Close() error { return nil }

func FuzzRevocationRoute(f *testing.F) {
	h := &Handler{
		Routes: []*route.Route{
			{Type: "revoke", Path: "/oauth/revoke"},
			{Type: "logout", Path: "/realms/{realm}/protocol/openid-connect/logout"},
			{Type: "revoke", Path: "/{tenant}/connect/revocation", Namespace: "{http.vars.tenant}"},
		},
		Cookies:      []string{"session"},
		MaxTokenSize: 512,
		MaxBodySize:  1024,
		logger:       zap.NewNop(),
	}
	if err := h.setup(); err != nil {
		f.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		f.Fatal(err)
	}
	h.useStore(memStore{denylist.NewIndex()})
	for _, s := range []struct {
		method, target, ct, body string
	}{
		{"POST", "/oauth/revoke", "application/x-www-form-urlencoded", "token=abc&token_type_hint=access_token"},
		{"POST", "//oauth/./revoke/", "application/x-www-form-urlencoded; charset=utf-8", "token=a%2Bb&token=c"},
		{"POST", "/realms/x/protocol/openid-connect/logout", "application/x-www-form-urlencoded", "refresh_token=a.b.c&id_token_hint="},
		{"POST", "/t%2F1/connect/revocation", "application/x-www-form-urlencoded", "token=" + strings.Repeat("t", 600)},
		{"GET", "/oauth/revoke?token=x", "", ""},
		{"POST", "/api?access_token=x", "application/x-www-form-urlencoded", "access_token=%zz"},
		{"PUT", "/oauth/revoke", "application/json", `{"token":"x"}`},
	} {
		f.Add(s.method, s.target, s.ct, s.body)
	}
	up := &upstream{}
	f.Fuzz(func(t *testing.T, method, target, ct, body string) {
		r, err := http.NewRequest(method, "http://gw"+target, strings.NewReader(body))
		if err != nil || r.URL.Host != "gw" {
			return
		}
		if ct != "" {
			r.Header["Content-Type"] = []string{ct}
		}
		r.Header["Authorization"] = []string{"Bearer " + body}
		res := serve(t, h, up, r)
		switch res.status {
		case http.StatusOK, http.StatusNoContent, http.StatusBadRequest, http.StatusUnauthorized,
			http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		case http.StatusTooManyRequests:
			// The fuzzer's one address holding its quota of the denylist
			// (quota address: 10,000 entries) after thousands of revocations.
			if !strings.Contains(res.body, "quota") {
				t.Fatalf("%s %s (%q, %q): status %d %s", method, target, ct, body, res.status, res.body)
			}
		default:
			t.Fatalf("%s %s (%q, %q): status %d %s", method, target, ct, body, res.status, res.body)
		}
	})
}

// TestUnreadableCharsetSaysCharset: a body in a charset the gateway cannot
// read is refused 415 with an answer that names the charset, not the
// Content-Encoding (FuzzRevocationRoute found the 415; its answer said
// "Content-Encoding" for a charset).
func TestUnreadableCharsetSaysCharset(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}}, nil)
	for _, target := range []string{"/oauth/revoke", "/api"} {
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader("token=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-16")
		res := serve(t, h, &upstream{}, r)
		if res.status != http.StatusUnsupportedMediaType || !strings.Contains(res.body, "charset") || strings.Contains(res.body, "Content-Encoding") {
			t.Errorf("%s: %d %s, want 415 naming the charset", target, res.status, res.body)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader("token=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Content-Encoding", "br")
	if res := serve(t, h, &upstream{}, r); res.status != http.StatusUnsupportedMediaType || !strings.Contains(res.body, "Content-Encoding") {
		t.Errorf("brotli: %d %s, want 415 naming the Content-Encoding", res.status, res.body)
	}
}
