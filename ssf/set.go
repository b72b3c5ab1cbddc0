package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// SET is a verified Security Event Token (RFC 8417) as the receiver read
// it: what the callback stores.
type SET struct {
	// JTI is the SET's jti; TXN its txn ("" when absent).
	JTI, TXN string
	// Issuer is the transmitter's issuer.
	Issuer string
	// IssuedAt is the SET's iat.
	IssuedAt time.Time
	// Events are the SET's events, each read.
	Events []Event
	// Cutoffs are the cut-offs of every event, what the callback stores.
	Cutoffs []engine.Cutoff
}

// Event is one event of a SET.
type Event struct {
	// Type is the event type URI.
	Type string
	// Cutoffs are what the event revokes (none when Ignored is set).
	Cutoffs []engine.Cutoff
	// Ignored, when not "", says why the event revokes nothing.
	Ignored string
	// Status and State are a stream-updated event's status and a
	// verification event's state.
	Status, State string
}

// EventKey names a SET for de-duplication: its txn, which is the same
// for every SET that carries one event (SSF 1.0 section 4.1.1), else its
// jti.
func EventKey(jti, txn string) string {
	if txn != "" {
		return "txn:" + txn
	}
	return "jti:" + jti
}

// Key is the SET's EventKey.
func (s *SET) Key() string { return EventKey(s.JTI, s.TXN) }

// SETError is a SET refused, in the RFC 8935 section 2.3 error format
// (which RFC 8936's setErrs reuses).
type SETError struct {
	// Status is the HTTP status a push is answered with.
	Status int `json:"-"`
	// Code is the err member: invalid_request, invalid_key,
	// invalid_issuer, invalid_audience, authentication_failed,
	// access_denied; temporarily_unavailable when the receiver may succeed
	// later (the keys or the store failed).
	Code string `json:"err"`
	// Description says what is wrong.
	Description string `json:"description"`
}

func (e *SETError) Error() string { return e.Code + ": " + e.Description }

func badSET(code, desc string) *SETError {
	return &SETError{Status: http.StatusBadRequest, Code: code, Description: desc}
}

// unavailable is a 503 temporarily_unavailable: the SET may succeed when
// delivered again.
func unavailable(desc string) *SETError {
	return &SETError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: desc}
}

// retryable reports whether the SET may succeed when delivered again: the
// transmitter's keys or the store failed, not the SET.
func (e *SETError) retryable() bool { return e.Status >= 500 }

// VerifyError maps a jwtverify failure to its RFC 8935 error: 503
// temporarily_unavailable when the keys could not be fetched, else 400
// with invalid_issuer, invalid_audience, invalid_key or invalid_request.
// caddymodule/route/caep.go's caep route answers with it too.
func VerifyError(err error) *SETError {
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		return unavailable("the transmitter's signing keys could not be fetched; try again later")
	case errors.Is(err, jwtverify.ErrUnknownIssuer), errors.Is(err, jwtverify.ErrIssuer):
		return badSET("invalid_issuer", err.Error())
	case errors.Is(err, jwtverify.ErrAudience):
		return badSET("invalid_audience", err.Error())
	case errors.Is(err, jwtverify.ErrAlgorithm), errors.Is(err, jwtverify.ErrNoKey), errors.Is(err, jwtverify.ErrSignature):
		return badSET("invalid_key", err.Error())
	}
	return badSET("invalid_request", err.Error())
}

// parse verifies raw and reads its events: the signature against the
// transmitter's JWKS, iss, aud, iat; typ secevent+jwt when present; a jti;
// events an object of objects. wait is set for a pushed SET, which is not
// sent again (see jwtverify.Options.WaitForNewKey).
func (r *Receiver) parse(ctx context.Context, raw string, wait bool) (*SET, *SETError) {
	v, err := r.verifier.Verify(ctx, strings.TrimSpace(raw), jwtverify.Options{RequireIssuedAt: true, RequireAudience: true, WaitForNewKey: wait})
	if err != nil {
		return nil, VerifyError(err)
	}
	if typ := strings.ToLower(v.Type); typ != "" && typ != "secevent+jwt" && typ != "application/secevent+jwt" {
		return nil, badSET("invalid_request", "typ header "+v.Type+", want secevent+jwt")
	}
	var claims struct {
		Events map[string]json.RawMessage `json:"events"`
		SubID  json.RawMessage            `json:"sub_id"`
		TXN    json.RawMessage            `json:"txn"`
	}
	if err := json.Unmarshal(v.Payload, &claims); err != nil || len(claims.Events) == 0 {
		return nil, badSET("invalid_request", "events must be a JSON object naming at least one event")
	}
	if v.Claims.ID == "" {
		return nil, badSET("invalid_request", "the SET has no jti")
	}
	txn, ok := txnString(claims.TXN)
	if !ok {
		return nil, badSET("invalid_request", "txn must be a string (or a number, as CAEP's examples write it)")
	}
	set := &SET{JTI: v.Claims.ID, TXN: txn, Issuer: v.Claims.Issuer}
	if v.Claims.IssuedAt != nil {
		set.IssuedAt = v.Claims.IssuedAt.Time()
	}
	now := r.now()
	for typ, body := range claims.Events {
		ev := Event{Type: typ}
		switch typ {
		case SSFVerification, SSFStreamUpdated:
			var m struct {
				State  string `json:"state"`
				Status string `json:"status"`
			}
			if json.Unmarshal(body, &m) != nil {
				return nil, badSET("invalid_request", "event "+typ+" is not a JSON object")
			}
			ev.State, ev.Status = m.State, m.Status
			ev.Ignored = "stream management event"
		default:
			c, err := r.cfg.Subjects.cutoffs(typ, body, claims.SubID, now)
			if err != nil {
				if ev.Ignored = IgnoredReason(err); ev.Ignored == "" {
					return nil, badSET("invalid_request", err.Error())
				}
			}
			ev.Cutoffs = c
			set.Cutoffs = append(set.Cutoffs, c...)
		}
		set.Events = append(set.Events, ev)
	}
	return set, nil
}

// txnString reads txn: a string (RFC 8417 section 2.2), or a number as
// the CAEP specification's examples write it ("8675309" either way).
func txnString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}
