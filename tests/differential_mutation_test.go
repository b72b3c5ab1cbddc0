package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMutationDifferential is issue 22's mutation-based differential
// fuzzer. It starts from the generated spellings (diffSpellings) and the
// family cases (familyCases), each carrying a revoked token, and mutates
// them: the token's spelling (percent, base64, JSON escapes, quotes,
// trailing dots, framework wrappers), the channel it travels in, header
// names, separators, the Content-Type, the framing (chunked, gzip), the
// method, the HTTP version (1.0, 1.1, an h2c tunnel) and single bytes.
// Each request goes as raw bytes on a TCP connection directly to an oracle
// and through the gateway in front of it. A violation is an oracle reading
// a revoked token through the gateway; each is printed with the
// request's exact bytes (quoted) once per kind (oracle, sources, seed and
// mutation kinds), at most 25 per oracle, and all are counted. A request
// an oracle reads the revoked token from directly joins the worker's
// corpus for that oracle (up to 1000) and is mutated further.
//
// MUTATION_FUZZ_DURATION (a Go duration, default 60s) bounds the run;
// MUTATION_FUZZ_SEED (default: the time) seeds it, and is printed: worker
// i draws from seed+i, so a run is repeatable given the oracles' answers.
// `make fuzz-differential` runs it for an hour.
//
// Run: CI=true CADDY_BIN=... MUTATION_FUZZ_DURATION=60s go test -count=1 -run TestMutationDifferential -v ./tests
func TestMutationDifferential(t *testing.T) {
	duration := 60 * time.Second
	if v := os.Getenv("MUTATION_FUZZ_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("MUTATION_FUZZ_DURATION=%q: %v", v, err)
		}
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MUTATION_FUZZ_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MUTATION_FUZZ_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("MUTATION_FUZZ_SEED=%d MUTATION_FUZZ_DURATION=%s", seed, duration)

	subjects := startGatewayedOracles(t, nil, func(o *oracle) string {
		return diffCaddyfile(o.name, false, t.TempDir(), o.addr)
	})
	toks := newDiffTokens()
	revoked := map[string]bool{toks.revoked["opaque"]: true, toks.revoked["jwt"]: true}
	for _, s := range subjects {
		for tok := range revoked {
			s.revoke(t, tok)
		}
	}
	// The Sanctum token, issued by the laravel oracle and revoked at its
	// gateway; the other oracles carry it as an opaque token.
	sanctum := ""
	for _, s := range subjects {
		if s.o.name == "laravel" {
			next := 100
			sanctum, _ = familyTokens(t, "sanctum", s.o, &next)
		}
	}
	if sanctum != "" {
		revoked[sanctum] = true
		for _, s := range subjects {
			s.revoke(t, sanctum)
		}
	}
	seeds := mutationSeeds(toks.revoked["opaque"], toks.revoked["jwt"], sanctum)
	t.Logf("%d oracles behind %d gateways, %d seed requests, %d revoked tokens", len(subjects), len(subjects), len(seeds), len(revoked))

	type oracleStats struct {
		sent, directErrs, directReads, refused, violations, crashes int
	}
	var (
		mu         sync.Mutex
		stats      = map[string]*oracleStats{}
		violations []string
		seen       = map[string]bool{} // violation signatures already printed in full
		printed    = map[string]int{}  // violations printed in full, per oracle
		errCount   int
		firstErrs  []string
		directErrs = map[string][]string{} // the first no-answers of each oracle, sent directly
		recent     = map[string][][]byte{} // the last requests sent to each oracle
		crashes    []string
	)
	for _, s := range subjects {
		stats[s.o.name] = &oracleStats{}
	}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed+uint64(w), seed^0x9e3779b97f4a7c15))
			// Each oracle's corpus: the seeds, and the mutated requests
			// it read a revoked token from.
			corpus := map[string][]fuzzReq{}
			for _, s := range subjects {
				corpus[s.o.name] = slices.Clone(seeds)
			}
			for n := 0; time.Now().Before(deadline); n++ {
				s := subjects[rng.IntN(len(subjects))]
				base := corpus[s.o.name][rng.IntN(len(corpus[s.o.name]))]
				m := base.clone()
				var chain []string
				for range 1 + rng.IntN(4) {
					chain = append(chain, mutate(rng, &m))
				}
				req := m.render()
				dStatus, direct, derr := m.exchange(s.o.addr)
				vStatus, via, verr := m.exchange(s.gateway())
				directRead := readsAny(direct, revoked)
				leaked := readsAny(via, revoked)
				// An upstream crashing on a request is its bug, not a
				// violation: it is restarted, and what it was sent last
				// reported.
				restarted, rerr := false, error(nil)
				ended, status := s.o.crashed()
				if ended {
					restarted, rerr = s.o.restart()
				}
				mu.Lock()
				st := stats[s.o.name]
				st.sent++
				recent[s.o.name] = append(recent[s.o.name], req)
				if r := recent[s.o.name]; len(r) > 8 {
					recent[s.o.name] = r[len(r)-8:]
				}
				if rerr != nil {
					t.Errorf("restarting the %s oracle: %v", s.o.name, rerr)
				} else if restarted {
					st.crashes++
					var last []string
					for _, r := range recent[s.o.name] {
						q := strconv.Quote(string(r))
						if len(q) > 1000 {
							q = q[:1000] + "…"
						}
						last = append(last, "    "+q)
					}
					if len(crashes) < 20 {
						crashes = append(crashes, fmt.Sprintf("ORACLE CRASH %s (%s) after %d requests, restarted; the last requests sent to it (by 4 workers, directly and through the gateway):\n%s",
							s.o.name, status, st.sent, strings.Join(last, "\n")))
					}
				}
				if derr != nil {
					st.directErrs++
					if len(directErrs[s.o.name]) < 3 {
						directErrs[s.o.name] = append(directErrs[s.o.name], fmt.Sprintf("after %d requests: %v\n    %s", st.sent, derr, strconv.Quote(string(req))))
					}
				}
				if verr != nil {
					errCount++
					if len(firstErrs) < 5 {
						firstErrs = append(firstErrs, fmt.Sprintf("%s: through the gateway: %v\n    %s", s.o.name, verr, strconv.Quote(string(req))))
					}
				}
				if len(directRead) > 0 {
					st.directReads++
					if slices.Contains([]int{400, 401, 413, 415}, vStatus) {
						st.refused++
					}
				}
				if len(leaked) > 0 {
					st.violations++
					sig := s.o.name + " " + strings.Join(leaked, ",") + " " + mutationKinds(base.name, chain)
					if !seen[sig] && printed[s.o.name] < 25 {
						seen[sig] = true
						printed[s.o.name]++
						violations = append(violations, fmt.Sprintf("VIOLATION %s read the revoked token through the gateway (%s), gateway status %d; directly status %d read %v (err %v); seed %q, mutations %v:\n    %s",
							s.o.name, strings.Join(leaked, ","), vStatus, dStatus, directRead, derr, base.name, chain, strconv.Quote(string(req))))
					}
				}
				mu.Unlock()
				if len(directRead) > 0 && len(leaked) == 0 && len(corpus[s.o.name]) < 1000 {
					m.name = base.name + "+" + strings.Join(chain, "+")
					corpus[s.o.name] = append(corpus[s.o.name], m)
				}
			}
		}()
	}
	wg.Wait()

	var b strings.Builder
	total, totalV := 0, 0
	fmt.Fprintf(&b, "%-10s %9s %11s %8s %12s %9s %10s\n", "oracle", "sent", "direct-err", "crashes", "direct-read", "refused", "violations")
	for _, s := range subjects {
		st := stats[s.o.name]
		total += st.sent
		totalV += st.violations
		fmt.Fprintf(&b, "%-10s %9d %11d %8d %12d %9d %10d\n", s.o.name, st.sent, st.directErrs, st.crashes, st.directReads, st.refused, st.violations)
		if st.directErrs > st.sent/10 && st.directErrs <= st.sent/2 {
			t.Logf("the %s oracle gave no HTTP answer to %d of %d requests sent directly; the first:\n%s\nthe oracle: %s",
				s.o.name, st.directErrs, st.sent, strings.Join(directErrs[s.o.name], "\n"), s.o.state())
		}
		if st.directErrs > st.sent/2 {
			// An oracle that stopped answering would hide violations.
			t.Errorf("the %s oracle gave no HTTP answer to %d of %d requests sent directly; the first:\n%s\nthe oracle: %s",
				s.o.name, st.directErrs, st.sent, strings.Join(directErrs[s.o.name], "\n"), s.o.state())
		}
	}
	fmt.Fprintf(&b, "requests sent: %d (each directly and through the gateway), violations: %d (%d distinct printed), gateway errors: %d, seed %d",
		total, totalV, len(violations), errCount, seed)
	for _, v := range violations {
		t.Log(v)
	}
	for _, c := range crashes {
		t.Log(c)
	}
	if len(firstErrs) > 0 {
		t.Logf("requests through the gateway that got no HTTP answer (%d), e.g.:\n%s", errCount, strings.Join(firstErrs, "\n"))
	}
	t.Logf("per oracle (direct-err: no HTTP answer when sent directly; crashes: the oracle's process ended and was restarted; direct-read: the oracle read a revoked token when sent directly; refused: of those, the gateway answered 400/401/413/415):\n%s", b.String())
	if errCount > total/10 {
		t.Errorf("%d of %d requests through the gateway failed, e.g.:\n%s", errCount, total, strings.Join(firstErrs, "\n"))
	}
	if totalV > 0 {
		t.Errorf("%d violations: a revoked token reached an oracle through the gateway (MUTATION_FUZZ_SEED=%d)", totalV, seed)
	}
}

