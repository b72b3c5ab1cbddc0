package tests

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// usergrid is a stand-in for Apache Usergrid: app users per org/app, admin
// users under /management, opaque access tokens ("YWMt..."), logins at
// /{org}/{app}/token and /management/token answering {"access_token",
// "expires_in", "user"}, and the API, which takes a token from the
// Authorization header or the access_token parameter. With revocation on
// (a real Usergrid) it implements revoketoken(s); off, it stands for an
// API without them (the gateway then answers them, mode respond).
type usergrid struct {
	*Upstream
	revocation bool

	mu     sync.Mutex
	users  map[string]map[string]usergridUser // scope ("org/app" or "management") -> username
	tokens map[string]*usergridToken
}

type usergridUser struct{ UUID, Username, Email string }

type usergridToken struct {
	scope, uuid string
	revoked     bool
}

func startUsergrid(t *testing.T, revocation bool) *usergrid {
	u := &usergrid{revocation: revocation, tokens: map[string]*usergridToken{}, users: map[string]map[string]usergridUser{
		"org1/app1":  {"someuser": {"u-1", "someUser", "some@example.com"}, "other": {"u-2", "other", "other@example.com"}},
		"org2/app2":  {"someuser": {"u-9", "someUser", "some@example.org"}},
		"management": {"testadmin": {"m-1", "testadmin", "admin@example.com"}},
	}}
	u.Upstream = startUpstreamHandler(t, http.HandlerFunc(u.serve))
	return u
}

// usergridAnswer writes Usergrid's answer to a revocation.
func usergridAnswer(w http.ResponseWriter, action string, start time.Time) {
	writeJSON(w, http.StatusOK, map[string]any{"action": action, "timestamp": start.UnixMilli(), "duration": time.Since(start).Milliseconds()})
}

func (u *usergrid) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	scope := "management"
	if segs[0] != "management" && len(segs) >= 2 {
		scope = strings.ToLower(segs[0] + "/" + segs[1])
		segs = segs[2:]
	} else {
		segs = segs[1:]
	}
	switch {
	case len(segs) == 1 && segs[0] == "token":
		u.login(w, r, scope)
	case len(segs) == 3 && segs[0] == "users" && (segs[2] == "revoketoken" || segs[2] == "revoketokens") && u.revocation:
		u.mu.Lock()
		user := u.users[scope][strings.ToLower(segs[1])]
		action := "revoked user tokens"
		if segs[2] == "revoketoken" {
			if t := u.tokens[r.URL.Query().Get("token")]; t != nil {
				t.revoked = true
			}
			if scope != "management" {
				action = "revoked user token"
			}
		} else {
			for _, t := range u.tokens {
				if t.scope == scope && t.uuid == user.UUID {
					t.revoked = true
				}
			}
		}
		u.mu.Unlock()
		usergridAnswer(w, action, start)
	case len(segs) == 3 && segs[0] == "users" && strings.HasPrefix(segs[2], "revoketoken"):
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not_found", "timestamp": start.UnixMilli(), "duration": 0})
	default: // the API
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "" {
			tok = r.URL.Query().Get("access_token")
		}
		u.mu.Lock()
		t := u.tokens[tok]
		ok := t != nil && !t.revoked && (t.scope == scope || t.scope == "management")
		u.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "auth_bad_access_token", "timestamp": start.UnixMilli(), "duration": 0})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"action": "get", "path": r.URL.Path, "timestamp": start.UnixMilli(), "duration": 1})
	}
}

// login reads the grant as Usergrid does: JSON body (whatever the content
// type, as curl -d sends it), or form or query parameters.
func (u *usergrid) login(w http.ResponseWriter, r *http.Request, scope string) {
	var req struct{ GrantType, Username, Password string }
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err == nil {
		req.GrantType, req.Username, req.Password = body["grant_type"], body["username"], body["password"]
	} else {
		_ = r.ParseForm()
		req.GrantType, req.Username, req.Password = r.Form.Get("grant_type"), r.Form.Get("username"), r.Form.Get("password")
	}
	u.mu.Lock()
	user, ok := u.users[scope][strings.ToLower(req.Username)]
	u.mu.Unlock()
	if req.GrantType != "password" || !ok || req.Password != "testpw" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "invalid username or password"})
		return
	}
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	tok := "YWMt" + base64.RawURLEncoding.EncodeToString(b)
	u.mu.Lock()
	u.tokens[tok] = &usergridToken{scope: scope, uuid: user.UUID}
	u.mu.Unlock()
	userJSON := map[string]any{"uuid": user.UUID, "type": "user", "name": user.Username, "username": user.Username, "email": user.Email, "activated": true}
	if scope == "management" {
		userJSON = map[string]any{"applicationId": "00000000-0000-0000-0000-000000000001", "username": user.Username, "uuid": user.UUID,
			"name": user.Username, "email": user.Email, "activated": true, "organizations": map[string]any{}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 604800, "user": userJSON})
}

func TestUsergrid(t *testing.T) {
	for _, sv := range storeVariants() {
		t.Run("forward/"+sv.name, func(t *testing.T) {
			ug := startUsergrid(t, true)
			c := startExample(t, "usergrid", sv.block(t), "USERGRID_UPSTREAM="+ug.Addr())
			usergridFlows(t, c, ug, false)
		})
	}
	t.Run("respond/embedded", func(t *testing.T) {
		ug := startUsergrid(t, false)
		c := startExample(t, "usergrid", "store embedded", "USERGRID_UPSTREAM="+ug.Addr(), "USERGRID_MODE=respond")
		usergridFlows(t, c, ug, true)
	})
}

