package caddymodule

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/ssftest"
	"github.com/caddy-token-revocation/caddy-token-revocation/ssf"
)

// The users of the specifications' example SETs (internal/ssftest).
const (
	riscIssuer  = "https://idp.example.com/"           // RISC account-disabled's iss_sub
	riscSubject = "7375626A656374"                     // ...and its sub
	caepIssuer  = "https://idp.example.com/123456789/" // CAEP session-revoked's
	caepSession = "dMTlD|1600802906337.16|16008.16"    // its opaque session id
)

func TestSSFCaddyfile(t *testing.T) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`token_revocation {
		ssf https://tx.example.com/tenant1 {
			delivery push
			push_path /ssf/push
			push_url https://gw.example.com/ssf/push
			push_authorization Bearer {env.SSF_PUSH}
			push_max_age 1h
			client_credentials https://tx.example.com/token gw {env.SSF_SECRET} ssf.read ssf.manage
			audience https://gw.example.com
			token_issuers https://idp.example.com/
			email_is_sub
			events https://schemas.openid.net/secevent/risc/event-type/account-disabled
			max_events 10
			return_immediately
			poll_timeout 30s
			namespace tenant1
		}
		ssf https://tx2.example.com {
			bearer_token {env.SSF_TOKEN}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.SSF)
	want := `[{"issuer":"https://tx.example.com/tenant1","delivery":"push","push_path":"/ssf/push","push_url":"https://gw.example.com/ssf/push",` +
		`"push_authorization":"Bearer {env.SSF_PUSH}","push_max_age":3600000000000,` +
		`"client_credentials":{"token_url":"https://tx.example.com/token","client_id":"gw","client_secret":"{env.SSF_SECRET}","scopes":["ssf.read","ssf.manage"]},` +
		`"audience":["https://gw.example.com"],"token_issuers":["https://idp.example.com/"],"email_is_sub":true,` +
		`"events":["https://schemas.openid.net/secevent/risc/event-type/account-disabled"],"max_events":10,"return_immediately":true,` +
		`"poll_timeout":30000000000,"namespace":"tenant1"},{"issuer":"https://tx2.example.com","bearer_token":"{env.SSF_TOKEN}"}]`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	for body, says := range map[string]string{
		"ssf":                "missing the transmitter's issuer",
		"ssf tx.example.com": "token_revocation:",
		"ssf https://tx.example.com {\n delivery webhook\n}":                          `delivery "webhook": want poll or push`,
		"ssf https://tx.example.com {\n delivery push\n}":                             "needs push_path",
		"ssf https://tx.example.com {\n push_path /p\n}":                              "are for delivery push",
		"ssf https://tx.example.com {\n bearer_token\n}":                              "missing value",
		"ssf https://tx.example.com {\n pol_timeout 1s\n}":                            "did you mean poll_timeout",
		"ssf https://tx.example.com {\n client_credentials u\n}":                      "<token_url> <client_id> <client_secret>",
		"ssf https://tx.example.com {\n delivery push\n push_path /p\n}":              "needs push_url",
		"ssf https://tx.example.com {\n bearer_token a\n client_credentials u i s\n}": "not both",
	} {
		parseErrSaying(t, "token_revocation {\n"+body+"\n}", says)
	}
}

// ssfHandler provisions a handler with the ssf blocks cfgs, on a fresh
// embedded store, its receivers running until the test ends.
func ssfHandler(t *testing.T, cfgs ...*gateway.SSFConfig) *Handler {
	t.Helper()
	h := newTestHandler(t, &Handler{SSF: cfgs}, nil)
	if err := h.provisionSSF(); err != nil {
		t.Fatal(err)
	}
	if err := gateway.ValidateSSF(h.gw.SSF, h.gw.Routes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.gw.SSF.Close)
	return h
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// started waits for h's i-th receiver to have its stream.
func started(t *testing.T, h *Handler, i int) *ssf.Receiver {
	t.Helper()
	r := h.gw.SSF.All[i]
	waitFor(t, "the receiver's stream", func() bool { return r.Stream() != nil })
	return r
}

func userToken(iss, sub string, iat time.Time) string {
	return jwt(map[string]any{"iss": iss, "sub": sub, "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()})
}

func statusOf(t *testing.T, h *Handler, tok string) int {
	t.Helper()
	return serve(t, h, &upstream{}, bearer("/api", tok)).status
}

// TestSSFPollRevokesThenAcknowledges: a RISC account-disabled polled from
// the transmitter revokes the user's token issued before it (not one of
// another user), and is acknowledged once stored; the stream and the
// event applied are in the store's signal state. On 5278a12 there is no
// ssf block.
func TestSSFPollRevokesThenAcknowledges(t *testing.T) {
	tx := ssftest.New(t)
	h := ssfHandler(t, &gateway.SSFConfig{Issuer: tx.Issuer, BearerToken: tx.Bearer, TokenIssuers: []string{caepIssuer, riscIssuer}})
	r := started(t, h, 0)
	id := r.Stream().ID
	before := time.Now().Add(-time.Minute)
	victim, other := userToken(riscIssuer, riscSubject, before), userToken(riscIssuer, "someone else", before)
	if statusOf(t, h, victim) != http.StatusOK {
		t.Fatal("the token is refused before any event")
	}
	jti := tx.Send(id, ssftest.Claims(ssftest.RISCAccountDisabled))
	waitFor(t, "the account-disabled SET acknowledged", func() bool { return len(tx.Unacked(id)) == 0 })
	if got := statusOf(t, h, victim); got != http.StatusUnauthorized {
		t.Errorf("the disabled account's token: %d, want 401", got)
	}
	if got := statusOf(t, h, other); got != http.StatusOK {
		t.Errorf("another user's token: %d, want 200", got)
	}
	if got := statusOf(t, h, userToken(riscIssuer, riscSubject, time.Now().Add(10*time.Minute))); got != http.StatusOK {
		t.Errorf("the account's token issued after the event: %d, want 200", got)
	}
	st := denylist.SignalStateOf(h.gw.Store)
	if v, _ := st.SignalValue(context.Background(), tx.Issuer, "stream_id"); v != id {
		t.Errorf("stream_id in the store = %q, want %q", v, id)
	}
	if ok, _ := st.SignalMember(context.Background(), tx.Issuer, "applied", ssf.EventKey(jti, "")); !ok {
		t.Errorf("the event %s is not marked applied in the store", jti)
	}
}

// TestSSFStoreFailureIsNotAcknowledged: while the store refuses writes,
// the SET stays unacknowledged at the transmitter, which delivers it
// again; once the store is back it is stored and acknowledged.
func TestSSFStoreFailureIsNotAcknowledged(t *testing.T) {
	tx := ssftest.New(t)
	failing := &failingRevokes{}
	h := newTestHandler(t, &Handler{SSF: []*gateway.SSFConfig{{Issuer: tx.Issuer, BearerToken: tx.Bearer, TokenIssuers: []string{riscIssuer}, ReturnImmediately: true}}}, nil)
	failing.Store = h.gw.Store
	failing.fail.Store(true)
	h.useStore(failing)
	if err := h.provisionSSF(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.gw.SSF.Close)
	id := started(t, h, 0).Stream().ID
	tx.Send(id, ssftest.Claims(ssftest.RISCAccountDisabled))
	waitFor(t, "a poll delivering the SET a second time", func() bool { return failing.refused.Load() >= 2 })
	if len(tx.Unacked(id)) != 1 {
		t.Fatalf("unacknowledged: %v, want the SET whose store failed", tx.Unacked(id))
	}
	failing.fail.Store(false)
	waitFor(t, "the SET acknowledged once stored", func() bool { return len(tx.Unacked(id)) == 0 })
	if got := statusOf(t, h, userToken(riscIssuer, riscSubject, time.Now().Add(-time.Minute))); got != http.StatusUnauthorized {
		t.Errorf("the disabled account's token: %d, want 401", got)
	}
}

// TestSSFPush: the transmitter pushes to push_path through the handler's
// ServeHTTP; a CAEP session-revoked is answered 202 and revokes the
// session's token; a push without the authorization is 401.
func TestSSFPush(t *testing.T) {
	tx := ssftest.New(t)
	var h *Handler
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
		ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
		if err := h.ServeHTTP(w, r.WithContext(ctx), &upstream{}); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(gw.Close)
	h = ssfHandler(t, &gateway.SSFConfig{Issuer: tx.Issuer, BearerToken: tx.Bearer, Delivery: "push", PushPath: "/ssf/push",
		PushURL: gw.URL + "/ssf/push", PushAuthorization: "Bearer push-secret", TokenIssuers: []string{caepIssuer}})
	id := started(t, h, 0).Stream().ID
	before := time.Now().Add(-time.Minute)
	tok := jwt(map[string]any{"iss": caepIssuer, "sub": "jane", "sid": caepSession, "iat": before.Unix(), "exp": before.Add(time.Hour).Unix()})
	tx.Send(id, ssftest.Claims(ssftest.CAEPSessionRevokedOpaque))
	tx.Mu.Lock()
	pushed := append([]int(nil), tx.Pushed...)
	tx.Mu.Unlock()
	if len(pushed) != 1 || pushed[0] != http.StatusAccepted {
		t.Fatalf("pushes answered %v, want [202]", pushed)
	}
	if got := statusOf(t, h, tok); got != http.StatusUnauthorized {
		t.Errorf("the revoked session's token: %d, want 401", got)
	}
	_, set := tx.Sign(ssftest.Claims(ssftest.RISCAccountDisabled), nil)
	if got := tx.Push(gw.URL+"/ssf/push", "Bearer wrong", set); got != http.StatusUnauthorized {
		t.Errorf("a push with another authorization: %d, want 401", got)
	}
}

// TestSSFProvisionRefuses: a handler whose namespace comes from the
// request gives its ssf blocks one of their own; two blocks of one
// transmitter, and a secret whose environment variable is unset, are
// refused at provisioning, before anything connects.
func TestSSFProvisionRefuses(t *testing.T) {
	for _, c := range []struct {
		h    *Handler
		says string
	}{
		{&Handler{Namespace: "{http.request.header.tenant}", SSF: []*gateway.SSFConfig{{Issuer: "https://tx.example.com"}}}, "give the ssf block a namespace"},
		{&Handler{SSF: []*gateway.SSFConfig{{Issuer: "https://tx.example.com"}, {Issuer: "https://tx.example.com", Delivery: "push", PushPath: "/p", PushURL: "https://gw/p"}}}, "two ssf blocks name this transmitter"},
		{&Handler{SSF: []*gateway.SSFConfig{{Issuer: "https://tx.example.com", BearerToken: "{env.TRV_SSF_TEST_UNSET}"}}}, "bearer_token \"{env.TRV_SSF_TEST_UNSET}\" is empty once placeholders are replaced"},
		{&Handler{SSF: []*gateway.SSFConfig{{Issuer: "https://tx.example.com", ClientCredentials: &gateway.SSFClientCredentials{TokenURL: "https://tx.example.com/token", ClientID: "gw", ClientSecret: "{env.TRV_SSF_TEST_UNSET}"}}}}, "secret \"{env.TRV_SSF_TEST_UNSET}\" is empty"},
	} {
		h := newTestHandler(t, c.h, nil)
		if err := h.provisionSSF(); err == nil || !strings.Contains(err.Error(), c.says) || !strings.HasPrefix(err.Error(), "token_revocation: ") {
			t.Errorf("provision: %v, want an error saying %q", err, c.says)
		}
	}
}

// TestSSFCleanupEndsALongPoll: Cleanup returns while a long poll is held
// at the transmitter (a reload leaves no poll behind).
func TestSSFCleanupEndsALongPoll(t *testing.T) {
	tx := ssftest.New(t)
	tx.HoldLongPoll = time.Hour
	h := newTestHandler(t, &Handler{SSF: []*gateway.SSFConfig{{Issuer: tx.Issuer, BearerToken: tx.Bearer}}}, nil)
	if err := h.provisionSSF(); err != nil {
		t.Fatal(err)
	}
	started(t, h, 0)
	waitFor(t, "a long poll", func() bool {
		tx.Mu.Lock()
		defer tx.Mu.Unlock()
		return len(tx.Polls) > 0
	})
	h.gw.SSF.Close() // returns: the test would time out otherwise
}

// failingRevokes is a store whose revocations fail while fail is set,
// counting those refused.
type failingRevokes struct {
	denylist.Store
	fail    atomic.Bool
	refused atomic.Int64
}

func (f *failingRevokes) Revoke(ctx context.Context, e ...denylist.Entry) error {
	if f.fail.Load() {
		f.refused.Add(1)
		return errors.New("denylist store unavailable: test")
	}
	return f.Store.Revoke(ctx, e...)
}

// Unwrap lets SignalStateOf find the embedded store's signal state.
func (f *failingRevokes) Unwrap() denylist.Store { return f.Store }

// TestSSFCAFile: a transmitter whose TLS certificate a private CA
// signed is reached with ca_file naming that CA (its stream is created);
// without it, starting fails on the certificate.
func TestSSFCAFile(t *testing.T) {
	tx := ssftest.NewTLS(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tx.Server.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	h := ssfHandler(t, &gateway.SSFConfig{Issuer: tx.Issuer, BearerToken: tx.Bearer, CAFiles: []string{ca}})
	if id := started(t, h, 0).Stream().ID; id == "" {
		t.Fatal("no stream")
	}

	other := ssftest.NewTLS(t)
	h = newTestHandler(t, &Handler{SSF: []*gateway.SSFConfig{{Issuer: other.Issuer, BearerToken: other.Bearer}}}, nil)
	if err := h.provisionSSF(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.gw.SSF.Close)
	if err := h.gw.SSF.All[0].Start(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("start without ca_file: %v, want the certificate refused", err)
	}
}
