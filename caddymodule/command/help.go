package command

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// cliExamples are the Example sections of the subcommands' --help.
var cliExamples = map[string]string{
	"revoke": `  # a token, read from standard input (not in the shell history)
  caddy token-revocation revoke --token - < token.txt
  # every token of a session, or of a user, issued until now
  caddy token-revocation revoke --session 5f1c... --issuer https://idp.example/realms/demo
  caddy token-revocation revoke --user alice --issuer https://idp.example/realms/demo
  # a user's tokens issued until a given time, in tenant acme
  caddy token-revocation revoke --user alice --issuer "" --cutoff 2026-01-02T15:04:05Z --namespace acme
  # every token issued to an OAuth client (azp, or client_id), e.g. a leaked client secret
  caddy token-revocation revoke --client mobile-app --issuer https://idp.example/realms/demo
  # a JWT by its jti, against the admin endpoint of another Caddy
  caddy token-revocation revoke --jti 4b2e... --issuer https://idp.example --address 10.0.0.7:2019
  # every token bound to a DPoP key (cnf.jkt), before and after, e.g. a stolen device key
  caddy token-revocation revoke --jkt 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I
  # every token bound to a client certificate (cnf x5t#S256), until the certificate expires
  caddy token-revocation revoke --x5t-s256 bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2 --until 2027-06-30T00:00:00Z`,
	"unrevoke": `  caddy token-revocation unrevoke --token - < token.txt
  caddy token-revocation unrevoke --session 5f1c... --issuer https://idp.example/realms/demo
  # an entry as "list" shows it
  caddy token-revocation unrevoke --key s:9f86d081884c7d65`,
	"check": `  caddy token-revocation check --token - < token.txt
  caddy token-revocation check --user alice --issuer https://idp.example/realms/demo
  caddy token-revocation check --jkt 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I
  # in a script: 0 not revoked, 1 revoked, 2 could not tell
  if caddy token-revocation check --token - < token.txt; then echo live; fi`,
	"list": `  caddy token-revocation list
  caddy token-revocation list --limit 500 --all
  caddy token-revocation list --cursor <the cursor the previous page printed>
  caddy token-revocation list --json --all > denylist.json`,
	"status": `  caddy token-revocation status
  caddy token-revocation status --handler tenant-a --address localhost:2019
  caddy token-revocation status --json`,
	"version": `  caddy token-revocation version`,
}

// ErrCheckRevoked ends `check` with exit status 1: what it named is
// revoked. Not an error to print: the output said so.
var ErrCheckRevoked = errors.New("revoked")

// checkExit turns the outcome of `check` into its exit status: 0 not
// revoked, 1 revoked, 2 error (the message printed as Caddy prints a
// command's error).
func checkExit(c *cobra.Command, revoked bool, err error) error {
	if err != nil {
		return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return 2, err })(c, nil)
	}
	if revoked {
		c.SilenceErrors = true
		c.SilenceUsage = true
		return ErrCheckRevoked
	}
	return nil
}

// Plural is "1 entry", "2 entries".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// versionCommand is `caddy token-revocation version`: the module's
// version compiled into this binary.
func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the token_revocation module's version in this binary",
		Args:    cobra.NoArgs,
		Example: cliExamples["version"],
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), "token_revocation "+gateway.Version)
			return err
		},
	}
}
