// Package subjectid maps RFC 9493 subject identifiers (the sub_id of a
// Security Event Token, of a Global Token Revocation request) to the
// cut-offs the checker looks up: a session (sid) or a user (iss and sub)
// of a token issuer. It is shared by ssf/ (CAEP and RISC events) and the
// global_token_revocation route (caddymodule/route/global_token_revocation.go),
// so that a subject means the same whichever standard carries it; free of
// Caddy, it reads and stores nothing itself.
//
// The claim each format meets:
//
//   - iss_sub: the user whose token has iss = its iss and sub = its sub
//     (denylist.KindUser; iss must be one of Subjects.TokenIssuers, else
//     an *UnknownIssuerError);
//   - opaque: in ScopeSession, the session whose token has sid = id
//     (denylist.KindSession); in ScopeUser, the user with sub = id; the
//     issuer is Subjects.TokenIssuers[0];
//   - email: with Subjects.EmailIsSub, the user with sub = email (issuer
//     TokenIssuers[0]); else a *NotMappedError: a token's email claim is
//     not a key the checker looks up;
//   - complex: its session member in ScopeSession when present, else its
//     user member (each read as above); tenant and the others are not read;
//   - aliases: the first identifier that maps;
//   - phone_number, account, did, uri and any other format: a
//     *NotMappedError with UnsupportedFormat set, no token claim holds them.
package subjectid

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

// Subjects says whose identifiers a subject may name, and how identifiers
// that carry no issuer map to the claims the checker looks up.
type Subjects struct {
	// TokenIssuers are the iss of the tokens the subjects belong to: an
	// iss_sub subject must name one of them (a transmitter, or a caller,
	// revokes only its own users). The first is the issuer of subjects
	// that carry none (opaque, email).
	TokenIssuers []string
	// EmailIsSub: the issuer's sub claim is the user's e-mail address, so
	// an email subject names a user. Off, an email subject maps to
	// nothing: a token's e-mail is not a key the checker looks up.
	EmailIsSub bool
}

// Scope is what a subject is read as naming.
type Scope int

const (
	// ScopeSession: a session when the subject names one, else its user.
	ScopeSession Scope = iota + 1
	// ScopeUser: every token of the user.
	ScopeUser
)

// NotMappedError is a well-formed subject that names no key the checker
// looks up.
type NotMappedError struct {
	// Reason says why, for logs and answers.
	Reason string
	// UnsupportedFormat: the format itself (phone_number, an unknown one)
	// names no token claim, whatever the configuration.
	UnsupportedFormat bool
}

func (e *NotMappedError) Error() string { return e.Reason }

// UnknownIssuerError is an iss_sub subject naming a user of an issuer that
// is not one of Subjects.TokenIssuers.
type UnknownIssuerError struct {
	// Issuer is the iss the subject names.
	Issuer string
}

func (e *UnknownIssuerError) Error() string {
	return "iss_sub subject of issuer " + strconv.Quote(e.Issuer) + ", not one of the token issuers"
}

// ID is an RFC 9493 subject identifier: the members of the formats read.
type ID struct {
	Format      string `json:"format"`
	SubjectType string `json:"subject_type"` // CAEP drafts before SSF 1.0
	ID          string `json:"id"`
	Iss         string `json:"iss"`
	Sub         string `json:"sub"`
	Email       string `json:"email"`
	Session     *ID    `json:"session"`
	User        *ID    `json:"user"`
	Identifiers []ID   `json:"identifiers"` // aliases
}

// Cutoff maps the subject identifier raw (JSON) to the cut-off of a
// session or a user, its At left zero. A malformed subject is a plain
// error; see NotMappedError and UnknownIssuerError for the others.
func (s *Subjects) Cutoff(raw json.RawMessage, sc Scope) (engine.Cutoff, error) {
	var id ID
	if err := json.Unmarshal(raw, &id); err != nil {
		return engine.Cutoff{}, errors.New("the subject is not a subject identifier object")
	}
	return s.cutoff(&id, sc, 0)
}

func (s *Subjects) cutoff(id *ID, sc Scope, depth int) (engine.Cutoff, error) {
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
		if !slices.Contains(s.TokenIssuers, id.Iss) {
			return engine.Cutoff{}, &UnknownIssuerError{Issuer: id.Iss}
		}
		return engine.Cutoff{Kind: denylist.KindUser, Issuer: id.Iss, ID: id.Sub}, nil
	case "opaque":
		if id.ID == "" {
			return engine.Cutoff{}, errors.New("opaque subject without id")
		}
		if sc == ScopeSession {
			return engine.Cutoff{Kind: denylist.KindSession, Issuer: dflt, ID: id.ID}, nil
		}
		return engine.Cutoff{Kind: denylist.KindUser, Issuer: dflt, ID: id.ID}, nil
	case "email":
		if !s.EmailIsSub {
			return engine.Cutoff{}, &NotMappedError{Reason: "email subject, and the token issuer's sub is not the e-mail address"}
		}
		if id.Email == "" {
			return engine.Cutoff{}, errors.New("email subject without email")
		}
		return engine.Cutoff{Kind: denylist.KindUser, Issuer: dflt, ID: id.Email}, nil
	case "complex":
		if sc == ScopeSession && id.Session != nil {
			return s.cutoff(id.Session, ScopeSession, depth+1)
		}
		if id.User != nil {
			return s.cutoff(id.User, ScopeUser, depth+1)
		}
		return engine.Cutoff{}, &NotMappedError{Reason: "complex subject names neither a session nor a user"}
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
	return engine.Cutoff{}, &NotMappedError{Reason: "subject format " + strconv.Quote(format) + " names no token claim", UnsupportedFormat: true}
}
