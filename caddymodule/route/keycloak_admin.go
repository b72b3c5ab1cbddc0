package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// kindKeycloakAdmin is a Keycloak client's Admin URL.
var kindKeycloakAdmin = &Kind{
	Methods:  []string{http.MethodPost},
	Read:     readKeycloakAdmin,
	Respond:  respondEmpty204,
	Verifies: true,
}

// keycloak_admin: the gateway as a Keycloak client's Admin URL.
//
// Keycloak tells a client's adapter about revocations by POSTing to the
// client's Admin URL: <admin URL>/k_push_not_before (Sessions → Revocation
// → Set to now / Push, for the realm or the client) and <admin URL>/k_logout
// (Sessions → Sign out all active sessions). The body (text/plain) is a JWS
// signed with the realm's key (as Keycloak's TokenManager encodes it, the
// same key as its tokens), whose payload is the action, as Keycloak's
// AdminAction, PushNotBeforeAction and LogoutAction represent it:
//
//	{"id":"...","expiration":<unix s>,"resource":"<client id>",
//	 "action":"PUSH_NOT_BEFORE"|"LOGOUT","notBefore":<unix s>,
//	 "adapterSessionIds":[...]}   (LOGOUT only)
//
// Verified as an adapter's PreAuthActionsHandler verifies it (signature,
// action matching the URL, not expired), and single-use (its id), it
// becomes a cut-off: every token with iat before notBefore is refused —
// of the client the action names (azp = resource), or of the whole realm
// (every token of the issuer) with realm_wide. A LOGOUT naming adapter
// sessions is refused (400): those are an adapter's HTTP sessions, unknown
// here; point the client's Backchannel logout URL at a backchannel_logout
// route instead. k_test_available is answered 204; other k_ actions 404.

// KeycloakAdminConfig is rc's keycloak_admin settings, defaults applied.
func KeycloakAdminConfig(rc *Route) *KeycloakAdmin {
	if rc.KeycloakAdmin == nil {
		rc.KeycloakAdmin = &KeycloakAdmin{}
	}
	return rc.KeycloakAdmin
}

// keycloakAdminActions maps the URL's last segment to the action it carries.
var keycloakAdminActions = map[string]string{
	"k_push_not_before": "PUSH_NOT_BEFORE",
	"k_logout":          "LOGOUT",
}

// keycloakAction is Keycloak's AdminAction, with the fields of its
// PushNotBeforeAction and LogoutAction.
type keycloakAction struct {
	ID                string   `json:"id"`
	Expiration        int64    `json:"expiration"`
	Resource          string   `json:"resource"`
	Action            string   `json:"action"`
	NotBefore         int64    `json:"notBefore"`
	AdapterSessionIDs []string `json:"adapterSessionIds"`
}

// errKeycloakAdmin is an admin action refused.
func errKeycloakAdmin(status int, desc string) error {
	return &OAuthError{Status: status, Code: "invalid_request", Description: desc}
}

func readKeycloakAdmin(e *Env, r *http.Request, c *Call) error {
	var cfg KeycloakAdmin
	if c.Route.KeycloakAdmin != nil {
		cfg = *c.Route.KeycloakAdmin
	}
	seg := path.Base(r.URL.Path)
	want, ok := keycloakAdminActions[seg]
	if !ok {
		if seg == "k_test_available" {
			return nil // answered 204, as every action is
		}
		return errKeycloakAdmin(http.StatusNotFound, "unknown admin action "+seg)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(e.MaxTokenSize)+1))
	if err != nil {
		return errKeycloakAdmin(http.StatusBadRequest, "unreadable body")
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // forward mode: the upstream reads it too
	if len(body) > e.MaxTokenSize {
		return errKeycloakAdmin(http.StatusRequestEntityTooLarge, "the action is larger than max_token_size")
	}
	iss := cfg.Issuer
	if iss == "" {
		iss = e.SoleIssuer
	}
	v := e.Verifier.Verifier(iss)
	if v == nil {
		return fmt.Errorf("token_revocation: keycloak_admin %s: no jwt block for issuer %q: set the route's issuer", r.URL.Path, iss)
	}
	payload, err := v.VerifySignature(r.Context(), strings.TrimSpace(string(body)), jwtverify.Options{WaitForNewKey: true})
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		return ErrKeysUnavailable
	case err != nil:
		e.Logger.Info("keycloak admin action refused: not signed by the realm", zap.String("issuer", iss), zap.Error(err))
		return errKeycloakAdmin(http.StatusForbidden, "the action is not signed by the realm")
	}
	var a keycloakAction
	if err := json.Unmarshal(payload, &a); err != nil {
		return errKeycloakAdmin(http.StatusBadRequest, "the action is not a Keycloak admin action")
	}
	now := e.Now()
	switch {
	case a.Action != want:
		return errKeycloakAdmin(http.StatusBadRequest, fmt.Sprintf("action %q posted to %s", a.Action, seg))
	case a.ID == "":
		return errKeycloakAdmin(http.StatusBadRequest, "the action has no id")
	case now.Unix() > a.Expiration+int64(e.ClockSkew/time.Second):
		return errKeycloakAdmin(http.StatusBadRequest, "the action has expired")
	case a.Action == "LOGOUT" && len(a.AdapterSessionIDs) > 0:
		return errKeycloakAdmin(http.StatusBadRequest, "a logout of adapter sessions cannot be applied here: set the client's Backchannel logout URL to the gateway's backchannel_logout route")
	}
	c.Replay = &engine.Replay{
		Issuer: iss, JTI: "keycloak-admin:" + a.ID,
		Expires: time.Unix(a.Expiration, 0).Add(e.ClockSkew),
		Err:     errKeycloakAdmin(http.StatusBadRequest, "the action was applied already"),
	}
	if a.NotBefore <= 0 {
		return nil // no policy: nothing to cut off
	}
	client := a.Resource
	if cfg.RealmWide {
		client = ""
	}
	// Keycloak refuses tokens issued before notBefore: the cut-off (issued
	// at or before) is the second before.
	c.Cutoffs = []engine.Cutoff{{Kind: denylist.KindClient, Issuer: iss, ID: client, At: time.Unix(a.NotBefore-1, 0)}}
	return nil
}
