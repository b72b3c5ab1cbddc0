package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The differential suite's oracles (issue 9, item 6): small apps on real
// server frameworks, each answering every request with the tokens it
// extracted (oracleAnswer). Their sources live in tests/differential/oracles;
// scripts/test installs their toolchains (apt-get, npm ci).

// oracleToken is one token an oracle extracted, and where from ("bearer",
// "cookie", "query", ...: the oracle's own name for its reading).
type oracleToken struct {
	Source string `json:"source"`
	Value  string `json:"value"`
}

// oracleAnswer is an oracle's answer to every request.
type oracleAnswer struct {
	// Oracle names the family ("go", "node", ...); empty when the answer is
	// not an oracle's (the gateway's own, or an error page).
	Oracle string `json:"oracle"`
	// Route is "revoke" when the framework's router sent the request to
	// the app's POST /oauth/revoke endpoint.
	Route  string        `json:"route"`
	Path   string        `json:"path"`
	Tokens []oracleToken `json:"tokens"`
	Errors []string      `json:"errors"`
	// GatewayError is the "error" member of the gateway's own JSON answer
	// ("invalid_request", "invalid_token", ...); empty in an oracle's.
	GatewayError string `json:"error"`
}

// oracle is one running oracle app.
type oracle struct {
	name string
	addr string // 127.0.0.1:port
	// logs is an external oracle's output; nil for an in-process one.
	logs *syncBuffer

	mu     sync.Mutex
	exited <-chan struct{} // closed when the external oracle's process ends
	spawn  func() error    // starts the external process again on addr
	status atomic.Value    // the process's exit status (a string), once ended
}

// crashed says whether an external oracle's process has ended, and how.
func (o *oracle) crashed() (bool, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exited == nil {
		return false, ""
	}
	select {
	case <-o.exited:
		status, _ := o.status.Load().(string)
		return true, status
	default:
		return false, ""
	}
}

// restart starts an external oracle's process again on its port when it
// has ended, and says whether it did (once, however many callers saw it
// end).
func (o *oracle) restart() (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.exited:
		return true, o.spawn()
	default:
		return false, nil
	}
}

// state says whether an external oracle's process still runs, and the end
// of its output, for a report.
func (o *oracle) state() string {
	if o.logs == nil {
		return "in process"
	}
	run := "running"
	if ended, status := o.crashed(); ended {
		run = "EXITED (" + status + ")"
	}
	out := o.logs.String()
	if len(out) > 2000 {
		out = "…" + out[len(out)-2000:]
	}
	return run + "; its output:\n" + out
}

// oracleSpec says how to start one family.
type oracleSpec struct {
	name string
	// missing returns why the toolchain is not usable here, or "".
	missing func(dir string) string
	// command returns the command serving on port, run in dir.
	command func(dir string, port int) *exec.Cmd
}

// oracleSpecs are the external families; the Go one runs in-process.
var oracleSpecs = []oracleSpec{
	{
		name: "node",
		missing: func(dir string) string {
			if _, err := exec.LookPath("node"); err != nil {
				return "node not on PATH"
			}
			if _, err := os.Stat(filepath.Join(dir, "node", "node_modules", "passport-http-bearer")); err != nil {
				return "tests/differential/oracles/node/node_modules missing (npm ci)"
			}
			return ""
		},
		command: func(dir string, port int) *exec.Cmd {
			return exec.Command("node", filepath.Join(dir, "node", "server.js"), strconv.Itoa(port))
		},
	},
	{
		name: "python",
		missing: func(string) string {
			// Debian's interpreter: a pyenv python3 first on PATH lacks
			// the python3-flask package.
			if out, err := exec.Command("/usr/bin/python3", "-c", "import flask, werkzeug, beaker, msgpack").CombinedOutput(); err != nil {
				return "/usr/bin/python3 cannot import flask, beaker or msgpack (python3-flask, python3-beaker, python3-msgpack): " + strings.TrimSpace(string(out))
			}
			return ""
		},
		command: func(dir string, port int) *exec.Cmd {
			return exec.Command("/usr/bin/python3", filepath.Join(dir, "python", "app.py"), strconv.Itoa(port))
		},
	},
	{
		name: "php",
		missing: func(string) string {
			if _, err := exec.LookPath("php"); err != nil {
				return "php not on PATH (php-cli)"
			}
			return ""
		},
		command: func(dir string, port int) *exec.Cmd {
			cmd := exec.Command("php", "-S", "127.0.0.1:"+strconv.Itoa(port), filepath.Join(dir, "php", "router.php"))
			cmd.Env = append(os.Environ(), "PHP_CLI_SERVER_WORKERS=4")
			return cmd
		},
	},
	{
		name: "ruby",
		missing: func(string) string {
			if _, err := exec.LookPath("ruby"); err != nil {
				return "ruby not on PATH"
			}
			if out, err := exec.Command("ruby", "-e", `require "rack"; require "rack/handler/webrick"; require "jwt"`).CombinedOutput(); err != nil {
				return "ruby cannot load rack, webrick and jwt (ruby-rack, ruby-webrick, ruby-jwt): " + strings.TrimSpace(string(out))
			}
			return ""
		},
		command: func(dir string, port int) *exec.Cmd {
			return exec.Command("ruby", filepath.Join(dir, "ruby", "server.rb"), strconv.Itoa(port))
		},
	},
}

