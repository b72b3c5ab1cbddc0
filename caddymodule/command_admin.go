package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// adminAddress is the admin endpoint to call: --address; else the admin
// listener of --config (or of a Caddyfile in the current directory, the one
// `caddy run` would read); else $CADDY_ADMIN or localhost:2019. A config
// whose admin endpoint is off is an error, not a reason to guess: the
// default address may well be another Caddy's, with another denylist.
func (o *cliOptions) adminAddress() (string, error) {
	if o.address != "" {
		return o.address, nil
	}
	file, adapter := o.config, o.adapter
	if file == "" {
		if _, err := os.Stat("Caddyfile"); err == nil {
			file, adapter = "Caddyfile", "caddyfile"
		}
	}
	if file == "" {
		return caddycmd.DetermineAdminAPIAddress("", nil, "", "")
	}
	cfg, _, _, err := caddycmd.LoadConfig(file, adapter)
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
