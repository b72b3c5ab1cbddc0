package ssf

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
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

// scope is what an event type revokes.
type scope int

const (
	scopeNone    scope = iota
	scopeSession       // a session when the subject names one, else its user
	scopeUser          // every token of the user
)

func eventScope(typ string) scope {
	switch typ {
	case CAEPSessionRevoked:
		return scopeSession
	case CAEPCredentialChange, RISCAccountDisabled, RISCAccountPurged, RISCCredentialCompromise,
		RISCSessionsRevoked, RISCTokensRevoked, RISCIdentifierChanged:
		return scopeUser
	}
	return scopeNone
}

// Subjects says whose identifiers a subject may name, and how identifiers
// that carry no issuer map to the claims the checker looks up.
type Subjects struct {
	// TokenIssuers are the iss of the tokens the transmitter's subjects
	// belong to: an iss_sub subject must name one of them (a transmitter
	// revokes only its own users). The first is the issuer of subjects that
	// carry none (opaque, email).
	TokenIssuers []string
	// EmailIsSub: the issuer's sub claim is the user's e-mail address, so
	// an email subject names a user. Off, an email subject is ignored: a
	// token's e-mail is not a key the checker looks up.
	EmailIsSub bool
}

// subjectID is an RFC 9493 subject identifier, the members of the formats
// the receiver reads.
type subjectID struct {
	Format      string      `json:"format"`
	SubjectType string      `json:"subject_type"` // CAEP drafts before SSF 1.0
	ID          string      `json:"id"`
	Iss         string      `json:"iss"`
	Sub         string      `json:"sub"`
	Email       string      `json:"email"`
	Session     *subjectID  `json:"session"`
	User        *subjectID  `json:"user"`
	Identifiers []subjectID `json:"identifiers"` // aliases
}

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
	if sc == scopeNone {
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
	var sid subjectID
	if err := json.Unmarshal(raw, &sid); err != nil {
		return nil, errors.New("the subject is not a subject identifier object")
	}
	c, err := s.cutoff(&sid, sc, 0)
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

// cutoff maps subject identifier id to the cut-off of a session or a user.
func (s *Subjects) cutoff(id *subjectID, sc scope, depth int) (engine.Cutoff, error) {
	if depth > 2 {
		return engine.Cutoff{}, errors.New("subject nested too deep")
	}
	format := id.Format
	if format == "" {
		format = id.SubjectType
	}
	var dflt string
	if len(s.TokenIssuers) > 0 {
		dflt = s.TokenIssuers[0]
	}
	switch strings.ReplaceAll(format, "-", "_") {
	case "iss_sub":
		if id.Sub == "" {
			return engine.Cutoff{}, errors.New("iss_sub subject without sub")
		}
		if !s.knownIssuer(id.Iss) {
			return engine.Cutoff{}, errors.New("iss_sub subject of issuer " + strconv.Quote(id.Iss) + ", not one of the token issuers")
		}
		return engine.Cutoff{Kind: denylist.KindUser, Issuer: id.Iss, ID: id.Sub}, nil
	case "opaque":
		if id.ID == "" {
			return engine.Cutoff{}, errors.New("opaque subject without id")
		}
		if sc == scopeSession {
			return engine.Cutoff{Kind: denylist.KindSession, Issuer: dflt, ID: id.ID}, nil
		}
		return engine.Cutoff{Kind: denylist.KindUser, Issuer: dflt, ID: id.ID}, nil
	case "email":
		if !s.EmailIsSub {
			return engine.Cutoff{}, ignored("email subject, and the token issuer's sub is not the e-mail address")
		}
		if id.Email == "" {
			return engine.Cutoff{}, errors.New("email subject without email")
		}
		return engine.Cutoff{Kind: denylist.KindUser, Issuer: dflt, ID: id.Email}, nil
	case "complex":
		if sc == scopeSession && id.Session != nil {
			return s.cutoff(id.Session, scopeSession, depth+1)
		}
		if id.User != nil {
			return s.cutoff(id.User, scopeUser, depth+1)
		}
		return engine.Cutoff{}, ignored("complex subject names neither a session nor a user")
	case "aliases":
		var first error
		for i := range id.Identifiers {
			c, err := s.cutoff(&id.Identifiers[i], sc, depth+1)
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		if first == nil {
			first = errors.New("aliases subject without identifiers")
		}
		return engine.Cutoff{}, first
	}
	return engine.Cutoff{}, ignored("subject format " + strconv.Quote(format) + " names no token claim")
}

func (s *Subjects) knownIssuer(iss string) bool {
	for _, t := range s.TokenIssuers {
		if t == iss {
			return true
		}
	}
	return false
}
