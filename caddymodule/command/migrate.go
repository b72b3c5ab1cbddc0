package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
)

// migrateCommand is `caddy token-revocation migrate-layout`: it moves the
// entries of the legacy Redis layout into the compact one (issue 14), for
// every Redis store of the token_revocation handlers of a config.
func migrateCommand(o *CliOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "migrate-layout [flags]",
		Short: "Move a Redis denylist's legacy entries into the compact layout",
		Long: `
Reads the config (--config, or the Caddyfile in the current directory),
and for the Redis store of each token_revocation handler (--handler picks
one) moves every entry of the legacy layout into the compact one, one
atomic batch at a time, until none is left.

Run it during a rolling upgrade, once every instance runs this release
(an instance without a layout option serves a prefix of an earlier
release in the upgrade layout, which earlier releases still read, and
says so at start). It then marks the prefix compact: instances started
after it, without a layout option, run the compact layout. Nothing is
un-revoked meanwhile: the upgrade and compact layouts read both.`,
		Args:    cobra.NoArgs,
		Example: "  caddy token-revocation migrate-layout --config Caddyfile",
	}
	c.RunE = func(c *cobra.Command, _ []string) error {
		return o.migrateLayout(c.Context(), c.OutOrStdout())
	}
	return c
}

// migrateLayout runs MigrateLayout on every Redis store of the config.
func (o *CliOptions) migrateLayout(ctx context.Context, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	file, adapter := o.Config, o.Adapter
	if file == "" {
		if _, err := os.Stat("Caddyfile"); err != nil {
			return errors.New("token_revocation: migrate-layout needs the config the instances run: give --config")
		}
		file, adapter = "Caddyfile", "caddyfile"
	}
	cfg, _, err := loadConfig(file, adapter)
	if err != nil {
		return fmt.Errorf("token_revocation: reading %s: %v", file, err)
	}
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		return fmt.Errorf("token_revocation: reading %s: %v", file, err)
	}
	stores, err := redisStoresOf(root, o.handler)
	if err != nil {
		return fmt.Errorf("token_revocation: %s: %v", file, err)
	}
	repl := caddy.NewReplacer()
	for _, raw := range stores {
		var ro redisstore.RedisOptions
		if err := json.Unmarshal(raw, &ro); err != nil {
			return fmt.Errorf("token_revocation: %s: store redis: %v", file, err)
		}
		opts, err := storage.ResolveRedis(&ro, repl)
		if err != nil {
			return fmt.Errorf("token_revocation: %s: store redis: %v", file, err)
		}
		if opts.Layout == redisstore.LayoutLegacy {
			return fmt.Errorf("token_revocation: %s: store redis %s: layout is legacy, which does not read the compact layout: remove \"layout legacy\" from every instance (then migrate)", file, opts.Label())
		}
		// Whatever the config says (compact is refused on a prefix still
		// marked legacy): migrating reads both layouts.
		opts.Layout = redisstore.LayoutUpgrade
		start := time.Now()
		dctx, cancel := context.WithTimeout(ctx, opts.WithDefaults().DialTimeout+5*time.Second)
		s, err := redisstore.OpenRedis(dctx, opts)
		cancel()
		if err != nil {
			return fmt.Errorf("token_revocation: %w", err)
		}
		n, err := s.MigrateLayout(ctx)
		s.Close()
		if err != nil {
			return fmt.Errorf("token_revocation: migrating %s: %w (moved %d entries; run it again to go on)", opts.Label(), err, n)
		}
		fmt.Fprintf(w, "moved %d entries from the legacy layout of %s into the compact one in %s\n", n, opts.Label(), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// redisStoresOf returns the JSON of the store redis block of every
// token_revocation handler in a config (of the one named handler, when
// given), each once.
func redisStoresOf(root any, handler string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if x["handler"] == "token_revocation" && (handler == "" || x["name"] == handler) {
				if st, ok := x["store"].(map[string]any); ok && st["redis"] != nil {
					b, _ := json.Marshal(st["redis"])
					if !seen[string(b)] {
						seen[string(b)] = true
						out = append(out, b)
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(root)
	if len(out) == 0 && handler != "" {
		return nil, errors.New("no token_revocation handler with a redis store named " + handler)
	}
	if len(out) == 0 {
		return nil, errors.New("no token_revocation handler with a redis store")
	}
	return out, nil
}
