package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/statuslist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// CheckRequest checks every token r carries. It returns errRevoked when one
// is revoked, the answer to give when r cannot be read, or the store's error
// when the denylist cannot be read and the fail mode is closed.
//
// It reads r in three steps: a request two parsers could read two ways is
// refused (token.Unambiguous); the tokens of the channels an upstream reads
// by name are each checked (token.Sources); every other token-shaped string
// anywhere in r is checked when it could be revoked (token.Candidates,
// engine.Checker.CheckCandidate).
func (h *Runtime) CheckRequest(r *http.Request) error {
	return h.checkRequestExcept(r, nil)
}

// checkRequestExcept is checkRequest for a forward-mode revocation call:
// the strings of the tokens it revokes (targets) are not checked where
// the call's parameters are (the target and the body: a call to revoke a
// token already revoked is the upstream's to answer, RFC 7009 §2.2); they
// still are in every header and in the named channels, where they would
// be credentials.
func (h *Runtime) checkRequestExcept(r *http.Request, targets []token.Token) error {
	c := requestCheck{h: h, r: r}
	// What the check finds is left in c.out and set on the request's
	// replacer once, whichever way it ends (placeholders.go).
	defer c.out.publish(r)
	if err := token.Unambiguous(r, &h.Strict); err != nil {
		countRejected(reasonAmbiguous)
		c.out.invalid(reasonAmbiguous)
		return ambiguousAnswer(err)
	}
	var buf [4]token.Found
	found, body, err := h.Sources.ExtractBody(r, buf[:0])
	if err != nil {
		countExtractError(err)
		c.out.invalid(extractReason(err))
		return route.ExtractError(err)
	}
	c.grant = isGrantRequest(r, body)
	for i := range found {
		if err := c.check(found[i].Raw, token.Where{Part: found[i].Source}, nil); err != nil || c.revoked {
			return c.end(err)
		}
	}
	if err := c.checkCandidates(body, found, targets); err != nil || c.revoked {
		return c.end(err)
	}
	if err := c.checkKeysAlone(); err != nil || c.revoked { // request_keys.go
		return c.end(err)
	}
	if !c.checked {
		c.out.result = ResultNone
		return nil
	}
	observeCheck(c.Start, "")
	h.Conns.keepBodyTokens(r, found) // live_connections.go
	if c.out.result == nil {         // not fail_open
		c.out.result = ResultPass
	}
	c.out.ns = c.ns
	return nil
}

// checkCandidates checks every token-shaped string of the request outside
// the named channels (found): those of its target and body, and those of
// each header value whose summary says one could be revoked
// (token.SummarizeHeaderValue: a value with a JWT-shaped string, or with
// a string of a length some revoked opaque token has).
func (c *requestCheck) checkCandidates(body []byte, found []token.Found, targets []token.Token) error {
	r, checker := c.r, c.h.Checker
	var skip token.LengthSet // lengths no revoked token has: not even handed out
	if len(body) > 0 {
		checker.SkippableLengths(c.ctx(), &c.cands, &skip)
	}
	var cbuf [16]token.Candidate
	cands := token.TargetAndBodyCandidates(r, body, cbuf[:0], &skip)
	c.tokenShaped = c.tokenShaped || len(cands) > 0
	if !checker.Generational(&c.cands) {
		// Redis in direct mode: the lengths asked in batches (an error is
		// met again, and handled, by the check of each string).
		var lbuf [32]int
		c.noteStoreError(checker.AskLengths(c.ctx(), &c.cands, candidateLengths(lbuf[:0], r, cands)))
	}
	cands = c.headerCandidates(r.Host, "Host", cands)
	for name, values := range r.Header {
		for _, v := range values {
			cands = c.headerCandidates(v, name, cands)
		}
	}
	for _, cand := range cands {
		if cand.Unreadable {
			// Compressed data past what the scan reads: a token may be in
			// what it did not read.
			countExtractError(token.ErrUnreadableBody)
			c.out.invalid(extractReason(token.ErrUnreadableBody))
			return errUnreadableCompressed
		}
		if foundRaw(found, cand.S) || cand.Where.Part != "header" && inTargets(targets, cand.S) {
			continue
		}
		if err := c.check(cand.S, cand.Where, &cand); err != nil || c.revoked {
			return err
		}
	}
	return nil
}

