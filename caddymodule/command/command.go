package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/admin"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "token-revocation",
		Usage: "revoke|unrevoke|check|list|status|version|migrate-layout [flags]",
		Short: "Revokes tokens and inspects the denylist of a running Caddy",
		Long: `
Calls the token_revocation admin API of a running Caddy (see AdminAPI):
revoke or un-revoke a token, a JWT by jti, a session, a user, a
client, or every token bound to a key (DPoP, client certificate); check
whether one is revoked; list the denylist; show the stores' health.

  caddy token-revocation revoke --token - < token.txt
  caddy token-revocation revoke --session <sid> --issuer <iss> [--cutoff <time>]
  caddy token-revocation revoke --user <sub> --issuer <iss>
  caddy token-revocation revoke --client <client id> --issuer <iss>
  caddy token-revocation revoke --jti <jti> --issuer <iss>
  caddy token-revocation revoke --jkt <thumbprint> [--until <time>]
  caddy token-revocation revoke --x5t-s256 <thumbprint> [--until <time>]
  caddy token-revocation unrevoke --session <sid> --issuer <iss>
  caddy token-revocation unrevoke --key s:<hex>
  caddy token-revocation check --token -
  caddy token-revocation list [--limit 100] [--cursor <c>] [--all]
  caddy token-revocation status
  caddy token-revocation version
  caddy token-revocation migrate-layout --config Caddyfile

` + "`check`" + ` exits 0 when nothing it names is revoked, 1 when it is
revoked, and 2 when it could not tell (bad flags, admin API unreachable
or refusing), so scripts can branch on it.

Give a token as "--token -" to read it from standard input, so that it
appears neither in the shell history nor in the process list.

--address is the admin endpoint (default: the one of --config, or of the
Caddyfile in the current directory, else $CADDY_ADMIN, else
localhost:2019; a config with admin off is an error, never a guess). --handler picks a handler (its name
subdirective) when the config has several that differ. --json prints the
API's answer as it is.`,
		CobraFunc: SetupCLI,
	})
}

