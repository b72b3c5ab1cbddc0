package caddymodule

import (
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/command"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIAdminOff: with a config whose admin endpoint is off, the CLI says
// so rather than calling localhost:2019 (maybe another Caddy); a config
// with an admin address is called there; --address wins.
func TestCLIAdminOff(t *testing.T) {
	dir := t.TempDir()
	off := filepath.Join(dir, "off.Caddyfile")
	if err := os.WriteFile(off, []byte("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "", "status", "--config", off, "--adapter", "caddyfile")
	if err == nil || !strings.Contains(err.Error(), "token_revocation: the admin endpoint is off in "+off) || !strings.Contains(err.Error(), "--address") {
		t.Fatalf("admin off: %v", err)
	}
	on := filepath.Join(dir, "on.Caddyfile")
	if err := os.WriteFile(on, []byte("{\n\tadmin 127.0.0.1:1\n}\nhttp://127.0.0.1:0 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", on, "--adapter", "caddyfile"}, "127.0.0.1:1"},
		{[]string{"--config", off, "--adapter", "caddyfile", "--address", "127.0.0.1:2"}, "127.0.0.1:2"},
	} {
		o := &command.CliOptions{}
		for i := 0; i+1 < len(c.args); i += 2 {
			switch c.args[i] {
			case "--config":
				o.Config = c.args[i+1]
			case "--adapter":
				o.Adapter = c.args[i+1]
			case "--address":
				o.Address = c.args[i+1]
			}
		}
		if got, err := o.AdminAddress(); err != nil || got != c.want {
			t.Errorf("%v: %q %v, want %q", c.args, got, err, c.want)
		}
	}
}
