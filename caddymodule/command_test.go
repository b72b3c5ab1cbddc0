package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/admin"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/command"
	"github.com/spf13/cobra"
)

// newCLI builds the token-revocation command as caddy does.
func newCLI() *cobra.Command {
	cmd := &cobra.Command{Use: "token-revocation", SilenceUsage: true, SilenceErrors: true}
	command.SetupCLI(cmd)
	return cmd
}

// runCLI runs the command with args and stdin and returns its output.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newCLI()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCLIRequestFromFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    admin.AdminRequest
		wantErr string
	}{
		{name: "token", args: []string{"--token", "abc"}, want: admin.AdminRequest{Token: "abc"}},
		{name: "token from stdin", args: []string{"--token", "-"}, stdin: "  eyJ.x.y\n", want: admin.AdminRequest{Token: "eyJ.x.y"}},
		{name: "stdin empty", args: []string{"--token", "-"}, stdin: "\n", wantErr: "exactly one token"},
		{name: "stdin two tokens", args: []string{"--token", "-"}, stdin: "a\nb\n", wantErr: "exactly one token"},
		{name: "session", args: []string{"--session", "s1", "--issuer", "https://idp", "--cutoff", "2025-01-02T03:04:05Z"},
			want: admin.AdminRequest{Session: "s1", Issuer: strp("https://idp"), Cutoff: &admin.Timestamp{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}},
		{name: "user, unix cutoff, empty issuer, namespace", args: []string{"--user", "u", "--issuer", "", "--cutoff", "1700000000", "--namespace", "acme"},
			want: admin.AdminRequest{User: "u", Issuer: strp(""), Namespace: strp("acme"), Cutoff: &admin.Timestamp{Time: time.Unix(1700000000, 0).UTC()}}},
		{name: "jti", args: []string{"--jti", "j", "--issuer", "i"}, want: admin.AdminRequest{JTI: "j", Issuer: strp("i")}},
		{name: "nothing", args: nil, wantErr: "name what to act on"},
		{name: "two things", args: []string{"--token", "a", "--user", "u", "--issuer", "i"}, wantErr: "got --token and --user"},
		{name: "no issuer", args: []string{"--session", "s"}, wantErr: "--session needs --issuer"},
		{name: "empty value", args: []string{"--session", "", "--issuer", "i"}, wantErr: "--session is empty"},
		{name: "bad cutoff", args: []string{"--user", "u", "--issuer", "i", "--cutoff", "tomorrow"}, wantErr: "RFC 3339"},
		{name: "jkt, until", args: []string{"--jkt", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "--until", "2027-06-30T00:00:00Z"},
			want: admin.AdminRequest{JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", Until: &admin.Timestamp{Time: time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)}}},
		{name: "x5t-s256", args: []string{"--x5t-s256", "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, want: admin.AdminRequest{X5TS256: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}},
		{name: "jkt and x5t-s256", args: []string{"--jkt", "a", "--x5t-s256", "b"}, wantErr: "got --jkt and --x5t-s256"},
		{name: "until without a key", args: []string{"--user", "u", "--issuer", "i", "--until", "1700000000"}, wantErr: "--until goes with --jkt or --x5t-s256"},
		{name: "bad until", args: []string{"--jkt", "a", "--until", "tomorrow"}, wantErr: "--until: a time (cutoff, until) is RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var revoke *cobra.Command
			for _, c := range newCLI().Commands() {
				if c.Name() == "revoke" {
					revoke = c
				}
			}
			if err := revoke.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := command.RequestFromFlags(revoke.Flags(), strings.NewReader(tt.stdin))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Fatalf("request %s, want %s", g, w)
			}
		})
	}
}

func TestCLIAgainstAdminAPI(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	addr := strings.TrimPrefix(srv.URL, "http://")
	cli := func(stdin string, args ...string) string {
		t.Helper()
		out, err := runCLI(t, stdin, append(args, "--address", addr)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}

	out := cli("secret-token\n", "revoke", "--token", "-")
	if !strings.HasPrefix(out, "revoked token ") || strings.Contains(out, "secret-token") {
		t.Fatalf("revoke --token -: %q", out)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", "secret-token")); res.status != http.StatusUnauthorized {
		t.Fatalf("token revoked through the CLI: %d, want 401", res.status)
	}
	if out, err := runCLI(t, "", "check", "--token", "secret-token", "--address", addr); !errors.Is(err, command.ErrCheckRevoked) || !strings.HasPrefix(out, "revoked by token ") {
		t.Fatalf("check of a revoked token: %v %q, want errCheckRevoked (exit 1)", err, out)
	}
	if out := cli("", "check", "--token", "other-token"); !strings.HasPrefix(out, "not revoked") {
		t.Fatalf("check of a live token: %q", out)
	}
	for i := range 3 {
		cli("", "revoke", "--session", "s"+string(rune('a'+i)), "--issuer", "i")
	}
	out = cli("", "list", "--limit", "2")
	if !strings.Contains(out, "KIND") || !strings.Contains(out, "more with: --cursor ") {
		t.Fatalf("list --limit 2: %q", out)
	}
	out = cli("", "list", "--limit", "2", "--all")
	if strings.Count(out, "\nsession ")+strings.Count(out, "\ntoken ") != 4 || !strings.Contains(out, "4 entries") {
		t.Fatalf("list --all: %q", out)
	}
	out = cli("", "list", "--json")
	var page admin.AdminListResponse
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Entries) != 4 {
		t.Fatalf("list --json: %v %q", err, out)
	}
	if out := cli("", "status"); !strings.Contains(out, "embedded, healthy, 4 entries") {
		t.Fatalf("status: %q", out)
	}
	if out := cli("secret-token", "unrevoke", "--token", "-"); !strings.HasPrefix(out, "un-revoked token ") {
		t.Fatalf("unrevoke: %q", out)
	}
	if out := cli("secret-token", "unrevoke", "--token", "-"); !strings.HasPrefix(out, "was not revoked: t:") {
		t.Fatalf("second unrevoke: %q", out)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", "secret-token")); res.status != http.StatusOK {
		t.Fatalf("token un-revoked through the CLI: %d, want 200", res.status)
	}
}

func TestCLIErrors(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	addr := strings.TrimPrefix(srv.URL, "http://")

	// The API's message comes through, without the JSON around it.
	out, err := runCLI(t, "", "revoke", "--user", "u", "--issuer", "i", "--cutoff", "4000000000", "--address", addr)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400: token_revocation: cutoff") || strings.Contains(err.Error(), `{"error"`) {
		t.Fatalf("bad cutoff: %v %q", err, out)
	}
	// Nothing listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	if _, err := runCLI(t, "", "status", "--address", deadAddr); err == nil || !strings.Contains(err.Error(), "is Caddy running there?") {
		t.Fatalf("no Caddy: %v", err)
	}
	// A Caddy without the module.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	if _, err := runCLI(t, "", "status", "--address", strings.TrimPrefix(plain.URL, "http://")); err == nil || !strings.Contains(err.Error(), "token_revocation module") {
		t.Fatalf("no module: %v", err)
	}
	// Usage errors, caught before any call.
	for _, args := range [][]string{{}, {"bogus"}, {"list", "--limit", "0"}, {"revoke"}, {"unrevoke", "--token", "-"}} {
		if _, err := runCLI(t, "", append(args, "--address", addr)...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestCLIHelpHasExamples: every subcommand's --help shows examples.
func TestCLIHelpHasExamples(t *testing.T) {
	subs := newCLI().Commands()
	if len(subs) < 6 {
		t.Fatalf("%d subcommands", len(subs))
	}
	for _, c := range subs {
		out, err := runCLI(t, "", c.Name(), "--help")
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "caddy token-revocation "+c.Name()) {
			t.Errorf("%s --help: %v\n%s", c.Name(), err, out)
		}
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 entries", 1: "1 entry", 2: "2 entries"} {
		if got := command.Plural(n, "entry", "entries"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}
