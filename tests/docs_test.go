package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// The documentation is tested as a user runs it, with the Caddy binary
// under test:
//
//   - every ```caddyfile block of the Markdown files (README.md,
//     CONTRIBUTING.md, examples/*.md, docs/*.md), and every Caddyfile of
//     the repository (Caddyfile.example, examples/*.Caddyfile), is
//     `caddy fmt`-clean and `caddy adapt`s, with --validate (the handler
//     provisioned, its settings checked) unless it uses `store redis` or
//     a `jwt` block, which would reach for the Redis or the issuer it names. A block that is a fragment (it
//     starts with a directive, not a site address or a global options
//     block) must say where it goes in a first comment line ("# in the
//     site block in front of the API"), and is adapted as a reader pastes
//     it there, wrapped in a site block, `:8080 { ... }`. A block
//     that writes syntax rather than config (it holds <placeholders> such
//     as `<path>`) is skipped: the directive reference, kept equal to the
//     godoc by caddymodule's TestDocsSyntaxMatchesGodoc;
//   - a `jwt` block in a snippet does not fetch its keys from the site the
//     snippet serves (the gateway itself, not serving yet at start);
//   - the lock error of two instances on one data directory is quoted
//     where the docs say what to do about it;
//   - every ```sh, ```bash or ```shell block parses with `bash -n`;
//   - every ```json block parses, and the one under "Caddy JSON" in
//     docs/caddyfile.md is the token_revocation handler that `caddy adapt`
//     prints for the file that section names.

// docFiles are the Markdown files whose snippets are tested.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md"), filepath.Join(root, "CONTRIBUTING.md")}
	for _, g := range []string{"examples/*.md", "docs/*.md", "docs/*/*.md"} {
		m, _ := filepath.Glob(filepath.Join(root, g))
		files = append(files, m...)
	}
	return files
}

// snippet is one fenced block of a Markdown file.
type snippet struct {
	file string
	line int
	lang string
	body string
}

func (s snippet) String() string {
	return fmt.Sprintf("%s:%d (```%s)", filepath.Join(filepath.Base(filepath.Dir(s.file)), filepath.Base(s.file)), s.line, s.lang)
}

var fence = regexp.MustCompile("^```([a-z]*)\\s*$")

// snippets returns the fenced blocks of file.
func snippets(t *testing.T, file string) []snippet {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []snippet
		cur  *snippet
		body []string
	)
	for i, line := range strings.Split(string(b), "\n") {
		if cur == nil {
			if m := fence.FindStringSubmatch(line); m != nil {
				cur, body = &snippet{file: file, line: i + 1, lang: m[1]}, nil
			}
			continue
		}
		if strings.TrimSpace(line) == "```" {
			cur.body = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
			continue
		}
		body = append(body, line)
	}
	return out
}

// syntaxNotation matches the <placeholders> of a syntax block.
var syntaxNotation = regexp.MustCompile(`<[a-z][a-z _:.-]*(\.\.\.)?>`)

// isFragment reports whether a Caddyfile starts with a directive rather
// than a site address or a global options block.
func isFragment(body string) bool {
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		first := strings.Fields(line)[0]
		if first == "{" || strings.Contains(first, ":") || strings.Contains(first, ".") || strings.HasPrefix(first, "(") {
			return false
		}
		return true
	}
	return false
}

// placement is the first line of a fragment that says where it goes.
var placement = regexp.MustCompile(`^\s*# (in|inside) [^\n]*site block`)

// caddyCmd runs the Caddy binary with args and stdin.
func caddyCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// checkCaddyfile fails when body is not fmt-clean or does not adapt.
func checkCaddyfile(t *testing.T, where, body string) {
	t.Helper()
	formatted, errOut, err := caddyCmd(t, body, "fmt", "-")
	if err != nil {
		t.Errorf("%s: caddy fmt: %v\n%s", where, err, errOut)
		return
	}
	if formatted != body {
		t.Errorf("%s is not caddy fmt-clean; formatted it reads:\n%s", where, formatted)
	}
	if isFragment(body) {
		if !placement.MatchString(body) {
			t.Errorf("%s starts with a directive and does not say where it goes: make its first line a comment such as `# in the site block in front of the API`\n%s", where, body)
			return
		}
		body = ":8080 {\n" + body + "}\n"
	}
	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"adapt", "--config", file, "--adapter", "caddyfile"}
	if !strings.Contains(body, "store redis") && !strings.Contains(body, "jwt ") {
		// Provisioning connects to the Redis a snippet names, and starts
		// fetching the keys of its jwt issuers (a DNS look-up of a name
		// that is not on loopback): those are adapted, not validated.
		args = append(args, "--validate")
	}
	if _, errOut, err := caddyCmd(t, "", args...); err != nil {
		t.Errorf("%s: caddy adapt: %v\n%s\n%s", where, err, errOut, body)
	}
}