// SetupCLI builds the token-revocation command's subcommands on cmd.
func SetupCLI(cmd *cobra.Command) {
	o := &CliOptions{}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.Address, "address", "", "the admin endpoint of the running Caddy (default: from --config, $CADDY_ADMIN, or localhost:2019)")
	pf.StringVarP(&o.Config, "config", "c", "", "a config file to read the admin endpoint from")
	pf.StringVarP(&o.Adapter, "adapter", "a", "", "the adapter of --config")
	pf.StringVar(&o.handler, "handler", "", "the name of the token_revocation handler, when the config has several")
	pf.BoolVar(&o.json, "json", false, "print the API's JSON answer")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		return errors.New("name a subcommand: revoke, unrevoke, check, list or status (see --help)")
	}

	for _, sub := range []struct {
		name, short string
		cutoff, key bool
	}{
		{"revoke", "Revoke a token, a jti, a session, a user, a client or a bound key", true, false},
		{"unrevoke", "Undo a revocation", false, true},
		{"check", "Tell whether a token (or a jti, session, user, client, bound key, key) is revoked; exit 0 not revoked, 1 revoked, 2 error", false, true},
	} {
		c := &cobra.Command{Use: sub.name + " [flags]", Short: sub.short, Args: cobra.NoArgs, Example: cliExamples[sub.name]}
		f := c.Flags()
		f.String("token", "", `a raw token; "-" reads it from standard input`)
		f.String("jti", "", "a JWT's jti (with --issuer)")
		f.String("session", "", "a session's sid (with --issuer)")
		f.String("user", "", "a user's sub (with --issuer)")
		f.String("client", "", "a client's id, the azp (or client_id) claim of its tokens (with --issuer)")
		f.String("jkt", "", "a DPoP key's JWK SHA-256 thumbprint, the cnf.jkt claim of the tokens bound to it (43 base64url characters)")
		f.String("x5t-s256", "", `a client certificate's SHA-256 thumbprint, the cnf "x5t#S256" claim of the tokens bound to it (43 base64url characters)`)
		f.String("issuer", "", `the iss claim of the tokens (with --jti, --session, --user, --client; "" for none)`)
		f.String("namespace", "", "the namespace (tenant); default: the handler's")
		if sub.cutoff {
			f.String("cutoff", "", "revoke the session's, user's or client's tokens issued until then: RFC 3339 or Unix seconds (default: now)")
			f.String("until", "", "with --jkt or --x5t-s256: keep the key revoked until then, RFC 3339 or Unix seconds (default: now plus max_token_lifetime)")
		}
		if sub.key {
			f.String("key", "", "an entry key as list shows it")
		}
		name := sub.name
		c.RunE = func(c *cobra.Command, _ []string) error {
			var out any
			req, err := RequestFromFlags(c.Flags(), c.InOrStdin())
			if err == nil {
				out, err = o.call(c.OutOrStdout(), http.MethodPost, name, nil, req)
			}
			if name == "check" {
				chk, _ := out.(*admin.AdminCheckResponse)
				return checkExit(c, chk != nil && chk.Revoked, err)
			}
			return err
		}
		if name == "check" {
			c.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return checkExit(c, false, err) })
		}
		cmd.AddCommand(c)
	}

	list := &cobra.Command{Use: "list [flags]", Short: "List the denylist's live entries, a page at a time", Args: cobra.NoArgs, Example: cliExamples["list"]}
	limit := list.Flags().Int("limit", admin.DefaultListLimit, fmt.Sprintf("entries per page (1 to %d)", admin.MaxListLimit))
	cursor := list.Flags().String("cursor", "", "the cursor of the page to show (printed after the previous page)")
	all := list.Flags().Bool("all", false, "follow the cursors to the last page")
	list.RunE = func(c *cobra.Command, _ []string) error {
		return o.list(c.OutOrStdout(), *limit, *cursor, *all)
	}
	cmd.AddCommand(list)

	status := &cobra.Command{Use: "status [flags]", Short: "Show the handlers and the health, size and freshness of their stores", Args: cobra.NoArgs, Example: cliExamples["status"]}
	status.RunE = func(c *cobra.Command, _ []string) error {
		_, err := o.call(c.OutOrStdout(), http.MethodGet, "status", nil, nil)
		return err
	}
	cmd.AddCommand(status)
	cmd.AddCommand(versionCommand())
	cmd.AddCommand(migrateCommand(o))
}

// maxStdinToken bounds a token read from standard input.
const maxStdinToken = 1 << 20

// RequestFromFlags builds the AdminRequest the flags of revoke, unrevoke
// or check describe; a --token of "-" is read from stdin.
func RequestFromFlags(f *pflag.FlagSet, stdin io.Reader) (*admin.AdminRequest, error) {
	get := func(name string) (string, bool) {
		fl := f.Lookup(name)
		if fl == nil || !fl.Changed {
			return "", false
		}
		return fl.Value.String(), true
	}
	req := &admin.AdminRequest{}
	var named []string
	for _, n := range []struct {
		flag string
		dst  *string
	}{{"token", &req.Token}, {"jti", &req.JTI}, {"session", &req.Session}, {"user", &req.User}, {"client", &req.Client},
		{"jkt", &req.JKT}, {"x5t-s256", &req.X5TS256}, {"key", &req.Key}} {
		if v, ok := get(n.flag); ok {
			if v == "" {
				return nil, fmt.Errorf("--%s is empty", n.flag)
			}
			*n.dst = v
			named = append(named, "--"+n.flag)
		}
	}
	switch {
	case len(named) == 0:
		return nil, errors.New("name what to act on: --token, --jti, --session, --user, --client, --jkt or --x5t-s256 (see --help)")
	case len(named) > 1:
		return nil, fmt.Errorf("name one thing at a time: got %s", strings.Join(named, " and "))
	}
	if req.Token == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, maxStdinToken+1))
		if err != nil {
			return nil, fmt.Errorf("reading the token from standard input: %v", err)
		}
		if len(b) > maxStdinToken {
			return nil, fmt.Errorf("standard input holds more than %d bytes: give one token", maxStdinToken)
		}
		req.Token = strings.TrimSpace(string(b))
		if req.Token == "" || strings.ContainsAny(req.Token, " \t\r\n") {
			return nil, errors.New("standard input must hold exactly one token")
		}
	}
	if v, ok := get("issuer"); ok {
		req.Issuer = &v
	}
	if (req.JTI != "" || req.Session != "" || req.User != "" || req.Client != "") && req.Issuer == nil {
		return nil, fmt.Errorf(`%s needs --issuer: the iss claim of the tokens (--issuer "" for tokens without one)`, named[0])
	}
	if v, ok := get("namespace"); ok {
		req.Namespace = &v
	}
	for _, t := range []struct {
		flag string
		dst  **admin.Timestamp
	}{{"cutoff", &req.Cutoff}, {"until", &req.Until}} {
		if v, ok := get(t.flag); ok {
			ts := &admin.Timestamp{}
			if err := ts.UnmarshalJSON([]byte(strconv.Quote(v))); err != nil {
				return nil, fmt.Errorf("--%s: %v", t.flag, err)
			}
			*t.dst = ts
		}
	}
	if req.Until != nil && req.JKT == "" && req.X5TS256 == "" {
		return nil, errors.New("--until goes with --jkt or --x5t-s256: how long a bound key stays revoked (a cut-off takes --cutoff)")
	}
	return req, nil
}