// headerCandidates appends to cands the candidates of the header value v
// when its summary says one could be revoked.
func (c *requestCheck) headerCandidates(v, name string, cands []token.Candidate) []token.Candidate {
	sum := token.SummarizeHeaderValue(v)
	if !sum.Scan {
		if len(sum.Lengths()) == 0 {
			return cands
		}
		c.tokenShaped = true
		marked, err := c.h.Checker.AnyLengthMarked(c.ctx(), &c.cands, sum.Lengths())
		c.noteStoreError(err)
		if err == nil && !marked {
			return cands
		}
	}
	c.tokenShaped = true
	return sum.AppendCandidates(v, token.Where{Part: "header", Name: name}, cands)
}

// candidateLengths appends the lengths of cands and of r's header values'
// candidates: what a store without a generation is asked at once.
func candidateLengths(dst []int, r *http.Request, cands []token.Candidate) []int {
	for i := range cands {
		if !cands[i].JWT {
			dst = append(dst, len(cands[i].S))
		}
	}
	add := func(v string) {
		sum := token.SummarizeHeaderValue(v)
		for _, n := range sum.Lengths() {
			dst = append(dst, int(n))
		}
	}
	add(r.Host)
	for _, values := range r.Header {
		for _, v := range values {
			add(v)
		}
	}
	return dst
}

// foundRaw reports whether s is one of the tokens found already.
func foundRaw(found []token.Found, s string) bool {
	for i := range found {
		if found[i].Raw == s {
			return true
		}
	}
	return false
}

// inTargets reports whether s is one of the targets, or part of one.
func inTargets(targets []token.Token, s string) bool {
	for i := range targets {
		if strings.Contains(targets[i].Raw, s) {
			return true
		}
	}
	return false
}

// requestCheck is one request's check in progress: the namespace, computed
// for the first string checked, and how the checks went.
type requestCheck struct {
	h       *Runtime
	r       *http.Request
	ns      string
	Start   time.Time    // the first check's: metrics' check latency
	checked bool         // a string was checked against the store
	revoked bool         // ... and found revoked: the request is refused
	out     checkOutcome // what the check found: the placeholders' values
	cands   engine.CandidateState
	grant   bool // a token endpoint call: a revoked grant is 400 invalid_grant
	// storeDown: a store call of this request failed (fail_timeout, say);
	// the later ones answer from what the instance holds, without waiting.
	storeDown bool
	// made: the keys the request is made with, once madeRead
	// (request_keys.go).
	made     token.Confirmation
	madeRead bool
	// keysLooked: a token of a named channel was checked, an opaque one
	// with the request's keys; tokenShaped: the request carries a
	// token-shaped string outside them (checkKeysAlone).
	keysLooked, tokenShaped bool
}

// requestKeys returns the keys r is made with, or nil when it is made
// with none; read once per request, the first time an opaque token of a
// named channel is checked (request_keys.go says which keys).
func (c *requestCheck) requestKeys() *token.Confirmation {
	if !c.madeRead {
		c.madeRead = true
		c.made = requestKeysOf(c.r)
	}
	if c.made == (token.Confirmation{}) {
		return nil
	}
	return &c.made
}

// ctx is the context of the request's next store call: the request's, or
// once one call failed, a context already done, so that fail_timeout
// bounds the whole request rather than each of its strings (the mirror's
// memory still answers: a token it holds revoked is found).
func (c *requestCheck) ctx() context.Context {
	if c.storeDown {
		return route.ExpiredContext
	}
	return c.r.Context()
}

// noteStoreError records that a store call failed.
func (c *requestCheck) noteStoreError(err error) {
	if err != nil {
		c.storeDown = true
	}
}

// isGrantRequest reports whether r is a call to a token endpoint (RFC 6749
// §4, §6): a POST whose form body names a grant_type. A revoked token in
// it (a refresh token, say) is answered as the token endpoint answers a
// revoked grant, 400 invalid_grant (§5.2), as clients expect.
func isGrantRequest(r *http.Request, body []byte) bool {
	// The body's kind first: a search of a large JSON body costs more.
	return r.Method == http.MethodPost && len(body) > 0 && token.IsForm(r) && bytes.Contains(body, []byte("grant_type"))
}

// begin computes the namespace for the first string checked.
func (c *requestCheck) begin() error {
	if c.checked {
		return nil
	}
	c.Start = time.Now()
	c.cands.SetNow(c.Start) // the mirror's freshness judged at it: no second clock read
	ns, err := c.h.Namespace(c.r, "")
	if err != nil {
		c.out.invalid(reasonBadRequest)
		return err
	}
	c.ns, c.checked = ns, true
	return nil
}