// docSnippets returns the repository root and the Markdown blocks fenced
// with one of langs.
func docSnippets(t *testing.T, langs ...string) (string, []snippet) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out []snippet
	for _, f := range docFiles(t, root) {
		for _, s := range snippets(t, f) {
			if slices.Contains(langs, s.lang) {
				out = append(out, s)
			}
		}
	}
	return root, out
}

func TestDocsCaddyfiles(t *testing.T) {
	root, blocks := docSnippets(t, "caddyfile")
	tested := 0
	for _, s := range blocks {
		if syntaxNotation.MatchString(s.body) {
			continue
		}
		checkCaddyfile(t, s.String(), s.body)
		tested++
	}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*.Caddyfile"))
	files = append(files, filepath.Join(root, "Caddyfile.example"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkCaddyfile(t, filepath.Base(f), string(b))
		tested++
	}
	if tested < 10 {
		t.Fatalf("only %d Caddyfiles tested: are the Markdown fences ```caddyfile?", tested)
	}
}

func TestDocsShellSnippetsParse(t *testing.T) {
	_, blocks := docSnippets(t, "sh", "bash", "shell")
	tested := 0
	for _, s := range blocks {
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(s.body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s does not parse (bash -n): %v\n%s\n%s", s, err, out, s.body)
		}
		tested++
	}
	if tested < 5 {
		t.Fatalf("only %d shell snippets found", tested)
	}
}

// jsonSource is how the Caddy JSON section names the file its JSON block
// is adapted from.
var jsonSource = regexp.MustCompile("`caddy adapt --config ([^ `]+)[^`]*` prints")

// caddyJSONHeading is the heading of the section of docs/caddyfile.md whose
// first ```json block is the handler of the file it names.
var caddyJSONHeading = regexp.MustCompile("(?m)^#+ Caddy JSON$")

func TestDocsJSONIsWhatCaddyAdaptPrints(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(root, "docs", "caddyfile.md")
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	loc := caddyJSONHeading.FindIndex(b)
	if loc == nil {
		t.Fatal(`docs/caddyfile.md has no "Caddy JSON" section`)
	}
	i := loc[0]
	m := jsonSource.FindStringSubmatch(string(b[i:]))
	if m == nil {
		t.Fatal("the Caddy JSON section names no file (`caddy adapt --config <file> ...` prints)")
	}
	var block string
	for _, s := range snippets(t, doc) {
		if s.lang == "json" && s.line > strings.Count(string(b[:i]), "\n") {
			block = s.body
			break
		}
	}
	var want any
	if err := json.Unmarshal([]byte(block), &want); err != nil {
		t.Fatalf("the Caddy JSON block of docs/caddyfile.md does not parse: %v\n%s", err, block)
	}
	out, errOut, err := caddyCmd(t, "", "adapt", "--config", filepath.Join(root, m[1]), "--adapter", "caddyfile")
	if err != nil {
		t.Fatalf("caddy adapt --config %s: %v\n%s", m[1], err, errOut)
	}
	var cfg any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	got := findHandler(cfg, "token_revocation")
	if got == nil {
		t.Fatalf("caddy adapt printed no token_revocation handler:\n%s", out)
	}
	if !reflect.DeepEqual(got, want) {
		pretty, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("the Caddy JSON block of docs/caddyfile.md is not what caddy adapt --config %s prints for the handler:\n%s", m[1], pretty)
	}
}

// TestDocsJSONParses: every ```json block of the docs is JSON a reader can
// paste (one value, no comments or ellipses).
func TestDocsJSONParses(t *testing.T) {
	_, blocks := docSnippets(t, "json")
	for _, s := range blocks {
		var v any
		if err := json.Unmarshal([]byte(s.body), &v); err != nil {
			t.Errorf("%s does not parse as JSON: %v\n%s", s, err, s.body)
		}
	}
	if len(blocks) < 2 {
		t.Fatalf("only %d ```json blocks found in the docs", len(blocks))
	}
}

// findHandler returns the first object of cfg whose "handler" is name.
func findHandler(v any, name string) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		if x["handler"] == name {
			return x
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if h := findHandler(x[k], name); h != nil {
				return h
			}
		}
	case []any:
		for _, e := range x {
			if h := findHandler(e, name); h != nil {
				return h
			}
		}
	}
	return nil
}