// oraclesDir is tests/differential/oracles.
func oraclesDir(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "tests", "differential", "oracles")
}

// startOracle runs spec's app on a free loopback port until the test ends
// and waits until it answers.
func startOracle(t testing.TB, spec oracleSpec, dir string) *oracle {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	o := &oracle{name: spec.name, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), logs: &syncBuffer{}}
	// spawn runs with o.mu held (but at the start).
	o.spawn = func() error {
		cmd := spec.command(dir, ports[0])
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = o.logs, o.logs
		cmd.SysProcAttr = oracleProcAttr()
		cmd.WaitDelay = 2 * time.Second // a forked worker may hold the output pipes
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting the %s oracle: %v", spec.name, err)
		}
		done := make(chan struct{})
		go func() {
			o.status.Store(fmt.Sprint(cmd.Wait()))
			close(done)
		}()
		t.Cleanup(func() {
			killOracle(cmd.Process.Pid)
			<-done
		})
		o.exited = done
		if err := waitOracle(o, done); err != nil {
			return fmt.Errorf("the %s oracle did not start: %v\n%s", spec.name, err, o.logs.String())
		}
		return nil
	}
	if err := o.spawn(); err != nil {
		t.Fatal(err)
	}
	return o
}

// startGoOracle serves goOracle on a free loopback port.
func startGoOracle(t testing.TB) *oracle { return startHandlerOracle(t, "go", goOracle) }

// startHandlerOracle serves the in-process oracle h, answering as name, on
// a free loopback port until the test ends.
func startHandlerOracle(t testing.TB, name string, h http.HandlerFunc) *oracle {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	o := &oracle{name: name, addr: l.Addr().String()}
	if err := waitOracle(o, nil); err != nil {
		t.Fatal(err)
	}
	return o
}

// waitOracle polls until o answers GET / as an oracle.
func waitOracle(o *oracle, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the process exited")
		default:
		}
		var ans oracleAnswer
		_, ans, last = exchange(o.addr, rawReq{method: "GET", target: "/"}.bytes())
		if last == nil && ans.Oracle != o.name {
			last = fmt.Errorf("answered as %q", ans.Oracle)
		}
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// goOracle reads tokens the way typical Go net/http APIs do.
func goOracle(w http.ResponseWriter, r *http.Request) {
	ans := oracleAnswer{Oracle: "go", Path: r.URL.Path, Tokens: []oracleToken{}, Errors: []string{}}
	add := func(source string, values ...string) {
		for _, v := range values {
			if v != "" {
				ans.Tokens = append(ans.Tokens, oracleToken{source, v})
			}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		ans.Errors = append(ans.Errors, err.Error())
	}
	// A JSON body decoded into a struct (encoding/json matches field
	// names case-insensitively).
	if strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "json") {
		var v struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &v); err == nil {
			add("json", v.AccessToken)
		}
	}
	// r.FormValue's reading: the query, then urlencoded and multipart bodies.
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseMultipartForm(32 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		ans.Errors = append(ans.Errors, err.Error())
	}
	add("form", r.Form["access_token"]...)
	for _, c := range r.Cookies() {
		if c.Name == "session" {
			add("cookie", c.Value)
		}
	}
	add("header", r.Header.Values("X-Api-Key")...)
	if f := strings.Fields(r.Header.Get("Authorization")); len(f) == 2 && strings.EqualFold(f[0], "Bearer") {
		add("bearer", f[1])
	}
	if r.Method == http.MethodPost && r.URL.Path == "/oauth/revoke" {
		ans.Route = "revoke"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// rawReq is a request written byte for byte as given: nothing normalises
// its target, header names or body.
type rawReq struct {
	method, target string
	// headers are whole header lines ("Name: value"), in order.
	headers []string
	body    []byte
}

// bytes renders the request: the request line, Host, the headers, a
// Content-Length unless a Transfer-Encoding header is given (the body is
// then sent as it is), Connection: close, and the body.
func (q rawReq) bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", q.method, q.target)
	chunked := false
	for _, h := range q.headers {
		b.WriteString(h + "\r\n")
		if strings.HasPrefix(strings.ToLower(h), "transfer-encoding:") {
			chunked = true
		}
	}
	if !chunked && (q.body != nil || q.method == "POST") {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(q.body)
	return b.Bytes()
}

// exchange sends req over a new TCP connection to addr and reads the
// response; the answer is decoded when it is an oracle's.
func exchange(addr string, req []byte) (int, oracleAnswer, error) {
	var ans oracleAnswer
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, ans, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(httpTimeout))
	// A server may answer (and close) before reading the whole body: read
	// the answer even when the write failed.
	_, werr := conn.Write(req)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	// Interim answers (100 Continue to an Expect) come before the answer.
	for err == nil && res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
		res, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		if werr != nil {
			err = fmt.Errorf("%w (writing: %v)", err, werr)
		}
		return 0, ans, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return res.StatusCode, ans, err
	}
	if json.Unmarshal(body, &ans) != nil {
		ans = oracleAnswer{}
	}
	return res.StatusCode, ans, nil
}