// check checks s, found at where: a token of a named channel, or a string
// found anywhere (cand, nil for a named channel's), checked only when it
// could be revoked.
func (c *requestCheck) check(s string, where token.Where, cand *token.Candidate) error {
	h := c.h
	candidate := cand != nil
	if !candidate || cand.JWT {
		if err := c.begin(); err != nil {
			return err
		}
	}
	var m denylist.Match
	var err error
	c.keysLooked = c.keysLooked || !candidate
	if candidate {
		var checked bool
		m, checked, err = h.Checker.CheckCandidate(c.ctx(), &c.cands, c.ns, *cand)
		if checked || err != nil {
			if berr := c.begin(); berr != nil {
				return berr
			}
		}
	} else if made := c.requestKeys(); made != nil && !looksJWT(s) {
		// An opaque token: the keys the request is made with are looked
		// up too (request_keys.go).
		m, err = h.Checker.CheckMadeWith(c.ctx(), c.ns, s, made)
	} else {
		m, err = h.Checker.CheckAt(c.ctx(), c.Start, c.ns, s)
	}
	c.noteStoreError(err)
	if err != nil && candidate && !cand.JWT {
		// A string found outside the named channels that may not be a
		// token at all: the mirror's memory has answered what it holds
		// (a revoked one is found there), and the rest is not refused
		// for want of a store, or every request would be while it is down.
		countCandidateUnchecked()
		return nil
	}
	if err != nil {
		return c.applyFailMode("denylist check failed", err, err)
	}
	if !m.Revoked && h.Status != nil && (!candidate || cand.JWT) {
		return c.checkStatus(s, where)
	}
	if m.Revoked {
		c.refuse(&m, where.String())
	}
	return nil
}

// refuse refuses the request: m revoked the token (or the key) at source.
func (c *requestCheck) refuse(m *denylist.Match, source string) {
	if l := c.h.Logger.Check(zapcore.DebugLevel, "rejected revoked token"); l != nil {
		l.Write(zap.String("kind", m.Entry.Kind.String()),
			zap.String("hash", m.Entry.Digest.Short()),
			zap.String("source", source),
			zap.String("namespace", c.ns))
	}
	observeCheck(c.Start, m.Entry.Kind.String())
	c.out.revoked(m.Entry.Kind.String(), c.ns, source)
	c.out.hash = m.Entry.Digest.Short()
	c.revoked = true
}

// end is checkRequest's answer once the check stopped early.
func (c *requestCheck) end(err error) error {
	if err != nil {
		return err
	}
	if c.grant {
		return route.ErrRevokedGrant
	}
	return route.ErrRevoked
}

// errUnreadableCompressed answers a request with zlib data (a compressed
// session cookie, say) that inflates past what the scan reads
// (token.Candidate.Unreadable).
var errUnreadableCompressed = &route.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request",
	Description: "compressed data in the request inflates past what the gateway reads (64 KiB)"}

// ambiguousAnswer is the 400 of a request the gateway refuses to read
// (token.Unambiguous), saying what to fix.
func ambiguousAnswer(err error) error {
	desc := "the request can be read more than one way"
	var a *token.AmbiguousError
	if errors.As(err, &a) {
		desc = a.Why
	}
	return &route.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

// applyFailMode answers a check the gateway could not make (the store, or
// a token's status list, did not answer): logged as what with its cause,
// counted, and passed under fail open, or refused (err, answered 503)
// under fail closed.
func (c *requestCheck) applyFailMode(what string, cause, err error) error {
	h := c.h
	h.ErrLog.Error(what, zap.String("fail_mode", h.FailMode), zap.Error(cause))
	countCheckFailed(h.FailOpen)
	if h.FailOpen {
		c.out.result = resultFailOpen
		return nil
	}
	observeCheck(c.Start, reasonUnavailable)
	c.out.result, c.out.reason, c.out.ns = resultUnavailable, reasonUnavailable, c.ns
	return err
}

// checkStatus checks the status list entry of s, a JWT that passed the
// denylist check: a status other than VALID refuses the request (401,
// reason status_list); an unknown one is the fail mode's.
func (c *requestCheck) checkStatus(s string, where token.Where) error {
	h := c.h
	res, has := h.Status.check(c.r.Context(), h.Verifier, s) // status_list.go
	if !has {
		return nil
	}
	switch res.Verdict {
	case statuslist.Rejected:
		if l := h.Logger.Check(zapcore.DebugLevel, "rejected token by its status list"); l != nil {
			l.Write(zap.String("status", res.Status.String()),
				zap.String("hash", tokenShort(h.Keys, s)),
				zap.String("source", where.String()),
				zap.NamedError("reason", res.Err))
		}
		observeCheck(c.Start, reasonStatusList)
		c.out.revoked(reasonStatusList, c.ns, where.String())
		c.revoked = true
	case statuslist.Unknown:
		return c.applyFailMode("token status list unknown", res.Err, errStatusUnknown)
	}
	return nil
}
