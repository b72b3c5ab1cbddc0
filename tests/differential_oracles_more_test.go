package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/gorilla/sessions"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Issue 22's oracles, beside issue 9's (differential_oracles_test.go):
// upstreams where the families of issue 22 live. They are started by
// TestEnforcementFamilies and TestMutationDifferential, not by
// TestDifferential (whose table stays issue 9's).
//
//   - gostruct (in-process): a Go API that decodes any JSON body into a
//     struct (encoding/json folds member names: "acceſſ_token" with a long
//     s binds to AccessToken), reads r.BasicAuth, a gorilla/sessions
//     cookie session, a JWT session cookie and kube-apiserver's WebSocket
//     bearer subprotocol;
//   - hypercorn: an ASGI app under Hypercorn, which accepts `Upgrade: h2c`
//     and then serves HTTP/2 requests on the same connection;
//   - laravel: Debian's Illuminate components with a personal access token
//     table looked up as Laravel Sanctum does ("<id>|<secret>", by the
//     secret alone, the id compared by SQLite), and Laravel's token guard
//     over a column that compares without case;
//   - laravel-pgsql: the same, the token guard's users in PostgreSQL under
//     a collation that compares at ICU's primary level, as MySQL 8's
//     default does (without case, accents, width or ignorable characters).
//
// The Express oracle (node) reads cookie-parser's signed and JSON cookies,
// the Flask and PHP ones Basic credentials as their frameworks decode them.

// moreOracleSpecs are issue 22's external oracles.
var moreOracleSpecs = []oracleSpec{
	{
		name: "hypercorn",
		missing: func(string) string {
			if out, err := exec.Command("/usr/bin/python3", "-c", "import hypercorn").CombinedOutput(); err != nil {
				return "/usr/bin/python3 cannot import hypercorn (python3-hypercorn): " + strings.TrimSpace(string(out))
			}
			return ""
		},
		command: func(dir string, port int) *exec.Cmd {
			return exec.Command("/usr/bin/python3", filepath.Join(dir, "hypercorn", "app.py"), strconv.Itoa(port))
		},
	},
	{
		name:    "laravel",
		missing: func(string) string { return laravelMissing() },
		command: func(dir string, port int) *exec.Cmd { return laravelOracle(dir, port) },
	},
	{
		name: "laravel-pgsql",
		missing: func(dir string) string {
			if why := laravelMissing(); why != "" {
				return why
			}
			if out, err := exec.Command("php", "-r", `exit(extension_loaded("pdo_pgsql") ? 0 : 1);`).CombinedOutput(); err != nil {
				return "php has no pdo_pgsql (php-pgsql): " + strings.TrimSpace(string(out))
			}
			if postgresBinDir() == "" {
				return "no PostgreSQL server (postgresql)"
			}
			return ""
		},
		command: func(dir string, port int) *exec.Cmd {
			pg, err := sharedPostgres()
			if err != nil {
				return exec.Command("sh", "-c", `echo "$0" >&2; exit 1`, "PostgreSQL: "+err.Error())
			}
			cmd := laravelOracle(dir, port)
			cmd.Env = append(cmd.Env, fmt.Sprintf("API_USERS_PGSQL=host=127.0.0.1;port=%d;dbname=postgres", pg))
			return cmd
		},
	},
}

// laravelMissing says why the laravel oracle cannot run here, or "".
func laravelMissing() string {
	if _, err := exec.LookPath("php"); err != nil {
		return "php not on PATH (php-cli)"
	}
	if _, err := os.Stat("/usr/share/php/Illuminate/Database/autoload.php"); err != nil {
		return "Illuminate is not installed (php-laravel-framework)"
	}
	if out, err := exec.Command("php", "-r", `exit(extension_loaded("pdo_sqlite") ? 0 : 1);`).CombinedOutput(); err != nil {
		return "php has no pdo_sqlite (php-sqlite3): " + strings.TrimSpace(string(out))
	}
	return ""
}