// do calls endpoint of the admin API with body (JSON, or none) and decodes
// the answer into out.
func (o *CliOptions) do(method, endpoint string, query url.Values, body, out any) ([]byte, error) {
	addr, err := o.AdminAddress()
	if err != nil {
		return nil, err
	}
	if o.handler != "" {
		if query == nil {
			query = url.Values{}
		}
		query.Set("handler", o.handler)
	}
	uri := admin.AdminAPIPrefix + endpoint
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	res, err := caddycmd.AdminAPIRequest(addr, method, uri, nil, rd)
	if err != nil {
		return nil, cliError(addr, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %v", addr, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the answer of %s is not what token-revocation expects (is the token_revocation module in that Caddy?): %v", addr, err)
		}
	}
	return raw, nil
}

var apiErrorRE = regexp.MustCompile(`^caddy responded with error: HTTP (\d+): (.*)$`)

// cliError turns an error of caddycmd.AdminAPIRequest into a message that
// says what went wrong.
func cliError(addr string, err error) error {
	m := apiErrorRE.FindStringSubmatch(strings.TrimSpace(err.Error()))
	if m == nil {
		return fmt.Errorf("calling the admin API at %s: %v (is Caddy running there? see --address)", addr, err)
	}
	var ae struct {
		Error string `json:"error"`
	}
	msg := m[2]
	if json.Unmarshal([]byte(m[2]), &ae) == nil && ae.Error != "" {
		msg = ae.Error
	}
	if m[1] == "404" && !strings.HasPrefix(msg, "token_revocation:") {
		msg += " (does that Caddy have the token_revocation module?)"
	}
	return fmt.Errorf("HTTP %s: %s", m[1], msg)
}

// call calls endpoint, prints its answer and returns it decoded.
func (o *CliOptions) call(w io.Writer, method, endpoint string, query url.Values, body any) (any, error) {
	var out any
	switch endpoint {
	case "revoke":
		out = &admin.AdminRevokeResponse{}
	case "unrevoke":
		out = &admin.AdminUnrevokeResponse{}
	case "check":
		out = &admin.AdminCheckResponse{}
	case "status":
		out = &admin.AdminStatusResponse{}
	}
	raw, err := o.do(method, endpoint, query, body, out)
	if err != nil {
		return nil, err
	}
	if o.json {
		_, err := w.Write(raw)
		return out, err
	}
	switch v := out.(type) {
	case *admin.AdminRevokeResponse:
		printRevoke(w, v)
	case *admin.AdminUnrevokeResponse:
		printUnrevoke(w, v)
	case *admin.AdminCheckResponse:
		printCheck(w, v)
	case *admin.AdminStatusResponse:
		printStatus(w, v)
	}
	return out, nil
}

