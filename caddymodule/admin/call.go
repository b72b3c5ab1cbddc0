package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// What every admin endpoint works with: the call (its request, the
// handler it picked), reading its request and target, and its errors.

// Limits of the admin API.
const (
	// AdminMaxBody bounds a request body of the admin API.
	AdminMaxBody = 1 << 20
	// DefaultListLimit is the page size of the entries endpoint when the
	// request gives none; MaxListLimit is the largest it accepts.
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// adminCall is one request to the admin API.
type adminCall struct {
	w    http.ResponseWriter
	r    *http.Request
	name string
	h    *Served // the chosen handler; nil for status
}

// storeError counts a store failure of op and maps it to the API error to
// answer: 503 when the store is unavailable (nothing was changed), else 500.
func storeError(op string, err error) error {
	gateway.CountStoreError(op)
	return storeAPIError(op, err)
}

// storeAPIError is storeError for a failure already counted.
func storeAPIError(op string, err error) error {
	if errors.Is(err, denylist.ErrUnavailable) {
		return apiError(http.StatusServiceUnavailable, "%s: the denylist store is unavailable, nothing was changed; try again: %v", op, err)
	}
	return apiError(http.StatusInternalServerError, "%s: %v", op, err)
}

// pick chooses the handler the call is for.
func (a *adminCall) pick() error {
	q := a.r.URL.Query()
	name, named := q.Get("handler"), q.Has("handler")
	h, err := pickHandler(name, named)
	a.h = h
	return err
}

// readRequest decodes the body as an AdminRequest.
func (a *adminCall) readRequest() (*AdminRequest, error) {
	body, err := io.ReadAll(http.MaxBytesReader(a.w, a.r.Body, AdminMaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, apiError(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes", AdminMaxBody)
	case err != nil:
		return nil, apiError(http.StatusBadRequest, "reading the request body: %v", err)
	}
	var req AdminRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, apiError(http.StatusBadRequest, "the body is empty: send a JSON object such as {\"token\": \"...\"} or {\"issuer\": \"...\", \"session\": \"...\"}")
		}
		if msg := notJSONObject(body, a.r.Header.Get("Content-Type")); msg != "" {
			return nil, apiError(http.StatusBadRequest, "%s", msg)
		}
		return nil, apiError(http.StatusBadRequest, "the body is not a valid request (JSON object with token, jti, session, user, client, jkt, x5t#S256, key, issuer, namespace, cutoff, until): %v", err)
	}
	if dec.More() {
		return nil, apiError(http.StatusBadRequest, "the body holds more than one JSON value: send one object")
	}
	return &req, nil
}

// notJSONObject says what is wrong with a body that is not one JSON
// object (a form, plain text, a JSON array or string), or returns "".
func notJSONObject(body []byte, contentType string) string {
	const send = `send a JSON object such as {"token": "..."} with Content-Type: application/json`
	sent := ""
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "" && mt != "application/json" {
		sent = " (it was sent as " + mt + ")"
	}
	switch trimmed := bytes.TrimSpace(body); {
	case !json.Valid(trimmed):
		return "the body is not JSON" + sent + ": the admin API reads JSON only; " + send
	case trimmed[0] != '{':
		return "the body is JSON but not an object: " + send
	}
	return ""
}

// adminTarget is what an AdminRequest names, resolved for a handler.
type adminTarget struct {
	kind  denylist.Kind
	ns    string
	key   denylist.Key
	token *token.Token    // kind token, given as a raw token
	bound engine.BoundKey // kind cnf: the key tokens are bound to
	keyed bool            // given as a key
}

// targetNames are the AdminRequest fields that name what a call is about,
// as the errors list them.
const targetNames = "token, jti, session, user, client, jkt or x5t#S256"

// target validates req for the endpoint and resolves what it names.
func (a *adminCall) target(req *AdminRequest) (*adminTarget, error) {
	h := a.h
	var given []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"token", req.Token != ""}, {"jti", req.JTI != ""}, {"session", req.Session != ""}, {"user", req.User != ""}, {"client", req.Client != ""},
		{denylist.MethodJKT, req.JKT != ""}, {denylist.MethodX5TS256, req.X5TS256 != ""}, {"key", req.Key != ""}} {
		if f.set {
			given = append(given, f.name)
		}
	}
	what := targetNames
	if a.name != "revoke" {
		what += ", or key"
	}
	switch {
	case len(given) == 0:
		return nil, apiError(http.StatusBadRequest, "name what to %s: give one of %s", a.name, what)
	case len(given) > 1:
		return nil, apiError(http.StatusBadRequest, "name one thing per call: got %s; give only one of %s", strings.Join(given, " and "), what)
	}
	if req.Until != nil && (a.name != "revoke" || (given[0] != denylist.MethodJKT && given[0] != denylist.MethodX5TS256)) {
		return nil, apiError(http.StatusBadRequest, "until applies only to revoking a jkt or x5t#S256 (a bound key): leave it out")
	}
	t := &adminTarget{}
	switch given[0] {
	case "key":
		if a.name == "revoke" {
			return nil, apiError(http.StatusBadRequest, "revoke takes %s, not key (key is for unrevoke and check)", targetNames)
		}
		k, err := denylist.ParseKey(req.Key)
		if err != nil {
			return nil, apiError(http.StatusBadRequest, "%v: give a key as the entries endpoint lists it", err)
		}
		if req.Namespace != nil || req.Issuer != nil || req.Cutoff != nil {
			return nil, apiError(http.StatusBadRequest, "a key already covers namespace and issuer, and has no cutoff: leave them out")
		}
		t.kind, t.key, t.keyed = k.Kind, k, true
		return t, nil
	case "token":
		if len(req.Token) > h.Env.MaxTokenSize {
			return nil, apiError(http.StatusBadRequest, "the token is longer than the handler's max_token_size (%d bytes)", h.Env.MaxTokenSize)
		}
		if req.Issuer != nil {
			return nil, apiError(http.StatusBadRequest, "issuer goes with jti, session, user or client, not with token: leave it out")
		}
		tok := token.Parse(req.Token)
		t.kind, t.token = denylist.KindToken, &tok
	case denylist.MethodJKT, denylist.MethodX5TS256:
		t.kind, t.bound = denylist.KindKey, engine.BoundKey{Method: given[0], Thumbprint: req.JKT}
		if given[0] == denylist.MethodX5TS256 {
			t.bound.Thumbprint = req.X5TS256
		}
		if req.Issuer != nil {
			return nil, apiError(http.StatusBadRequest, "%s names a key whoever issued the tokens bound to it: leave issuer out", given[0])
		}
		if req.Cutoff != nil {
			return nil, apiError(http.StatusBadRequest, "%s revokes every token bound to the key, whenever issued: leave cutoff out (until says how long the revocation lasts)", given[0])
		}
		if err := t.bound.Check(); err != nil {
			return nil, apiError(http.StatusBadRequest, "%v", err)
		}
		if req.Until != nil {
			t.bound.Until = req.Until.Time
		}
	default:
		if req.Issuer == nil {
			return nil, apiError(http.StatusBadRequest, "issuer is required with %s: give the iss claim of the tokens (\"\" for tokens without one)", given[0])
		}
		t.kind = map[string]denylist.Kind{"jti": denylist.KindJTI, "session": denylist.KindSession, "user": denylist.KindUser, "client": denylist.KindClient}[given[0]]
	}
	if req.Cutoff != nil && (a.name != "revoke" || !t.kind.IsCutoff()) {
		return nil, apiError(http.StatusBadRequest, "cutoff applies only to revoking a session, a user or a client: leave it out")
	}
	ns, err := h.adminNamespace(req.Namespace)
	if err != nil {
		return nil, err
	}
	t.ns = ns
	switch t.kind {
	case denylist.KindToken:
		t.key = h.Keys.Token(t.token) // the token's identity, as checks compute it
	case denylist.KindJTI:
		t.key = h.Keys.Hasher.JTIKey(ns, *req.Issuer, req.JTI)
	case denylist.KindSession:
		t.key = h.Keys.Hasher.SessionKey(ns, *req.Issuer, req.Session)
	case denylist.KindUser:
		t.key = h.Keys.Hasher.UserKey(ns, *req.Issuer, req.User)
	case denylist.KindClient:
		t.key = h.Keys.Hasher.ClientKey(ns, *req.Issuer, req.Client)
	case denylist.KindKey:
		t.key = h.Keys.Bound(ns, t.bound) // what a check of a token bound to it looks up
	}
	return t, nil
}

// adminNamespace is the namespace of an admin call: the one given, else
// the handler's when it is a constant.
func (h *Served) adminNamespace(given *string) (string, error) {
	if given != nil {
		return *given, nil
	}
	if strings.Contains(h.NamespaceTemplate, "{") {
		return "", apiError(http.StatusBadRequest, "this handler's namespace is the template %q: give the namespace (tenant) to use (\"\" for requests where it is empty)", h.NamespaceTemplate)
	}
	return h.NamespaceTemplate, nil
}

// named picks the handler, reads the request and resolves what it names:
// the start of revoke, unrevoke and check.
func (a *adminCall) named() (*AdminRequest, *adminTarget, error) {
	if err := a.pick(); err != nil {
		return nil, nil, err
	}
	req, err := a.readRequest()
	if err != nil {
		return nil, nil, err
	}
	t, err := a.target(req)
	if err != nil {
		return nil, nil, err
	}
	return req, t, nil
}
