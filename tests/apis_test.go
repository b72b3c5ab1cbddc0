package tests

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Helpers of the end-to-end tests of the three reference APIs (Keycloak,
// Usergrid, MeshyDB): each runs its examples/<api>.Caddyfile as it is, in
// front of a stand-in upstream that behaves as the real API does.

// startExample runs examples/<name>.Caddyfile, with the site on the
// harness's HTTP port (SITE_ADDRESS=http://), store (a `store ...` block
// from storeVariants) added to its token_revocation block, and env (the
// example's own variables: upstream addresses, mode, ...).
func startExample(t *testing.T, name, store string, env ...string) *Caddy {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "examples", name+".Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const open = "token_revocation {\n"
	body := string(b)
	if strings.Count(body, open) != 1 {
		t.Fatalf("examples/%s.Caddyfile: want one %q line to add the store to", name, strings.TrimSpace(open))
	}
	body = strings.Replace(body, open, open+"\t\t"+store+"\n", 1)
	return startCaddyWith(t, CaddyOptions{Env: append([]string{"SITE_ADDRESS=http://"}, env...)}, body)
}

// gatewayRejected asserts that res is the gateway's 401 for a revoked token
// (RFC 6750) and that the request did not reach the upstream, which saw
// upstreamBefore requests before it.
func gatewayRejected(t *testing.T, what string, res Response, up *Upstream, upstreamBefore int) {
	t.Helper()
	if res.Status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401 from the gateway; body %s", what, res.Status, res.Body)
		return
	}
	if got := res.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token", error_description="token revoked"` {
		t.Errorf("%s: WWW-Authenticate %q, want the gateway's invalid_token", what, got)
	}
	if res.Body != `{"error":"invalid_token","error_description":"token revoked"}` {
		t.Errorf("%s: body %s, want the gateway's invalid_token", what, res.Body)
	}
	if n := up.Count() - upstreamBefore; n != 0 {
		t.Errorf("%s: the upstream saw %d requests, want none", what, n)
	}
}

// sameAnswer asserts that res is, byte for byte, the answer the API's
// clients expect: status, Content-Type and body.
func sameAnswer(t *testing.T, what string, res Response, status int, contentType, body string) {
	t.Helper()
	if res.Status != status || res.Header.Get("Content-Type") != contentType || res.Body != body {
		t.Errorf("%s: got %d, Content-Type %q, body %q; want %d, %q, %q", what,
			res.Status, res.Header.Get("Content-Type"), res.Body, status, contentType, body)
	}
}

// jsonBody decodes a JSON answer; it fails the test if it is not one.
func jsonBody(t *testing.T, what string, res Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(res.Body), &m); err != nil {
		t.Fatalf("%s: status %d, body %q is not JSON: %v", what, res.Status, res.Body, err)
	}
	return m
}

// hs256 signs claims as a compact JWS with HMAC-SHA-256 (as Keycloak signs
// its refresh tokens, and the stand-ins here every token).
func hs256(secret []byte, claims map[string]any) string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, _ := json.Marshal(claims)
	signing := head + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verifyHS256 returns the claims of tok when its signature is secret's.
func verifyHS256(secret []byte, tok string) (map[string]any, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return nil, false
	}
	return claims, true
}

// writeJSON answers status with v as application/json, as the APIs do.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// TestExamplesValidate checks that every examples/*.Caddyfile is valid as
// it is (no environment variable set): `caddy validate` adapts and
// provisions it.
func TestExamplesValidate(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "examples", "*.Caddyfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/*.Caddyfile (%v)", err)
	}
	bin := caddyBinary(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, "validate", "--config", f, "--adapter", "caddyfile")
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
				"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Valid configuration") {
				t.Fatalf("caddy validate %s: %v\n%s", f, err, out)
			}
		})
	}
}