// laravelOracle is the laravel oracle's command serving on port.
func laravelOracle(dir string, port int) *exec.Cmd {
	// One database per oracle, kept when it is restarted.
	db := filepath.Join(os.TempDir(), fmt.Sprintf("sanctum-oracle-%d-%d", os.Getpid(), port))
	if os.MkdirAll(db, 0o700) == nil {
		tempDirs.add(db)
	}
	cmd := exec.Command("php", "-S", "127.0.0.1:"+strconv.Itoa(port), filepath.Join(dir, "laravel", "router.php"))
	cmd.Env = append(os.Environ(), "PHP_CLI_SERVER_WORKERS=4", "SANCTUM_DB="+filepath.Join(db, "tokens.sqlite"))
	return cmd
}

// startGoStructOracle serves goStructOracle on a free loopback port.
func startGoStructOracle(t testing.TB) *oracle {
	return startHandlerOracle(t, "gostruct", goStructOracle)
}

// gatewayedOracle is an oracle behind its own gateway.
type gatewayedOracle struct {
	o *oracle
	c *Caddy
}

// gateway is the gateway's address.
func (s *gatewayedOracle) gateway() string { return "127.0.0.1:" + strconv.Itoa(s.c.HTTPPort) }

// revoke revokes tok through the gateway's /oauth/revoke.
func (s *gatewayedOracle) revoke(t *testing.T, tok string) {
	t.Helper()
	res, err := tryDo(http.MethodPost, s.c.URL("/oauth/revoke"), strings.NewReader(url.Values{"token": {tok}}.Encode()), formCTLine)
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("%s: revoking %q through the gateway: %v %d %s", s.o.name, tok, err, res.Status, res.Body)
	}
}