// mutationKinds names a violation's kind for deduplication: the seed's
// name and the mutations, each without its parameters, sorted and unique.
func mutationKinds(seed string, chain []string) string {
	parts := strings.Split(seed, "+")
	kinds := []string{parts[0]}
	for _, m := range append(parts[1:], chain...) {
		k, _, _ := strings.Cut(m, "@")
		if strings.HasPrefix(k, "byte-") || strings.HasPrefix(k, "sep-") {
			k, _, _ = strings.Cut(k, ":")
		}
		if !strings.HasSuffix(k, ":none") {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds[1:])
	return strings.Join(slices.Compact(kinds), " ")
}

// readsAny returns the sources from which ans read one of the tokens.
func readsAny(ans oracleAnswer, tokens map[string]bool) []string {
	var srcs []string
	for _, tk := range ans.Tokens {
		if tokens[tk.Value] {
			srcs = append(srcs, tk.Source)
		}
	}
	return srcs
}

// fuzzReq is a request the fuzzer mutates: rendered byte for byte.
type fuzzReq struct {
	name           string // the seed's name and the mutations applied
	tok            string // the token it carries, as revoked
	method, target string
	version        string // "HTTP/1.1", "HTTP/1.0", or "h2c": an h2c tunnel
	headers        []string
	body           []byte
	// rawFraming: the headers frame the body themselves (no Content-Length
	// is added).
	rawFraming bool
}

func (r fuzzReq) clone() fuzzReq {
	r.headers = slices.Clone(r.headers)
	r.body = slices.Clone(r.body)
	return r
}

// render is the request's bytes. For h2c it is the bare upgrade request
// (GET /api/secret, no other header): the target and headers travel in
// the HTTP/2 request inside the tunnel.
func (r fuzzReq) render() []byte {
	if r.version == "h2c" {
		return h2cUpgrade("/api/secret")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\nHost: 127.0.0.1\r\n", r.method, r.target, r.version)
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	if !r.rawFraming && (len(r.body) > 0 || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(r.body)
	return b.Bytes()
}

// exchange sends the request to addr; an h2c request sends its headers
// again in an HTTP/2 request inside the tunnel.
func (r fuzzReq) exchange(addr string) (int, oracleAnswer, error) {
	if r.version != "h2c" {
		return exchange(addr, r.render())
	}
	var fields []string
	for _, h := range r.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || name == "connection" || name == "upgrade" || name == "http2-settings" ||
			name == "content-length" || name == "transfer-encoding" || name == "host" {
			continue
		}
		fields = append(fields, name, strings.TrimSpace(value))
	}
	path := r.target
	if !strings.HasPrefix(path, "/") {
		path = "/"
	}
	return h2cExchange(addr, r.render(), path, fields...)
}

// mutationSeeds are the fuzzer's starting requests: every generated
// spelling of the opaque token and the JWT (but the route and
// forward-route ones), and the family cases'.
func mutationSeeds(opaque, jwt, sanctum string) []fuzzReq {
	var out []fuzzReq
	add := func(name, tok string, q rawReq) {
		out = append(out, fuzzReq{name: name, tok: tok, method: q.method, target: q.target, version: "HTTP/1.1",
			headers: q.headers, body: q.body, rawFraming: slices.ContainsFunc(q.headers, func(h string) bool {
				return strings.HasPrefix(strings.ToLower(h), "transfer-encoding:")
			})})
	}
	for _, sp := range diffSpellings() {
		if sp.route || sp.revokedOnly {
			continue
		}
		switch sp.kind {
		case "opaque":
			add(sp.name, opaque, sp.build(opaque))
		case "jwt":
			add(sp.name, jwt, sp.build(jwt))
		}
	}
	for _, fc := range familyCases() {
		tok := opaque
		switch fc.kind {
		case "jwt":
			tok = jwt
		case "sanctum":
			if sanctum == "" {
				continue
			}
			tok = sanctum
		}
		p := tok
		if fc.present != nil {
			p = fc.present(tok)
		}
		name := fmt.Sprintf("family%d/%s", fc.family, fc.name)
		if fc.h2c {
			out = append(out, fuzzReq{name: name, tok: tok, method: "GET", target: "/api/secret", version: "h2c",
				headers: []string{"Authorization: Bearer " + p}})
			continue
		}
		add(name, tok, fc.build(p))
	}
	return out
}

// tokenSpellings re-spell a token as some client, framework or wrapper
// could.
var tokenSpellings = []struct {
	name string
	f    func(rng *rand.Rand, tok string) string
}{
	{"pct-all", func(_ *rand.Rand, tok string) string { return pctAll(tok) }},
	{"pct-one", func(rng *rand.Rand, tok string) string {
		i := rng.IntN(len(tok))
		return tok[:i] + fmt.Sprintf("%%%02X", tok[i]) + tok[i+1:]
	}},
	{"pct-lower", func(rng *rand.Rand, tok string) string {
		i := rng.IntN(len(tok))
		return tok[:i] + fmt.Sprintf("%%%02x", tok[i]) + tok[i+1:]
	}},
	{"json-escape", func(rng *rand.Rand, tok string) string {
		i := rng.IntN(len(tok))
		return tok[:i] + fmt.Sprintf(`\u%04x`, tok[i]) + tok[i+1:]
	}},
	{"base64", func(_ *rand.Rand, tok string) string { return base64.StdEncoding.EncodeToString([]byte(tok)) }},
	{"base64url", func(_ *rand.Rand, tok string) string { return base64.RawURLEncoding.EncodeToString([]byte(tok)) }},
	{"quoted", func(_ *rand.Rand, tok string) string { return `"` + tok + `"` }},
	{"dot", func(_ *rand.Rand, tok string) string { return tok + "." }},
	{"dotdot", func(_ *rand.Rand, tok string) string { return tok + ".." }},
	{"lead-dot", func(_ *rand.Rand, tok string) string { return "." + tok }},
	{"colon-prefix", func(_ *rand.Rand, tok string) string { return "x:" + tok }},
	{"pipe-prefix", func(_ *rand.Rand, tok string) string { return "7|" + tok }},
	{"sanctum-secret", func(_ *rand.Rand, tok string) string {
		if _, s, ok := strings.Cut(tok, "|"); ok {
			return s
		}
		return tok
	}},
	{"zero-pad", func(_ *rand.Rand, tok string) string { return "0" + tok }},
	{"signed-cookie", func(_ *rand.Rand, tok string) string { return "s:" + signedCookie(tok) }},
	{"json-cookie", func(_ *rand.Rand, tok string) string { return `j:"` + tok + `"` }},
	{"json-cookie-pct", func(_ *rand.Rand, tok string) string { return `j%3A%22` + tok + `%22` }},
	{"nbsp", func(_ *rand.Rand, tok string) string { return tok + "\xa0" }},
	{"nel", func(_ *rand.Rand, tok string) string { return tok + "\x85" }},
	{"fragment", func(_ *rand.Rand, tok string) string { return tok + "#x" }},
	{"comma", func(_ *rand.Rand, tok string) string { return tok + ",x" }},
	{"plus-space", func(_ *rand.Rand, tok string) string { return "+" + tok }},
	{"backslash", func(rng *rand.Rand, tok string) string {
		i := rng.IntN(len(tok))
		return tok[:i] + `\` + tok[i:]
	}},
}

// fuzzChannels are places a token can travel (%s: its spelling).
var fuzzChannels = []string{
	"Authorization: Bearer %s", "Authorization: bearer %s", "Authorization: Token %s",
	"X-Api-Key: %s", "X-Auth-Token: %s", "X-Access-Token: %s", "Api-Key: %s", "Token: %s",
	"Cookie: session=%s", "Cookie: token=%s", "Cookie: a=1; session=%s",
	"Sec-WebSocket-Protocol: " + k8sBearerProtocol + "%s",
}

// contentTypes are Content-Type values, odd ones first.
var contentTypes = []string{
	"application/x-www-form-urlencoded, text/plain", "text/plain, application/x-www-form-urlencoded",
	"application/x-www-form-urlencoded charset=utf-8", "application/json charset=utf-8",
	"application/json, text/plain", "application/x-www-form-urlencoded;;", "application/x-www-form-urlencoded; charset",
	"multipart/form-data; xboundary=AbC; boundary=XyZ", "multipart/form-data; boundary=XyZ; boundary=AbC",
	"multipart/form-data; boundary=XyZ", "multipart/form-data boundary=XyZ", "multipart/form-data; boundary=XyZ, text/plain",
	"application/x-www-form-urlencoded", "application/json", "text/plain", "application/vnd.api+json",
	"APPLICATION/JSON", "application/json; charset=latin1", "application/x-www-form-urlencoded; charset=iso-8859-1",
	"", "*/*", "application/*",
}

// headerNames of header lines, mutated as clients may.
var headerNameMutations = []struct {
	name string
	f    func(string) string
}{
	{"lower", strings.ToLower},
	{"upper", strings.ToUpper},
	{"underscore", func(n string) string { return strings.ReplaceAll(n, "-", "_") }},
	{"space-before-colon", func(n string) string { return n + " " }},
	{"dot", func(n string) string { return strings.ReplaceAll(n, "-", ".") }},
	{"x-prefix", func(n string) string { return "X-" + n }},
}

// interestingBytes are inserted or substituted by the byte mutations.
var interestingBytes = []string{"\x00", "\t", " ", "\x0b", "\x0c", "\x1f", "\x7f", "\x85", "\xa0", "\xff", "#", "%", "%00", "+", ".", ",", ";", ":", "|",
	"\"", "\\", "=", "&", "?", "/", "\r\n ", "\n", "\r"}

// mutate applies one random mutation to r and names it.
func mutate(rng *rand.Rand, r *fuzzReq) string {
	tok := r.tok
	switch rng.IntN(13) {
	case 0, 1: // the token's spelling, wherever it occurs
		sp := tokenSpellings[rng.IntN(len(tokenSpellings))]
		s := sp.f(rng, tok)
		r.target = strings.ReplaceAll(r.target, tok, s)
		for i := range r.headers {
			r.headers[i] = strings.ReplaceAll(r.headers[i], tok, s)
		}
		r.body = bytes.ReplaceAll(r.body, []byte(tok), []byte(s))
		return "spell:" + sp.name
	case 2: // the token in another channel too
		ch := fuzzChannels[rng.IntN(len(fuzzChannels))]
		v := tok
		if strings.HasPrefix(ch, "Sec-WebSocket-Protocol") {
			v = base64.RawURLEncoding.EncodeToString([]byte(tok))
			r.headers = append(r.headers, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
		}
		r.headers = append(r.headers, strings.ReplaceAll(ch, "%s", v))
		return "channel:" + strings.SplitN(ch, ":", 2)[0]
	case 3: // Basic credentials
		creds := base64.StdEncoding.EncodeToString([]byte("user:" + tok))
		name := "basic"
		if rng.IntN(2) == 0 {
			creds = looseBase64("user:" + tok)
			name = "basic-loose"
		}
		r.headers = append(r.headers, "Authorization: Basic "+creds)
		return name
	case 4: // a header name
		if len(r.headers) == 0 {
			return "header-name:none"
		}
		i := rng.IntN(len(r.headers))
		name, value, ok := strings.Cut(r.headers[i], ":")
		if !ok {
			return "header-name:none"
		}
		m := headerNameMutations[rng.IntN(len(headerNameMutations))]
		r.headers[i] = m.f(name) + ":" + value
		return "header-name:" + m.name
	case 5: // a duplicate header line, junk first or last
		if len(r.headers) == 0 {
			return "dup:none"
		}
		i := rng.IntN(len(r.headers))
		name, _, _ := strings.Cut(r.headers[i], ":")
		junkLine := name + ": junkjunkjunkjunkjunk"
		if rng.IntN(2) == 0 {
			r.headers = slices.Insert(r.headers, i, junkLine)
			return "dup:junk-first"
		}
		r.headers = append(r.headers, junkLine)
		return "dup:junk-last"
	case 6: // separators in the target or body
		from := []string{"&", ";", "=", "?", " ", ",", "\"", ":"}[rng.IntN(8)]
		to := []string{"&", ";", "%26", "%3D", "%3F", "\t", "+", "%20", ",", "&&"}[rng.IntN(10)]
		if rng.IntN(2) == 0 {
			r.target = strings.Replace(r.target, from, to, 1)
			return fmt.Sprintf("sep-target:%q>%q", from, to)
		}
		r.body = bytes.Replace(r.body, []byte(from), []byte(to), 1)
		return fmt.Sprintf("sep-body:%q>%q", from, to)
	case 7: // the Content-Type
		ct := contentTypes[rng.IntN(len(contentTypes))]
		r.headers = slices.DeleteFunc(r.headers, func(h string) bool { return strings.HasPrefix(strings.ToLower(h), "content-type:") })
		if ct != "" {
			r.headers = append(r.headers, "Content-Type: "+ct)
		}
		if r.method == "GET" && len(r.body) == 0 {
			r.method = "POST"
			r.body = []byte("access_token=" + tok)
		}
		return "content-type:" + ct
	case 8: // the framing
		if r.rawFraming || len(r.body) == 0 {
			return "framing:none"
		}
		switch rng.IntN(3) {
		case 0:
			r.body = chunked(func(string) []byte { return r.body })("")
			r.headers = append(r.headers, "Transfer-Encoding: chunked")
			r.rawFraming = true
			return "framing:chunked"
		case 1:
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(r.body)
			w.Close()
			r.body = b.Bytes()
			r.headers = append(r.headers, "Content-Encoding: gzip")
			return "framing:gzip"
		default:
			r.headers = append(r.headers, "Expect: 100-continue")
			return "framing:expect"
		}
	case 9: // the HTTP version
		v := []string{"HTTP/1.0", "HTTP/1.1", "h2c"}[rng.IntN(3)]
		if v == "h2c" && (len(r.body) > 0 || r.rawFraming) {
			v = "HTTP/1.0"
		}
		r.version = v
		return "version:" + v
	case 10: // the method
		m := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}[rng.IntN(6)]
		r.method = m
		return "method:" + m
	case 11: // the token in the target
		where := rng.IntN(3)
		switch where {
		case 0:
			sep := "?"
			if strings.Contains(r.target, "?") {
				sep = "&"
			}
			r.target += sep + "access_token=" + tok
			return "target:query"
		case 1:
			r.target = "/api/" + tok + "/secret"
			return "target:path"
		default:
			r.target += "#" + tok
			return "target:fragment"
		}
	default: // one byte somewhere
		b := interestingBytes[rng.IntN(len(interestingBytes))]
		switch rng.IntN(3) {
		case 0:
			i := rng.IntN(len(r.target) + 1)
			r.target = r.target[:i] + b + r.target[i:]
			return fmt.Sprintf("byte-target:%q@%d", b, i)
		case 1:
			if len(r.headers) == 0 {
				return "byte-header:none"
			}
			h := rng.IntN(len(r.headers))
			i := rng.IntN(len(r.headers[h]) + 1)
			r.headers[h] = r.headers[h][:i] + b + r.headers[h][i:]
			return fmt.Sprintf("byte-header:%q@%d:%d", b, h, i)
		default:
			i := rng.IntN(len(r.body) + 1)
			r.body = slices.Concat(r.body[:i], []byte(b), r.body[i:])
			return fmt.Sprintf("byte-body:%q@%d", b, i)
		}
	}
}
