package ssf

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

func TestEventCutoffs(t *testing.T) {
	at := time.Unix(1700000000, 0)
	subjects := Subjects{TokenIssuers: []string{idpTenant, idpRoot}}
	session := func(id string) engine.Cutoff {
		return engine.Cutoff{Kind: denylist.KindSession, Issuer: idpTenant, ID: id, At: at}
	}
	user := func(iss, id string) engine.Cutoff {
		return engine.Cutoff{Kind: denylist.KindUser, Issuer: iss, ID: id, At: at}
	}
	const issSub = `{"format":"iss_sub","iss":"https://idp.example.com/","sub":"u1"}`
	for _, c := range []struct {
		name, typ, body, subID string
		email                  bool
		want                   *engine.Cutoff
		ignored                bool // else an error when want is nil
	}{
		{"session-revoked opaque: the sid", CAEPSessionRevoked, `{}`, `{"format":"opaque","id":"s1"}`, false, ptr(session("s1")), false},
		{"session-revoked complex: its session", CAEPSessionRevoked, `{}`, `{"format":"complex","session":{"format":"opaque","id":"s1"},"user":` + issSub + `}`, false, ptr(session("s1")), false},
		{"session-revoked complex user alone", CAEPSessionRevoked, `{}`, `{"format":"complex","user":` + issSub + `}`, false, ptr(user(idpRoot, "u1")), false},
		{"session-revoked iss_sub: the user", CAEPSessionRevoked, `{}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"subject in the event (CAEP drafts)", CAEPSessionRevoked, `{"subject":{"subject_type":"iss-sub","iss":"https://idp.example.com/","sub":"u1"}}`, ``, false, ptr(user(idpRoot, "u1")), false},
		{"account-disabled opaque: the sub", RISCAccountDisabled, `{"reason":"hijacking"}`, `{"format":"opaque","id":"u2"}`, false, ptr(user(idpTenant, "u2")), false},
		{"account-disabled complex: its user", RISCAccountDisabled, `{}`, `{"format":"complex","session":{"format":"opaque","id":"s1"},"user":` + issSub + `}`, false, ptr(user(idpRoot, "u1")), false},
		{"account-purged", RISCAccountPurged, `{}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"credential-compromise", RISCCredentialCompromise, `{"credential_type":"password"}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"sessions-revoked", RISCSessionsRevoked, `{}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"tokens-revoked", RISCTokensRevoked, `{}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"identifier-changed: the old identifier", RISCIdentifierChanged, `{"new-value":"u9"}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"credential revoked", CAEPCredentialChange, `{"change_type":"revoke","credential_type":"fido2-roaming"}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"credential deleted", CAEPCredentialChange, `{"change_type":"delete","credential_type":"x509"}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"password reset", CAEPCredentialChange, `{"change_type":"update","credential_type":"password"}`, issSub, false, ptr(user(idpRoot, "u1")), false},
		{"passkey renamed", CAEPCredentialChange, `{"change_type":"update","credential_type":"fido2-platform"}`, issSub, false, nil, true},
		{"credential created", CAEPCredentialChange, `{"change_type":"create","credential_type":"password"}`, issSub, false, nil, true},
		{"email, sub is not the e-mail", RISCAccountDisabled, `{}`, `{"format":"email","email":"a@example.com"}`, false, nil, true},
		{"email, sub is the e-mail", RISCAccountDisabled, `{}`, `{"format":"email","email":"a@example.com"}`, true, ptr(user(idpTenant, "a@example.com")), false},
		{"phone number", RISCAccountDisabled, `{}`, `{"format":"phone_number","phone_number":"+12065550100"}`, false, nil, true},
		{"aliases: the first that names a claim", RISCAccountDisabled, `{}`, `{"format":"aliases","identifiers":[{"format":"phone_number","phone_number":"+1"},` + issSub + `]}`, false, ptr(user(idpRoot, "u1")), false},
		{"iss_sub of another issuer", RISCAccountDisabled, `{}`, `{"format":"iss_sub","iss":"https://evil.example.com/","sub":"u1"}`, false, nil, false},
		{"iss_sub without sub", RISCAccountDisabled, `{}`, `{"format":"iss_sub","iss":"https://idp.example.com/"}`, false, nil, false},
		{"no subject", RISCAccountDisabled, `{}`, ``, false, nil, false},
		{"an event not acted on", "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change", `{}`, issSub, false, nil, true},
	} {
		s := subjects
		s.EmailIsSub = c.email
		var subID json.RawMessage
		if c.subID != "" {
			subID = json.RawMessage(c.subID)
		}
		got, err := s.cutoffs(c.typ, json.RawMessage(c.body), subID, at)
		switch {
		case c.want != nil:
			if err != nil || len(got) != 1 || got[0] != *c.want {
				t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, *c.want)
			}
		case c.ignored:
			if IgnoredReason(err) == "" {
				t.Errorf("%s: %+v, %v; want ignored", c.name, got, err)
			}
		default:
			if err == nil || IgnoredReason(err) != "" {
				t.Errorf("%s: %+v, %v; want an error", c.name, got, err)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
