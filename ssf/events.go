package ssf

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/subjectid"
)

// Event types the receiver acts on or reads.
const (
	caepPrefix = "https://schemas.openid.net/secevent/caep/event-type/"
	riscPrefix = "https://schemas.openid.net/secevent/risc/event-type/"
	ssfPrefix  = "https://schemas.openid.net/secevent/ssf/event-type/"

	// CAEPSessionRevoked: a session (or every session of a user) ended.
	CAEPSessionRevoked = caepPrefix + "session-revoked"
	// CAEPCredentialChange: a credential was created, revoked, updated or
	// deleted.
	CAEPCredentialChange = caepPrefix + "credential-change"
	// RISCAccountDisabled, RISCAccountPurged: the account can no longer be
	// used.
	RISCAccountDisabled = riscPrefix + "account-disabled"
	RISCAccountPurged   = riscPrefix + "account-purged"
	// RISCCredentialCompromise: a credential of the account leaked.
	RISCCredentialCompromise = riscPrefix + "credential-compromise"
	// RISCSessionsRevoked: every session of the account ended (RISC's
	// older name for it).
	RISCSessionsRevoked = riscPrefix + "sessions-revoked"
	// RISCTokensRevoked: every token of the account was revoked.
	RISCTokensRevoked = riscPrefix + "tokens-revoked"
	// RISCIdentifierChanged: the subject's identifier changed; the old one
	// must no longer authenticate.
	RISCIdentifierChanged = riscPrefix + "identifier-changed"
	// SSFVerification answers a verification request.
	SSFVerification = ssfPrefix + "verification"
	// SSFStreamUpdated says the stream's status changed.
	SSFStreamUpdated = ssfPrefix + "stream-updated"
)

// RevocationEvents are the event types that revoke tokens, which a
// stream asks for by default.
var RevocationEvents = []string{CAEPSessionRevoked, CAEPCredentialChange, RISCAccountDisabled, RISCAccountPurged,
	RISCCredentialCompromise, RISCSessionsRevoked, RISCTokensRevoked, RISCIdentifierChanged}

// eventScope is what an event type revokes: 0 when nothing.
func eventScope(typ string) subjectid.Scope {
	switch typ {
	case CAEPSessionRevoked:
		return subjectid.ScopeSession
	case CAEPCredentialChange, RISCAccountDisabled, RISCAccountPurged, RISCCredentialCompromise,
		RISCSessionsRevoked, RISCTokensRevoked, RISCIdentifierChanged:
		return subjectid.ScopeUser
	}
	return 0
}

// Subjects says whose identifiers a subject may name, and how identifiers
// that carry no issuer map to the claims the checker looks up: the
// mapping of subjectid (shared with the global_token_revocation route),
// whose godoc says which claim each format meets.
type Subjects subjectid.Subjects

// errIgnored marks a subject or event the receiver cannot turn into a
// cut-off: the event is acknowledged and counted as ignored.
type errIgnored struct{ reason string }

func (e *errIgnored) Error() string { return e.reason }

func ignored(reason string) error { return &errIgnored{reason} }

// IgnoredReason returns the reason an event was ignored, or "" when err
// is not such a reason.
func IgnoredReason(err error) string {
	var ig *errIgnored
	if errors.As(err, &ig) {
		return ig.reason
	}
	return ""
}

// cutoffs maps event typ of a SET, with its event body and the SET's
// sub_id (nil when absent), to the cut-offs it asks for, at time at.
func (s *Subjects) cutoffs(typ string, body, subID json.RawMessage, at time.Time) ([]engine.Cutoff, error) {
	sc := eventScope(typ)
	if sc == 0 {
		return nil, ignored("event type not acted on")
	}
	var ev struct {
		Subject    json.RawMessage `json:"subject"`
		ChangeType string          `json:"change_type"`
		CredType   string          `json:"credential_type"`
	}
	if len(body) > 0 && string(body) != "null" {
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, errors.New("event " + typ + " is not a JSON object")
		}
	}
	if typ == CAEPCredentialChange && !revokingChange(ev.ChangeType, ev.CredType) {
		return nil, ignored("credential change " + ev.ChangeType + " of " + ev.CredType + " revokes nothing")
	}
	raw := subID
	if raw == nil {
		raw = ev.Subject
	}
	if raw == nil {
		return nil, errors.New("no subject: want the SET's sub_id or the event's subject")
	}
	c, err := (*subjectid.Subjects)(s).Cutoff(raw, sc)
	var nm *subjectid.NotMappedError
	if errors.As(err, &nm) {
		return nil, ignored(nm.Reason)
	}
	if err != nil {
		return nil, err
	}
	c.At = at
	return []engine.Cutoff{c}, nil
}

// revokingChange reports whether a CAEP credential change revokes the
// user's tokens: a credential revoked or deleted, or a password updated
// (a reset). A created credential, or another credential updated (a
// renamed passkey), revokes nothing.
func revokingChange(change, cred string) bool {
	switch change {
	case "revoke", "delete":
		return true
	case "update":
		return cred == "password" || cred == "pin"
	}
	return false
}
