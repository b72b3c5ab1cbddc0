package command

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// CliOptions are the flags every subcommand shares.
type CliOptions struct {
	Address, Config, Adapter, handler string
	json                              bool
}

// loadConfig reads file and adapts it to JSON as caddycmd.LoadConfig does
// (adapter "" means caddyfile for a file named Caddyfile*, *.caddyfile,
// else JSON), but quietly: LoadConfig logs two JSON lines on stderr
// ("using config from file", "adapted config to JSON"), noise in a CLI
// call whose output is its answer. The adapter's warnings (formatting)
// are the running Caddy's business, not the CLI's. It returns the JSON
// and the adapter used.
func loadConfig(file, adapter string) ([]byte, string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	base := strings.ToLower(filepath.Base(file))
	if adapter == "" && filepath.Ext(base) != ".json" && (strings.HasPrefix(base, "caddyfile") || strings.HasSuffix(base, ".caddyfile")) {
		adapter = "caddyfile"
	}
	if adapter == "" {
		if !json.Valid(b) {
			return nil, "", fmt.Errorf("%s is not JSON: name its adapter (--adapter caddyfile)", file)
		}
		return b, "", nil
	}
	a := caddyconfig.GetAdapter(adapter)
	if a == nil {
		return nil, "", fmt.Errorf("unknown config adapter %q", adapter)
	}
	cfg, _, err := a.Adapt(b, map[string]any{"filename": file})
	if err != nil {
		return nil, "", fmt.Errorf("adapting it with %s: %v", adapter, err)
	}
	return cfg, adapter, nil
}

// AdminAddress is the admin endpoint to call: --address; else the admin
// listener of --config (or of a Caddyfile in the current directory, the one
// `caddy run` would read); else $CADDY_ADMIN or localhost:2019. A config
// whose admin endpoint is off is an error, not a reason to guess: the
// default address may well be another Caddy's, with another denylist.
func (o *CliOptions) AdminAddress() (string, error) {
	if o.Address != "" {
		return o.Address, nil
	}
	file, adapter := o.Config, o.Adapter
	if file == "" {
		if _, err := os.Stat("Caddyfile"); err == nil {
			file, adapter = "Caddyfile", "caddyfile"
		}
	}
	if file == "" {
		return caddycmd.DetermineAdminAPIAddress("", nil, "", "")
	}
	cfg, adapter, err := loadConfig(file, adapter)
	if err != nil {
		return "", fmt.Errorf("token_revocation: reading the admin endpoint from %s: %v (or give --address)", file, err)
	}
	var c struct {
		Admin *caddy.AdminConfig `json:"admin"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return "", fmt.Errorf("token_revocation: reading the admin endpoint from %s: %v (or give --address)", file, err)
	}
	if c.Admin != nil && c.Admin.Disabled {
		return "", fmt.Errorf("token_revocation: the admin endpoint is off in %s (admin off), so the Caddy running it has no admin API to call: "+
			"enable it (an admin address in the global options), or give --address of the Caddy to call", file)
	}
	return caddycmd.DetermineAdminAPIAddress("", cfg, file, adapter)
}