// startGatewayedOracles starts the named oracles (nil: every one of issue
// 9 and issue 22; "go" and "gostruct" run in process), each behind a
// gateway whose Caddyfile is caddyfile(o), in parallel, sorted by name. A
// missing toolchain fails the test in CI (scripts/test installs it) and
// skips that oracle elsewhere.
func startGatewayedOracles(t *testing.T, names []string, caddyfile func(o *oracle) string) []*gatewayedOracle {
	dir := oraclesDir(t)
	specs := map[string]*oracleSpec{"go": nil, "gostruct": nil}
	for _, s := range append(slices.Clone(oracleSpecs), moreOracleSpecs...) {
		specs[s.name] = &s
	}
	if names == nil {
		names = slices.Sorted(maps.Keys(specs))
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out []*gatewayedOracle
	)
	for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
		spec := specs[name]
		if spec != nil {
			if why := spec.missing(dir); why != "" {
				if os.Getenv("CI") != "" {
					t.Errorf("the %s oracle cannot run in CI: %s (scripts/test installs it)", name, why)
				} else {
					t.Logf("SKIPPING ORACLE %s: %s (scripts/test installs it)", name, why)
				}
				continue
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o *oracle
			switch name {
			case "go":
				o = startGoOracle(t)
			case "gostruct":
				o = startGoStructOracle(t)
			default:
				o = startOracle(t, *spec, dir)
			}
			c := startCaddy(t, caddyfile(o))
			mu.Lock()
			out = append(out, &gatewayedOracle{o: o, c: c})
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.SortFunc(out, func(a, b *gatewayedOracle) int { return strings.Compare(a.o.name, b.o.name) })
	return out
}

// k8sBearerProtocol is kube-apiserver's WebSocket bearer subprotocol
// prefix (k8s.io/apiserver/pkg/authentication/request/websocket): the
// token follows, base64url without padding.
const k8sBearerProtocol = "base64url.bearer.authorization.k8s.io."

// grpcWebTextMessages reads a gRPC-Web text-mode body as a gRPC-Web
// server (Envoy's grpc_web filter, improbable-eng's grpcweb) hands it to
// the service: base64 in padded chunks of four characters, decoded; then
// each data frame's message, gunzip'd when flagged compressed and the
// grpc-encoding says gzip (grpc-go's decompressor), read as a
// google.protobuf.StringValue.
func grpcWebTextMessages(body []byte, encoding string) []string {
	var frames []byte
	for i := 0; i+4 <= len(body); i += 4 {
		q, err := base64.StdEncoding.DecodeString(string(body[i : i+4]))
		if err != nil {
			return nil
		}
		frames = append(frames, q...)
	}
	var out []string
	for len(frames) >= 5 {
		flag, n := frames[0], int(binary.BigEndian.Uint32(frames[1:5]))
		if n > len(frames)-5 {
			return out
		}
		msg := frames[5 : 5+n]
		frames = frames[5+n:]
		if flag&0x80 != 0 {
			continue
		}
		if flag&1 != 0 {
			if encoding != "gzip" {
				continue
			}
			zr, err := gzip.NewReader(bytes.NewReader(msg))
			if err != nil {
				continue
			}
			if msg, err = io.ReadAll(zr); err != nil {
				continue
			}
		}
		v := new(wrapperspb.StringValue)
		if proto.Unmarshal(msg, v) == nil {
			out = append(out, v.Value)
		}
	}
	return out
}

// gorillaSessionName and gorillaSessions are the gostruct oracle's
// gorilla/sessions cookie store, as its README sets one up: signed, not
// encrypted (securecookie: base64 of "date|base64(gob)|mac").
const gorillaSessionName = "session-name"

var gorillaSessions = sessions.NewCookieStore([]byte("differential-oracle-gorilla-secret"))

// gorillaSessionCookie is the gostruct oracle's session cookie value
// holding access_token tok, as gorilla/sessions saves it.
func gorillaSessionCookie(tok string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://oracle/", nil)
	s, _ := gorillaSessions.New(r, gorillaSessionName)
	s.Values["access_token"] = tok
	w := httptest.NewRecorder()
	if err := s.Save(r, w); err != nil {
		panic(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == gorillaSessionName {
			return c.Value
		}
	}
	panic("gorilla/sessions saved no cookie")
}

// jwtSessionName is the gostruct oracle's other session cookie: a JWT the
// application signs (HS256, go-jose) whose claims hold the access token,
// as Play's session cookie and many hand-made ones do.
const jwtSessionName = "jwt_session"

// jwtSessionKey is the key the oracle signs its JWT sessions with.
var jwtSessionKey = []byte("differential-oracle-jwt-session-key-32b")

// jwtSessionCookie is a JWT session holding access_token tok.
func jwtSessionCookie(tok string) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jwtSessionKey}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	s, err := josejwt.Signed(signer).Claims(map[string]any{"sub": "ada", "iat": time.Now().Unix(), "access_token": tok}).Serialize()
	if err != nil {
		panic(err)
	}
	return s
}

// jwtSessionAccessToken is the access_token of a JWT session the oracle
// signed ("" when its signature does not verify).
func jwtSessionAccessToken(v string) string {
	t, err := josejwt.ParseSigned(v, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return ""
	}
	var claims struct {
		AccessToken string `json:"access_token"`
	}
	if t.Claims(jwtSessionKey, &claims) != nil {
		return ""
	}
	return claims.AccessToken
}

// goStructOracle reads tokens the way many Go APIs do: a JSON body decoded
// into a struct whatever the Content-Type (json.NewDecoder(r.Body).Decode,
// whose member names match case-insensitively under Unicode folding; a
// CBOR or YAML body by its Content-Type),
// r.BasicAuth, a Bearer prefix, the access_token of a gorilla/sessions
// cookie session and of a JWT session cookie, on a WebSocket upgrade the Kubernetes
// bearer subprotocol, and what family 18 carries (goStructRound3: a []byte member,
// a protobuf message in a gRPC -bin metadata header as grpc-gateway hands it over).
func goStructOracle(w http.ResponseWriter, r *http.Request) {
	ans := oracleAnswer{Oracle: "gostruct", Path: r.URL.Path, Tokens: []oracleToken{}, Errors: []string{}}
	add := func(source, v string) {
		if v != "" {
			ans.Tokens = append(ans.Tokens, oracleToken{source, v})
		}
	}
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Token        string `json:"token"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&body); err == nil {
		add("json_access_token", body.AccessToken)
		add("json_refresh_token", body.RefreshToken)
		add("json_token", body.Token)
	}
	// CBOR (fxamacker/cbor) and YAML (go.yaml.in/yaml, as Kubernetes-style
	// APIs take application/yaml) bodies into the same struct.
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "application/cbor":
		var cb struct {
			AccessToken string `cbor:"access_token"`
		}
		if err := cbor.Unmarshal(raw, &cb); err == nil {
			add("cbor_access_token", cb.AccessToken)
		}
	case "application/x-protobuf", "application/protobuf", "application/octet-stream":
		// A protobuf message (message Credentials { string client_id = 1;
		// string access_token = 8; }) as generated code parses it: the
		// last field 8 wins.
		if tok, ok := protobufField(raw, protobufTokenField); ok {
			add("protobuf_access_token", tok)
		}
	case "application/yaml", "application/x-yaml", "text/yaml":
		var yb struct {
			AccessToken string `yaml:"access_token"`
		}
		if err := yaml.Unmarshal(raw, &yb); err == nil {
			add("yaml_access_token", yb.AccessToken)
		}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc-web-text") {
		for _, v := range grpcWebTextMessages(raw, r.Header.Get("Grpc-Encoding")) {
			add("grpc_web_text", v)
		}
	}
	goStructRound3(r, raw, add)
	if user, pass, ok := r.BasicAuth(); ok {
		add("basic_password", pass)
		add("basic_username", user)
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		add("bearer", tok)
	}
	if c, err := r.Cookie(jwtSessionName); err == nil {
		add("jwt_session", jwtSessionAccessToken(c.Value))
	}
	if s, err := gorillaSessions.Get(r, gorillaSessionName); err == nil {
		tok, _ := s.Values["access_token"].(string)
		add("gorilla_session", tok)
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// kube-apiserver's protocol.go: every offered subprotocol, trimmed.
		for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
			for _, p := range strings.Split(h, ",") {
				enc, ok := strings.CutPrefix(strings.TrimSpace(p), k8sBearerProtocol)
				if !ok {
					continue
				}
				if tok, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
					add("k8s_ws_protocol", string(tok))
				} else {
					ans.Errors = append(ans.Errors, "k8s subprotocol: "+err.Error())
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// protobufTokenField is the field number of the gostruct oracle's
// protobuf message that holds the access token.
const protobufTokenField = 8

// protobufField returns the last string field num of the protobuf message
// b, as generated code parses it; false when b is no message or has none.
func protobufField(b []byte, num protowire.Number) (string, bool) {
	var v string
	found := false
	ok := eachProtobufField(b, func(n protowire.Number, typ protowire.Type, val []byte) {
		if n == num && typ == protowire.BytesType {
			v, found = string(val), true
		}
	})
	return v, ok && found
}

// eachProtobufField calls fn with each field of the protobuf message b in
// order: its number, its type and, for a length-delimited field or a
// group, its bytes (nil for the others); false when b is no message.
func eachProtobufField(b []byte, fn func(protowire.Number, protowire.Type, []byte)) bool {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return false
		}
		b = b[l:]
		var val []byte
		switch typ {
		case protowire.BytesType:
			val, l = protowire.ConsumeBytes(b)
		case protowire.StartGroupType:
			val, l = protowire.ConsumeGroup(n, b)
		default:
			l = protowire.ConsumeFieldValue(n, typ, b)
		}
		if l < 0 {
			return false
		}
		fn(n, typ, val)
		b = b[l:]
	}
	return true
}
