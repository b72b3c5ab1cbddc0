package gateway

import (
	"fmt"
	"strconv"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// The readers of the Caddyfile's arguments, shared by every block's
// reader (caddyfile.go, and the file of each block: jwt.go, quota.go, ...).

// OneArg reads exactly one argument into dst.
func OneArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("token_revocation: %s: missing value", name)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("token_revocation: %s: one value expected, got another: %q", name, d.Val())
	}
	return nil
}

// AtLeastOneArg appends the remaining arguments to dst; there must be one.
func AtLeastOneArg(d *caddyfile.Dispenser, dst *[]string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("token_revocation: %s: missing value", name)
	}
	*dst = append(*dst, args...)
	return nil
}

// FlagArg sets *dst for an option that takes no argument.
func FlagArg(d *caddyfile.Dispenser, dst *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

// SizeInto parses a size (see sizeArg) into *dst.
func SizeInto(d *caddyfile.Dispenser, dst *int64) error {
	n, err := SizeArg(d)
	*dst = n
	return err
}

// IntArg reads the one argument of the current subdirective as an int.
func IntArg(d *caddyfile.Dispenser, dst *int) error {
	name := d.Val()
	var s string
	if err := OneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return d.Errf("token_revocation: %s %q: want a whole number", name, s)
	}
	*dst = n
	return nil
}

// DurationArg reads the one argument of the current subdirective as a
// duration (caddy.ParseDuration: 1d too).
func DurationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if err := OneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur < 0 {
		return d.Errf("token_revocation: %s %q: want a duration such as 30s, 15m or 24h", name, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// SizeArg reads the one argument of the current subdirective as a size
// in bytes (1MB, 64KiB, ...).
func SizeArg(d *caddyfile.Dispenser) (int64, error) {
	name := d.Val()
	var s string
	if err := OneArg(d, &s); err != nil {
		return 0, err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<40 {
		return 0, d.Errf("token_revocation: %s %q: want a size such as 8KiB or 1MB", name, s)
	}
	return int64(n), nil
}

// offOrBlock parses `<name> off`, setting *off, or `<name> { ... }`,
// each line of the block by option (called with the line's first word,
// the dispenser on it). example is a line of the block, for the error
// on anything else.
func offOrBlock(d *caddyfile.Dispenser, off *bool, example string, option func(name string) error) error {
	name := d.Val()
	if d.NextArg() {
		if d.Val() != route.Off || d.NextArg() {
			return d.Errf("token_revocation: %s %s: want off, or a block; write three lines: %s {, then %s, then }", name, d.Val(), name, example)
		}
		*off = true
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := option(d.Val()); err != nil {
			return err
		}
	}
	return nil
}

// CeilingArg parses `<n>|off` into dst (-1: off).
func CeilingArg(d *caddyfile.Dispenser, dst *int64) error {
	name := d.Val()
	var s string
	if err := OneArg(d, &s); err != nil {
		return err
	}
	if s == route.Off {
		*dst = -1
		return nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != s {
		return d.Errf("token_revocation: %s %q: want a whole number of at least 1, or off", name, s)
	}
	*dst = n
	return nil
}
