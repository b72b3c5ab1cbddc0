package route

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/ssf"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindCAEP is a receiver of CAEP session-revoked Security Event Tokens (RFC
// 8935).
var kindCAEP = &Kind{
	Methods:         []string{http.MethodPost},
	Read:            readSET,
	Respond:         respondAccepted,
	Verifies:        true,
	NeedsAudience:   true,
	RevokesSessions: true,
}

// CAEPSessionRevoked is the CAEP session-revoked event type.
const CAEPSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"

// caepError is an answer in the RFC 8935 section 2.3 error format:
// {"err": <code>, "description": <text>}.
type caepError struct {
	status      int
	Code        string `json:"err"`
	Description string `json:"description"`
}

func (e *caepError) Error() string { return e.Code + ": " + e.Description }

func (e *caepError) StatusCode() int { return e.status }

func (e *caepError) Answer(w http.ResponseWriter) error {
	body, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, err := w.Write(body)
	return err
}

func caepBad(code, desc string) error {
	return &caepError{status: http.StatusBadRequest, Code: code, Description: desc}
}

// readSET reads a Security Event Token pushed per RFC 8935: the body is the
// compact JWT, Content-Type application/secevent+jwt. It is verified
// (signature, iss, aud, iat, exp if present), its typ header must be
// secevent+jwt if present (or the generic JWT), it must carry an events object and a jti not seen
// before.
//
// A CAEP session-revoked event revokes, with a cut-off of now, what its
// subject names. The subject is the SET's sub_id claim (RFC 9493 subject
// identifier, as the Shared Signals Framework sends it), else the event's
// own "subject" member (earlier CAEP drafts; "subject_type" is read as
// "format"), else the SET's sid claim (a session) or sub claim (a user):
//
//   - format "opaque": id is a session ID (sid) of the SET's issuer;
//   - format "iss_sub": the user sub of iss, which must be the SET's
//     issuer (a transmitter revokes only its own users);
//   - format "complex": its "session" member if present, else its "user"
//     member, each read as above.
//
// Other formats (email, phone_number, ...) cannot name a token and are
// refused with invalid_request. Other event types are acknowledged (202)
// and ignored.
func readSET(e *Env, r *http.Request, rc *Call) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/secevent+jwt" {
		return caepBad("invalid_request", "Content-Type must be application/secevent+jwt")
	}
	body, err := token.ReadBody(r, e.MaxBodySize)
	if err != nil {
		return caepBad("invalid_request", "unreadable body, or larger than max_body_size")
	}
	v, err := e.Verify(r.Context(), strings.TrimSpace(string(body)), jwtverify.Options{RequireIssuedAt: true, RequireAudience: true,
		WaitForNewKey: true}) // a pushed SET is not sent again
	if err != nil {
		return setVerifyError(err)
	}
	if !typIs(v.Type, "secevent+jwt") {
		return caepBad("invalid_request", "typ header "+v.Type+", want secevent+jwt")
	}
	var claims struct {
		Events map[string]json.RawMessage `json:"events"`
		SubID  json.RawMessage            `json:"sub_id"`
	}
	if err := json.Unmarshal(v.Payload, &claims); err != nil || len(claims.Events) == 0 {
		return caepBad("invalid_request", "events must be a JSON object naming at least one event")
	}
	guard, err := e.Recorder.NewReplay(v, func(d string) error { return caepBad("invalid_request", d) })
	if err != nil {
		return err
	}
	event, ok := claims.Events[CAEPSessionRevoked]
	if !ok {
		return nil // no event it acts on: acknowledged, ignored
	}
	var ev struct {
		Subject json.RawMessage `json:"subject"`
	}
	if !isJSONObject(event) || json.Unmarshal(event, &ev) != nil {
		return caepBad("invalid_request", "the session-revoked event must be a JSON object")
	}
	subject := claims.SubID
	if subject == nil {
		subject = ev.Subject
	}
	c, err := subjectCutoff(v, subject)
	if err != nil {
		return caepBad("invalid_request", err.Error())
	}
	c.At = e.Now()
	rc.Cutoffs, rc.Replay = []engine.Cutoff{c}, guard
	return nil
}

// subjectID is an RFC 9493 subject identifier, with the fields of the
// formats that name a session or a user.
type subjectID struct {
	Format      string     `json:"format"`
	SubjectType string     `json:"subject_type"` // earlier drafts
	ID          string     `json:"id"`
	Iss         string     `json:"iss"`
	Sub         string     `json:"sub"`
	Session     *subjectID `json:"session"`
	User        *subjectID `json:"user"`
}

// subjectCutoff maps a subject identifier (raw JSON; nil when the SET has
// none) to the session or user it names. See readSET.
func subjectCutoff(v *jwtverify.Token, raw json.RawMessage) (engine.Cutoff, error) {
	iss := v.Claims.Issuer
	if raw == nil {
		switch {
		case v.Claims.SessionID != "":
			return engine.Cutoff{Kind: denylist.KindSession, Issuer: iss, ID: v.Claims.SessionID}, nil
		case v.Claims.Subject != "":
			return engine.Cutoff{Kind: denylist.KindUser, Issuer: iss, ID: v.Claims.Subject}, nil
		}
		return engine.Cutoff{}, errors.New("no subject: want sub_id, the event's subject, sid or sub")
	}
	var s subjectID
	if err := json.Unmarshal(raw, &s); err != nil {
		return engine.Cutoff{}, errors.New("the subject is not a subject identifier object")
	}
	return s.cutoff(iss)
}

func (s *subjectID) cutoff(iss string) (engine.Cutoff, error) {
	format := s.Format
	if format == "" {
		format = s.SubjectType
	}
	switch strings.ReplaceAll(format, "-", "_") {
	case "opaque":
		if s.ID != "" {
			return engine.Cutoff{Kind: denylist.KindSession, Issuer: iss, ID: s.ID}, nil
		}
	case "iss_sub":
		if s.Iss != iss {
			return engine.Cutoff{}, errors.New("subject iss " + strconv.Quote(s.Iss) + " is not the SET's issuer")
		}
		if s.Sub != "" {
			return engine.Cutoff{Kind: denylist.KindUser, Issuer: iss, ID: s.Sub}, nil
		}
	case "complex":
		switch {
		case s.Session != nil:
			return s.Session.cutoff(iss)
		case s.User != nil:
			return s.User.cutoff(iss)
		}
		return engine.Cutoff{}, errors.New("complex subject names neither a session nor a user")
	default:
		return engine.Cutoff{}, errors.New("subject format " + strconv.Quote(format) + " is not supported: want opaque (a session ID), iss_sub or complex")
	}
	return engine.Cutoff{}, errors.New("subject format " + format + " without its id, or sub")
}

// setVerifyError maps a verification failure to the RFC 8935 error code:
// ssf.VerifyError's mapping, shared with the ssf block's receivers (503
// temporarily_unavailable when the keys could not be fetched, else 400
// invalid_issuer, invalid_audience, invalid_key or invalid_request).
//
// The rest of this route's reading stays its own rather than ssf's: it
// accepts typ JWT beside secevent+jwt, guards replays by jti in the
// denylist (no txn, no State), takes the SET's sid or sub when there is
// no subject, acts on session-revoked alone, and refuses (400) the
// subject formats that name no token, which an ssf receiver acknowledges
// and ignores; its tests (jwt_test.go) hold those answers.
func setVerifyError(err error) error {
	e := ssf.VerifyError(err)
	return &caepError{status: e.Status, Code: e.Code, Description: e.Description}
}