// promtool is the path of promtool (Debian's prometheus package; scripts/test
// installs it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (scripts/test does: apt-get install prometheus)")
	}
	return p
}

func TestMonitoringRules(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "docs", "monitoring")
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		cmd := exec.Command(promtool(t), args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

var metricName = regexp.MustCompile(`caddy_token_revocation_[a-z_]+`)

// promqlExprs splits a ```promql block into its expressions: a line that
// starts with a space or tab continues the one before; comments and blank
// lines separate them.
func promqlExprs(body string) []string {
	var out []string
	cont := false
	for _, line := range strings.Split(body, "\n") {
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#"):
			cont = false
		case cont && (line[0] == ' ' || line[0] == '\t'):
			out[len(out)-1] += "\n" + line
		default:
			out = append(out, line)
			cont = true
		}
	}
	return out
}

// TestDocsPromQLParses: every expression of the docs' ```promql blocks is
// PromQL that Prometheus takes (promtool check rules, each expression a
// recording rule), and every sample scrape passes promtool check metrics.
func TestDocsPromQLParses(t *testing.T) {
	_, blocks := docSnippets(t, "promql")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: docs\n    rules:\n")
	n := 0
	for _, s := range blocks {
		for _, e := range promqlExprs(s.body) {
			n++
			fmt.Fprintf(&rules, "      # %s\n      - record: docs:expr_%d\n        expr: |\n", s, n)
			for _, l := range strings.Split(e, "\n") {
				fmt.Fprintf(&rules, "          %s\n", l)
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d PromQL expressions found in the docs", n)
	}
	file := filepath.Join(t.TempDir(), "docs-rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the docs' PromQL: %v\n%s\n%s", err, out, rules.String())
	}
	for _, s := range sampleScrapes(t) {
		cmd := exec.Command(promtool(t), "check", "metrics")
		cmd.Stdin = strings.NewReader(s.body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", s, err, out)
		}
	}
}

// sampleScrapes returns the docs' samples of /metrics: the ```text blocks
// that start with a # HELP line.
func sampleScrapes(t *testing.T) []snippet {
	t.Helper()
	_, blocks := docSnippets(t, "text")
	var out []snippet
	for _, s := range blocks {
		if strings.HasPrefix(s.body, "# HELP ") {
			out = append(out, s)
		}
	}
	return out
}

// TestMonitoringMetricsExist: every metric the alert rules, the Grafana
// dashboard, the docs' ```promql blocks and their sample scrapes name is in
// a real scrape of the gateway (Redis store, mirror mode, after
// revocations, checks and rejections), and a sample's # HELP lines are the
// gateway's.
func TestMonitoringMetricsExist(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	named := map[string][]string{}
	for _, f := range []string{"rules.yml", "grafana-dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(root, "docs", "monitoring", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricName.FindAllString(string(b), -1) {
			named[n] = append(named[n], f)
		}
	}
	if len(named) < 10 {
		t.Fatalf("only %d metric names found in the rules and dashboard", len(named))
	}
	_, promql := docSnippets(t, "promql")
	samples := sampleScrapes(t)
	if len(promql) == 0 || len(samples) == 0 {
		t.Fatalf("%d ```promql blocks and %d sample scrapes found in the docs", len(promql), len(samples))
	}
	for _, s := range append(promql, samples...) {
		for _, n := range metricName.FindAllString(s.body, -1) {
			if s.lang == "text" {
				// A sample's series carry suffixes (_bucket, _sum); its
				// metric is the name of its # HELP line.
				continue
			}
			named[n] = append(named[n], s.String())
		}
		for _, line := range strings.Split(s.body, "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == "#" && f[1] == "HELP" {
				named[f[2]] = append(named[f[2]], s.String())
			}
		}
	}

	rd := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
		}
		revoke /oauth/revoke
	}
	reverse_proxy %s
}`, rd.Addr, up.Addr())
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"metrics-1"}}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d", res.Status)
	}
	pollUntil(t, 5*time.Second, func() string {
		if res := get(t, c.URL("/api"), "Authorization: Bearer metrics-1"); res.Status != http.StatusUnauthorized {
			return fmt.Sprintf("revoked token: %d", res.Status)
		}
		return ""
	})
	get(t, c.URL("/api"), "Authorization: Bearer metrics-2")
	mustAdmin(t, c, "POST", "/token-revocation/unrevoke", map[string]any{"token": "metrics-1"}, nil)

	res := get(t, c.AdminURL("/metrics"))
	if res.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", res.Status)
	}
	scraped := map[string]bool{}
	for _, line := range strings.Split(res.Body, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "#" && f[1] == "HELP" {
			scraped[f[2]] = true // a histogram's own name
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if n := metricName.FindString(line); n != "" && strings.HasPrefix(line, n) {
			scraped[n] = true
		}
	}
	for n, where := range named {
		if !scraped[n] {
			t.Errorf("%s (named in %s) is not in the gateway's /metrics", n, strings.Join(where, ", "))
		}
	}
	help := map[string]bool{}
	for _, line := range strings.Split(res.Body, "\n") {
		if strings.HasPrefix(line, "# HELP ") {
			help[line] = true
		}
	}
	for _, s := range samples {
		for _, line := range strings.Split(s.body, "\n") {
			if strings.HasPrefix(line, "# HELP ") && !help[line] {
				t.Errorf("%s: the gateway's /metrics has no line\n%s\n(its help text changed? paste the gateway's)", s, line)
			}
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", res.Body)
	}
}

// domainName matches the host names a snippet's site addresses and
// placement comment name.
var domainName = regexp.MustCompile(`[a-z0-9-]+(\.[a-z0-9-]+)+`)

// siteHosts returns the hosts of the sites a Caddyfile snippet serves:
// its site addresses, or those its placement comment names.
func siteHosts(body string) map[string]bool {
	hosts := map[string]bool{}
	for i, line := range strings.Split(body, "\n") {
		switch {
		case i == 0 && placement.MatchString(line):
			for _, h := range domainName.FindAllString(line, -1) {
				hosts[h] = true
			}
		case line != "" && line[0] != '\t' && line[0] != ' ' && line[0] != '#' && strings.HasSuffix(line, "{"):
			for _, addr := range strings.FieldsFunc(strings.TrimSuffix(line, "{"), func(r rune) bool { return r == ',' || r == ' ' }) {
				if !strings.Contains(addr, "://") {
					addr = "//" + addr
				}
				if u, err := url.Parse(addr); err == nil && u.Hostname() != "" {
					hosts[u.Hostname()] = true
				}
			}
		}
	}
	return hosts
}

// TestDocsJWTKeysNotFromTheGatewayItself: a snippet's jwt block whose
// issuer is a site the snippet serves (Keycloak behind the gateway, at
// its public URL) names where the keys come from (jwks_url, discovery,
// keys) elsewhere; found by discovery they would be fetched through the
// gateway, which is not serving yet while it starts (a JWKS fetch
// failure at every start). On 5278a12 the Keycloak guide's did.
func TestDocsJWTKeysNotFromTheGatewayItself(t *testing.T) {
	_, blocks := docSnippets(t, "caddyfile")
	jwts := 0
	for _, s := range blocks {
		hosts := siteHosts(s.body)
		lines := strings.Split(s.body, "\n")
		for i, line := range lines {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "jwt" {
				continue
			}
			jwts++
			iss, err := url.Parse(f[1])
			if err != nil || !hosts[iss.Hostname()] {
				continue
			}
			indent := len(line) - len(strings.TrimLeft(line, "\t"))
			elsewhere := false
			for _, l := range lines[i+1:] {
				if !strings.Contains(line, "{") || len(l)-len(strings.TrimLeft(l, "\t")) <= indent {
					break
				}
				g := strings.Fields(l)
				switch {
				case len(g) < 2:
				case g[0] == "jwks_url" || g[0] == "discovery":
					u, err := url.Parse(g[1])
					elsewhere = err == nil && !hosts[u.Hostname()]
				case g[0] == "public_key" || g[0] == "public_key_file" || g[0] == "hmac_secret":
					elsewhere = true
				}
			}
			if !elsewhere {
				t.Errorf("%s: `%s` is a site of this snippet, so its keys would be fetched through the gateway itself: give jwks_url the IdP's own address (as reverse_proxy reaches it)", s, strings.TrimSpace(line))
			}
		}
	}
	if jwts < 3 {
		t.Fatalf("only %d jwt blocks found in the docs' snippets", jwts)
	}
}

// TestDocsQuoteTheDataDirectoryLock: the error a second Caddy on the same
// data directory gets is quoted in the docs, beside how to give each
// instance its own. On 5278a12 nothing said so.
func TestDocsQuoteTheDataDirectoryLock(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	msg := denylist.ErrLocked.Error()
	for _, f := range docFiles(t, root) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(b)), " ")
		if i := strings.Index(text, msg); i >= 0 && strings.Contains(text[i:min(len(text), i+len(msg)+400)], "XDG_DATA_HOME=") {
			return
		}
	}
	t.Errorf("no doc quotes %q followed by how to give each instance its own data directory (XDG_DATA_HOME=...)", msg)
}
