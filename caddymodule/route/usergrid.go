package route

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Apache Usergrid.
//
// Usergrid's tokens are opaque. An application user's token comes from
// POST (or GET) /{org}/{app}/token, an admin user's from /management/token;
// each answer names the user ({"access_token", "expires_in", "user": {"uuid",
// "username", "email", ...}}). The usergrid_token route reads these answers
// and records the token as the user's, under its org/app ("management" for
// admin users), by each name the API accepts for the user in a path (uuid,
// username, email). usergrid_revoketokens then revokes every token recorded
// for the path's user in the path's org/app; another org/app's user of the
// same name is untouched. Tokens are revoked in the handler's namespace
// (none by default): a token is one string whatever path it is sent to, and
// an admin token works on every org/app.

// The actions Usergrid's answers name (its UserResource and, for admin
// users, the management UserResource, which says "revoked user tokens" for
// both calls).
const (
	usergridRevokedToken  = "revoked user token"
	usergridRevokedTokens = "revoked user tokens"
)

// usergridScope is the org/app of a Usergrid route call (from the path's
// {org} and {app}), or "management" for admin users. Usergrid's org and
// app names are case-insensitive.
func usergridScope(r *http.Request) string {
	org, _ := caddyhttp.GetVar(r.Context(), "org").(string)
	app, _ := caddyhttp.GetVar(r.Context(), "app").(string)
	if org == "" || app == "" {
		return "management"
	}
	return strings.ToLower(org) + "/" + strings.ToLower(app)
}

// usergridUserIDs are the names under which a token's user is recorded:
// each name a path may give for the user. Usernames and emails are
// case-insensitive in Usergrid.
func usergridUserIDs(uuid, username, email string) []string {
	var out []string
	for _, id := range []string{uuid, username, email} {
		id = strings.ToLower(strings.TrimSpace(id))
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// UsergridAnswer is Usergrid's answer to a revocation.
type UsergridAnswer struct {
	Action    string `json:"action"`
	Timestamp int64  `json:"timestamp"`
	Duration  int64  `json:"duration"`
}

// writeUsergridAnswer writes {"action":...,"timestamp":<ms>,"duration":<ms>}
// as Usergrid does: timestamp when the call began, duration until now.
func writeUsergridAnswer(w http.ResponseWriter, action string, start, end time.Time) error {
	body, _ := json.Marshal(UsergridAnswer{Action: action, Timestamp: start.UnixMilli(), Duration: end.Sub(start).Milliseconds()})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// usergridError is an error answered in Usergrid's format:
// {"error","timestamp","duration","error_description"}.
type usergridError struct {
	Status      int
	Code        string
	Description string
	start       time.Time
	Now         func() time.Time
}

func (e *usergridError) Error() string   { return e.Code + ": " + e.Description }
func (e *usergridError) StatusCode() int { return e.Status }

func (e *usergridError) Answer(w http.ResponseWriter) error {
	end := e.Now()
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Timestamp   int64  `json:"timestamp"`
		Duration    int64  `json:"duration"`
		Description string `json:"error_description"`
	}{e.Code, e.start.UnixMilli(), end.Sub(e.start).Milliseconds(), e.Description})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, err := w.Write(body)
	return err
}

var _ SelfAnswering = (*usergridError)(nil)