func (o *CliOptions) list(w io.Writer, limit int, cursor string, all bool) error {
	if limit < 1 || limit > admin.MaxListLimit {
		return fmt.Errorf("--limit %d: give a number from 1 to %d", limit, admin.MaxListLimit)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !o.json {
		fmt.Fprintln(tw, "KIND\tHASH\tCUTOFF\tEXPIRES\tKEY")
	}
	n := 0
	for {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page admin.AdminListResponse
		raw, err := o.do(http.MethodGet, "entries", q, nil, &page)
		if err != nil {
			return err
		}
		if o.json {
			if _, err := w.Write(raw); err != nil {
				return err
			}
		} else {
			for _, e := range page.Entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Hash, fmtCutoff(e.Cutoff), e.Expires.Format(time.RFC3339), e.Key)
			}
		}
		n += len(page.Entries)
		cursor = page.NextCursor
		if cursor == "" || !all {
			break
		}
	}
	if o.json {
		return nil
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cursor != "" {
		fmt.Fprintf(w, "%s shown; more with: --cursor %s\n", Plural(n, "entry", "entries"), cursor)
	} else {
		fmt.Fprintln(w, Plural(n, "entry", "entries"))
	}
	return nil
}

func fmtCutoff(c *time.Time) string {
	if c == nil {
		return "-"
	}
	return c.Format(time.RFC3339)
}

// describeEntry is one entry in words.
func describeEntry(e admin.AdminEntry) string {
	s := e.Kind + " " + e.Hash
	if e.Cutoff != nil {
		s += ", tokens issued until " + e.Cutoff.Format(time.RFC3339)
	}
	return s + ", kept until " + e.Expires.Format(time.RFC3339)
}

func printRevoke(w io.Writer, r *admin.AdminRevokeResponse) {
	if len(r.Revoked) == 0 {
		fmt.Fprintf(w, "nothing revoked: %s\n", r.Note)
		return
	}
	for _, e := range r.Revoked {
		fmt.Fprintf(w, "revoked %s (namespace %q)\n", describeEntry(e), r.Namespace)
	}
}

func printUnrevoke(w io.Writer, r *admin.AdminUnrevokeResponse) {
	for _, e := range r.Removed {
		fmt.Fprintf(w, "un-revoked %s (namespace %q)\n", e.Kind+" "+e.Hash, r.Namespace)
	}
	for _, k := range r.NotFound {
		fmt.Fprintf(w, "was not revoked: %s (namespace %q)\n", k, r.Namespace)
	}
	if e := r.StillRevokedBy; e != nil {
		fmt.Fprintf(w, "the token is still revoked by %s; un-revoke it with --key %s\n", describeEntry(*e), e.Key)
	}
}

func printCheck(w io.Writer, r *admin.AdminCheckResponse) {
	if !r.Revoked || r.Entry == nil {
		fmt.Fprintf(w, "not revoked (namespace %q)\n", r.Namespace)
		return
	}
	fmt.Fprintf(w, "revoked by %s (namespace %q, key %s)\n", describeEntry(*r.Entry), r.Namespace, r.Entry.Key)
}

func printStatus(w io.Writer, r *admin.AdminStatusResponse) {
	if r.Version != "" {
		fmt.Fprintf(w, "token_revocation %s\n\n", r.Version)
	}
	for i, h := range r.Handlers {
		if i > 0 {
			fmt.Fprintln(w)
		}
		name := h.Name
		if name == "" {
			name = "(unnamed)"
		}
		fmt.Fprintf(w, "handler %s", name)
		if h.Instances > 1 {
			fmt.Fprintf(w, " (%s)", Plural(h.Instances, "identical instance", "identical instances"))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  namespace:  %q\n", h.Namespace)
		fmt.Fprintf(w, "  fail mode:  %s\n", h.FailMode)
		if len(h.Routes) > 0 {
			fmt.Fprintf(w, "  routes:     %s\n", strings.Join(h.Routes, ", "))
		}
		st := h.Store
		health := "healthy"
		if !st.Healthy {
			health = "UNHEALTHY: " + st.Error
		}
		fmt.Fprintf(w, "  store:      %s, %s, %s\n", st.Backend, health, Plural(st.Entries, "entry", "entries"))
		printDetails(w, "    ", st.Details)
	}
}

// printDetails prints a status's details, sorted by key, nested maps
// indented below their key.
func printDetails(w io.Writer, indent string, d map[string]any) {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if m, ok := d[k].(map[string]any); ok {
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			printDetails(w, indent+"  ", m)
			continue
		}
		fmt.Fprintf(w, "%s%s: %v\n", indent, k, d[k])
	}
}
