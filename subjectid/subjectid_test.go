package subjectid

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

// TestCutoffErrors: each failure says which kind it is, for the callers
// that answer them differently (ssf ignores NotMappedError; the
// global_token_revocation route answers 400, 404 or 422).
func TestCutoffErrors(t *testing.T) {
	const iss = "https://idp.example.com/"
	s := Subjects{TokenIssuers: []string{iss}}
	for _, c := range []struct {
		name, raw   string
		sc          Scope
		want        engine.Cutoff
		unsupported bool // *NotMappedError with UnsupportedFormat
		notMapped   bool // *NotMappedError
		unknownIss  string
		malformed   bool
	}{
		{name: "iss_sub", raw: `{"format":"iss_sub","iss":"` + iss + `","sub":"u1"}`, sc: ScopeUser, want: engine.Cutoff{Kind: denylist.KindUser, Issuer: iss, ID: "u1"}},
		{name: "opaque user", raw: `{"format":"opaque","id":"u2"}`, sc: ScopeUser, want: engine.Cutoff{Kind: denylist.KindUser, Issuer: iss, ID: "u2"}},
		{name: "opaque session", raw: `{"format":"opaque","id":"s2"}`, sc: ScopeSession, want: engine.Cutoff{Kind: denylist.KindSession, Issuer: iss, ID: "s2"}},
		{name: "complex user", raw: `{"format":"complex","user":{"format":"opaque","id":"u3"},"session":{"format":"opaque","id":"s3"}}`, sc: ScopeUser, want: engine.Cutoff{Kind: denylist.KindUser, Issuer: iss, ID: "u3"}},
		{name: "another issuer", raw: `{"format":"iss_sub","iss":"https://other.example.com/","sub":"u1"}`, sc: ScopeUser, unknownIss: "https://other.example.com/"},
		{name: "email", raw: `{"format":"email","email":"a@example.com"}`, sc: ScopeUser, notMapped: true},
		{name: "complex session only", raw: `{"format":"complex","session":{"format":"opaque","id":"s3"}}`, sc: ScopeUser, notMapped: true},
		{name: "phone number", raw: `{"format":"phone_number","phone_number":"+12065550100"}`, sc: ScopeUser, notMapped: true, unsupported: true},
		{name: "no format", raw: `{"id":"u1"}`, sc: ScopeUser, notMapped: true, unsupported: true},
		{name: "iss_sub without sub", raw: `{"format":"iss_sub","iss":"` + iss + `"}`, sc: ScopeUser, malformed: true},
		{name: "not an object", raw: `"u1"`, sc: ScopeUser, malformed: true},
	} {
		got, err := s.Cutoff(json.RawMessage(c.raw), c.sc)
		var nm *NotMappedError
		var ui *UnknownIssuerError
		switch {
		case c.notMapped:
			if !errors.As(err, &nm) || nm.UnsupportedFormat != c.unsupported {
				t.Errorf("%s: %v; want not mapped (unsupported format: %v)", c.name, err, c.unsupported)
			}
		case c.unknownIss != "":
			if !errors.As(err, &ui) || ui.Issuer != c.unknownIss {
				t.Errorf("%s: %v; want unknown issuer %s", c.name, err, c.unknownIss)
			}
		case c.malformed:
			if err == nil || errors.As(err, &nm) || errors.As(err, &ui) {
				t.Errorf("%s: %+v, %v; want a plain error", c.name, got, err)
			}
		default:
			if err != nil || got != c.want {
				t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
			}
		}
	}
}
