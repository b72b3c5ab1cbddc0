package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// TestProfileJSONParity: a profile given in JSON (Handler.Profiles)
// provisions the same routes and settings as the Caddyfile's profile
// subdirective, adapted to JSON as `caddy adapt` does.
func TestProfileJSONParity(t *testing.T) {
	for _, tt := range []struct{ caddyfile, json string }{
		{"profile keycloak", `{"profiles":[{"api":"keycloak"}]}`},
		{"profile keycloak /auth/ {\n mode respond\n }", `{"profiles":[{"api":"keycloak","prefix":"/auth/","mode":"respond"}]}`},
		{"profile usergrid {\n mode respond\n }", `{"profiles":[{"api":"usergrid","mode":"respond"}]}`},
		{"profile meshydb", `{"profiles":[{"api":"meshydb"}]}`},
		{"profile meshydb /meshy {\n default_tenant main\n tenant_header X-Tenant\n }",
			`{"profiles":[{"api":"meshydb","prefix":"/meshy","settings":{"default_tenant":"main","tenant_header":"X-Tenant"}}]}`},
		{"revoke /oauth/revoke\n profile keycloak /kc\n profile usergrid /ug",
			`{"routes":[{"type":"revoke","path":"/oauth/revoke"}],"profiles":[{"api":"keycloak","prefix":"/kc"},{"api":"usergrid","prefix":"/ug"}]}`},
	} {
		t.Run(strings.ReplaceAll(tt.caddyfile, "\n", " "), func(t *testing.T) {
			fromCaddyfile, err := parseHandler(t, "token_revocation {\n "+tt.caddyfile+"\n}")
			if err != nil {
				t.Fatal(err)
			}
			adapted, _ := json.Marshal(fromCaddyfile) // what caddy adapt prints for the handler
			viaAdapt := new(Handler)
			if err := json.Unmarshal(adapted, viaAdapt); err != nil {
				t.Fatal(err)
			}
			viaProfiles := new(Handler)
			if err := json.Unmarshal([]byte(tt.json), viaProfiles); err != nil {
				t.Fatal(err)
			}
			newTestHandler(t, viaAdapt, nil)
			newTestHandler(t, viaProfiles, nil)
			if len(viaProfiles.gw.Routes) != len(viaAdapt.gw.Routes) || len(viaProfiles.gw.Routes) == 0 {
				t.Fatalf("%d compiled routes from JSON profiles, %d from the Caddyfile", len(viaProfiles.gw.Routes), len(viaAdapt.gw.Routes))
			}
			viaProfiles.Profiles = nil
			a, _ := json.Marshal(viaAdapt)
			b, _ := json.Marshal(viaProfiles)
			if string(a) != string(b) {
				t.Errorf("provisioned from the Caddyfile:\n%s\nfrom JSON profiles:\n%s", a, b)
			}
		})
	}
}

func TestProfileJSONErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"profiles":[{"api":"okta"}]}`:                                              `unknown API (known: keycloak, meshydb, usergrid)`,
		`{"profiles":[{"api":"keycloak","prefix":"auth"}]}`:                          "must start with /",
		`{"profiles":[{"api":"keycloak","mode":"both"}]}`:                            `mode "both"`,
		`{"profiles":[{"api":"keycloak","settings":{"default_tenant":"x"}}]}`:        `unknown option "default_tenant"`,
		`{"profiles":[{"api":"keycloak"},{"api":"keycloak"}]}`:                       "routed already",
		`{"namespace":"{http.request.header.X}","profiles":[{"api":"meshydb"}]}`:     "remove it",
		`{"profiles":[{"api":"meshydb","settings":{"tenant_header":"{x}"}}]}`:        "want a header name",
		`{"routes":[{"type":"revoke","path":"/x"}],"profiles":[{"api":"keycloak"}]}`: "",
	} {
		h := new(Handler)
		if err := json.Unmarshal([]byte(in), h); err != nil {
			t.Fatal(err)
		}
		h.logger = zaptest.NewLogger(t)
		err := h.setup()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "token_revocation: ")):
			t.Errorf("%s: error %v, want one containing %q", in, err, want)
		}
		if h.gw.Verifier != nil {
			h.gw.Verifier.Close()
		}
	}
}