func usergridFlows(t *testing.T, c *Caddy, ug *usergrid, respond bool) {
	// The requests as Usergrid's documentation shows them (curl -d sends
	// the JSON as application/x-www-form-urlencoded).
	login := func(scope, user string) string {
		t.Helper()
		res := do(t, http.MethodPost, c.URL("/"+scope+"/token"),
			strings.NewReader(`{"grant_type":"password", "username":"`+user+`", "password":"testpw"}`),
			"Content-Type: application/x-www-form-urlencoded")
		m := jsonBody(t, "login", res)
		if res.Status != http.StatusOK || m["access_token"] == nil {
			t.Fatalf("login %s %s: %d %s", scope, user, res.Status, res.Body)
		}
		return m["access_token"].(string)
	}
	viaHeader := func(path, tok string) Response {
		return get(t, c.URL(path), "Authorization: Bearer "+tok)
	}
	viaQuery := func(path, tok string) Response {
		return get(t, c.URL(path+"?access_token="+url.QueryEscape(tok)))
	}
	works := func(what, path, tok string) {
		t.Helper()
		for how, send := range map[string]func(string, string) Response{"header": viaHeader, "access_token": viaQuery} {
			if res := send(path, tok); res.Status != http.StatusOK {
				t.Errorf("%s (%s): status %d, want 200 (%s)", what, how, res.Status, res.Body)
			}
		}
	}
	rejected := func(what, path, tok string) {
		t.Helper()
		for how, send := range map[string]func(string, string) Response{"header": viaHeader, "access_token": viaQuery} {
			before := ug.Count()
			gatewayRejected(t, what+" ("+how+")", send(path, tok), ug.Upstream, before)
		}
	}
	// revokeCall sends a PUT as the docs show it and checks Usergrid's
	// answer: 200, application/json, exactly action, timestamp, duration.
	revokeCall := func(path, action string, extra ...string) {
		t.Helper()
		before := ug.Count()
		from := time.Now().UnixMilli()
		res := do(t, http.MethodPut, c.URL(path), nil, extra...)
		var a map[string]any
		dec := json.NewDecoder(strings.NewReader(res.Body))
		dec.UseNumber()
		if err := dec.Decode(&a); err != nil || res.Status != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("PUT %s: %d %q %s (%v)", path, res.Status, res.Header.Get("Content-Type"), res.Body, err)
		}
		ts, _ := a["timestamp"].(json.Number).Int64()
		dur, _ := a["duration"].(json.Number).Int64()
		if len(a) != 3 || a["action"] != action || ts < from-1000 || ts > time.Now().UnixMilli() || dur < 0 {
			t.Errorf("PUT %s answered %s; want {\"action\":%q,\"timestamp\":<ms>,\"duration\":<ms>}", path, res.Body, action)
		}
		if respond && ug.Count() != before {
			t.Errorf("PUT %s reached the upstream in respond mode", path)
		}
	}

	tokA := login("org1/app1", "someUser")
	tokB := login("org1/app1", "someUser")
	tokC := login("org1/app1", "other")
	tokD := login("org2/app2", "someUser")
	admin1 := login("management", "testadmin")
	admin2 := login("management", "testadmin")
	works("someUser", "/org1/app1/users/someUser", tokA)
	works("someUser in org2/app2", "/org2/app2/users/someUser", tokD)
	works("the admin on an app", "/org1/app1/users", admin1)

	t.Run("revoketoken", func(t *testing.T) {
		revokeCall("/org1/app1/users/someUser/revoketoken?token="+url.QueryEscape(tokA), "revoked user token")
		rejected("the revoked token", "/org1/app1/users/someUser", tokA)
		works("the user's other token", "/org1/app1/users/someUser", tokB)
	})

	t.Run("revoketokens", func(t *testing.T) {
		var auth []string
		if respond {
			// The gateway answers itself only for a caller showing one of
			// the user's tokens: the docs' bare call is refused.
			res := do(t, http.MethodPut, c.URL("/org1/app1/users/someUser/revoketokens"), nil)
			if res.Status != http.StatusUnauthorized || jsonBody(t, "bare revoketokens", res)["error"] != "unauthorized" {
				t.Errorf("bare revoketokens in respond mode: %d %s, want 401 unauthorized", res.Status, res.Body)
			}
			works("someUser after a refused revoketokens", "/org1/app1/users/someUser", tokB)
			auth = []string{"Authorization: Bearer " + tokB}
		}
		revokeCall("/org1/app1/users/someUser/revoketokens", "revoked user tokens", auth...)
		rejected("someUser's other token", "/org1/app1/users/someUser", tokB)
		works("another user of the app", "/org1/app1/users/other", tokC)
		works("someUser of org2/app2", "/org2/app2/users/someUser", tokD)
		works("the admin", "/org1/app1/users", admin1)
		works("someUser's new login", "/org1/app1/users/someUser", login("org1/app1", "someUser"))
	})

	t.Run("admin users", func(t *testing.T) {
		var auth []string
		if respond {
			auth = []string{"Authorization: Bearer " + admin2}
		}
		revokeCall("/management/users/testadmin/revoketokens", "revoked user tokens", auth...)
		rejected("an admin token on the management API", "/management/orgs/org1", admin1)
		rejected("an admin token on an app", "/org1/app1/users", admin2)
		works("an app user", "/org1/app1/users/other", tokC)
		admin3 := login("management", "testadmin")
		revokeCall("/management/users/testadmin/revoketoken?token="+url.QueryEscape(admin3), "revoked user tokens")
		rejected("a revoked admin token", "/management/orgs/org1", admin3)
	})

	for _, tok := range []string{tokA, tokB, tokC, tokD, admin1, admin2} {
		if strings.Contains(c.Logs(), tok) {
			t.Errorf("a raw token is in Caddy's log")
			break
		}
	}
}
