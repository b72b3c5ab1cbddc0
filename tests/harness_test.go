// Package tests holds the end-to-end tests: a real Caddy binary built from
// ./cmd/caddy, real redis-server processes, real HTTP on loopback.
//
// The harness in this file:
//
//   - builds the Caddy binary once per `go test` run, on first use
//     (CADDY_BIN overrides it with a prebuilt binary);
//   - startCaddy runs it with a Caddyfile on free loopback ports;
//   - startUpstream runs an httptest server that echoes what it received;
//   - startRedis runs a redis-server (internal/redistest);
//   - get, postForm and do send requests and return a Response.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// EnvCaddyBin names the environment variable that points the tests at a
// prebuilt Caddy binary instead of building ./cmd/caddy.
const EnvCaddyBin = "CADDY_BIN"

// Timeouts of the harness. Variables so a slow machine can raise them.
var (
	caddyStartTimeout = 30 * time.Second // process start until both ports answer
	caddyStopTimeout  = 5 * time.Second  // SIGINT until SIGKILL
	httpTimeout       = 15 * time.Second // one request of the HTTP helpers
)

// ---------------------------------------------------------------------------
// The binary

// tempDirs are directories of the run (helper binaries) TestMain removes.
var tempDirs lockedList[string]

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string // temporary directory we built into; removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopPostgres()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	for _, d := range tempDirs.list() {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// caddyBinary returns the Caddy binary under test, building ./cmd/caddy on
// the first call of the run (later calls, in any test, reuse it).
func caddyBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv(EnvCaddyBin); p != "" {
			binPath, binErr = filepath.Abs(p)
			if binErr == nil {
				_, binErr = os.Stat(binPath)
			}
			if binErr != nil {
				binErr = fmt.Errorf("%s=%s: %w", EnvCaddyBin, p, binErr)
			}
			return
		}
		binPath, binErr = buildCaddy()
	})
	if binErr != nil {
		t.Fatalf("caddy binary: %v", binErr)
	}
	return binPath
}

func buildCaddy() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	binDir, err = os.MkdirTemp("", "caddy-e2e-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(binDir, "caddy")
	start := time.Now()
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", out, "./cmd/caddy")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, b)
	}
	fmt.Fprintf(os.Stderr, "tests: built %s in %s\n", out, time.Since(start).Round(100*time.Millisecond))
	return out, nil
}

// repoRoot is the directory holding go.mod, found upwards from the working
// directory (go test runs in the package directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ---------------------------------------------------------------------------
// Caddy

// Caddy is one Caddy process under test. Its ports, directory and logs stay
// the same across Stop, Restart and Kill.
type Caddy struct {
	// HTTPPort and HTTPSPort are the http_port and https_port global
	// options; AdminPort is the admin endpoint's port. All on 127.0.0.1.
	HTTPPort, HTTPSPort, AdminPort int
	// Dir is the instance's temporary directory: the Caddyfile, HOME, the
	// XDG data and config directories and the certificate storage live
	// there, so an embedded store survives a Restart.
	Dir string
	// Caddyfile is the path of the Caddyfile in use (with the harness's
	// global options).
	Caddyfile string

	t    testing.TB
	bin  string
	env  []string
	logs syncBuffer

	noWait bool // CaddyOptions.NoWait

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	starts int
}

// CaddyOptions are the less common settings of startCaddyWith.
type CaddyOptions struct {
	// Dir reuses an existing instance directory (e.g. another Caddy's Dir,
	// to start a new process on the same embedded store; stop that one
	// first, they would share the Caddyfile). Empty: a new t.TempDir().
	Dir string
	// Env is added to the process environment ("KEY=value"); it overrides
	// the harness's variables.
	Env []string
	// Bin is the Caddy binary to run (e.g. an earlier release's, see
	// buildCaddyAt). Empty: the one built from this tree.
	Bin string
	// NoWait returns as soon as the process has started, without waiting
	// for its ports (and without retrying on others if they are taken):
	// for tests of what Caddy answers while its config is still loading.
	NoWait bool
}

// startCaddy runs Caddy with the given Caddyfile and stops it when the test
// ends. When args are given the Caddyfile is first expanded with
// fmt.Sprintf(caddyfile, args...).
//
// The harness prepends its global options (admin endpoint, storage, ports,
// auto_https off, default_bind 127.0.0.1, persist_config off); a Caddyfile
// that has its own global options block gets them inserted at its top.
// Sites are written with the address `http://`, which listens on the
// instance's HTTP port:
//
//	c := startCaddy(t, `http:// {
//		reverse_proxy %s
//	}`, up.Addr())
//	res := get(t, c.URL("/api"), "Authorization: Bearer abc")
//
// It returns once the HTTP port accepts connections and the admin endpoint
// answers. If Caddy cannot bind its ports, it retries on fresh ones.
func startCaddy(t testing.TB, caddyfile string, args ...any) *Caddy {
	t.Helper()
	return startCaddyWith(t, CaddyOptions{}, caddyfile, args...)
}

// startCaddyWith is startCaddy with options.
func startCaddyWith(t testing.TB, opts CaddyOptions, caddyfile string, args ...any) *Caddy {
	t.Helper()
	c := &Caddy{t: t, bin: opts.Bin, Dir: opts.Dir, noWait: opts.NoWait}
	if c.bin == "" {
		c.bin = caddyBinary(t)
	}
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	c.Caddyfile = filepath.Join(c.Dir, "Caddyfile")
	home := filepath.Join(c.Dir, "home")
	for _, d := range []string{home, filepath.Join(c.Dir, "data"), filepath.Join(c.Dir, "config")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(c.Dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(c.Dir, "config"),
	)
	c.env = append(c.env, opts.Env...)

	// Cleanups run last-registered first: stop, then dump the logs (so
	// they include the shutdown).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy logs (%s):\n%s", c.Dir, c.Logs())
		}
	})
	t.Cleanup(c.Stop)

	body := expand(caddyfile, args)
	const attempts = 5
	for i := 1; ; i++ {
		ports, err := freePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		c.HTTPPort, c.HTTPSPort, c.AdminPort = ports[0], ports[1], ports[2]
		c.writeCaddyfile(body)
		err = c.start()
		if err == nil {
			return c
		}
		if !errors.Is(err, errBind) || i == attempts {
			t.Fatalf("starting caddy: %v\n%s", err, c.Logs())
		}
		t.Logf("caddy could not bind its ports (attempt %d), retrying on new ones", i)
	}
}

func expand(caddyfile string, args []any) string {
	if len(args) == 0 {
		return caddyfile
	}
	return fmt.Sprintf(caddyfile, args...)
}

// globalOptions are the options the harness puts in every Caddyfile.
func (c *Caddy) globalOptions() string {
	return fmt.Sprintf(`	admin 127.0.0.1:%d
	storage file_system %s
	auto_https off
	http_port %d
	https_port %d
	default_bind 127.0.0.1
	persist_config off
`, c.AdminPort, strconv.Quote(filepath.Join(c.Dir, "storage")), c.HTTPPort, c.HTTPSPort)
}

// render prepends the global options to body, or inserts them into body's
// own global options block.
func (c *Caddy) render(body string) string {
	trimmed := strings.TrimLeft(body, " \t\r\n")
	if strings.HasPrefix(trimmed, "{") {
		return "{\n" + c.globalOptions() + strings.TrimPrefix(trimmed, "{")
	}
	return "{\n" + c.globalOptions() + "}\n\n" + body
}

func (c *Caddy) writeCaddyfile(body string) {
	c.t.Helper()
	if err := os.WriteFile(c.Caddyfile, []byte(c.render(body)), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

var errBind = errors.New("address already in use")

// start runs the process and waits until it is ready. It returns errBind
// (wrapped) when Caddy exited because a port was taken.
func (c *Caddy) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("caddy is already running")
	}
	c.starts++
	logStart := len(c.logs.String())
	fmt.Fprintf(&c.logs, "=== harness: caddy start #%d (http %d, admin %d) ===\n", c.starts, c.HTTPPort, c.AdminPort)
	cmd := exec.Command(c.bin, "run", "--config", c.Caddyfile, "--adapter", "caddyfile")
	cmd.Dir = c.Dir
	cmd.Env = c.env
	cmd.Stdout = &c.logs
	cmd.Stderr = &c.logs
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(&c.logs, "=== harness: caddy exited: %v ===\n", err)
		close(done)
	}()
	c.cmd, c.done = cmd, done

	if c.noWait {
		return nil
	}
	if err := c.waitReady(done); err != nil {
		c.stopLocked(syscall.SIGKILL, 0)
		if strings.Contains(c.logs.String()[logStart:], "address already in use") {
			return fmt.Errorf("%w: %v", errBind, err)
		}
		return err
	}
	return nil
}

// waitReady polls until the HTTP port accepts connections and the admin
// endpoint answers GET /config/.
func (c *Caddy) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(caddyStartTimeout)
	client := &http.Client{Timeout: time.Second}
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPPort))
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("caddy exited during start")
		default:
		}
		last = func() error {
			conn, err := net.DialTimeout("tcp", httpAddr, time.Second)
			if err != nil {
				return err
			}
			conn.Close()
			res, err := client.Get(c.AdminURL("/config/"))
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("admin GET /config/: %s", res.Status)
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", caddyStartTimeout, last)
}

// stopLocked signals the process and waits for it to exit, killing it after
// grace. c.mu must be held.
func (c *Caddy) stopLocked(sig syscall.Signal, grace time.Duration) {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(grace):
		fmt.Fprintf(&c.logs, "=== harness: caddy did not exit %s after %v, killing it ===\n", grace, sig)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd, c.done = nil, nil
}

// Stop shuts Caddy down gracefully (SIGINT; SIGKILL after 5s). It does
// nothing when Caddy is not running.
func (c *Caddy) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked(syscall.SIGINT, caddyStopTimeout)
}

// Kill ends Caddy with SIGKILL, as a crash would: no shutdown, no flush.
func (c *Caddy) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked(syscall.SIGKILL, caddyStopTimeout)
}

// Restart stops Caddy if it runs and starts it again with the same
// Caddyfile, ports and directory.
func (c *Caddy) Restart() {
	c.t.Helper()
	c.Stop()
	var err error
	for i := 0; i < 5; i++ {
		if err = c.start(); !errors.Is(err, errBind) {
			break
		}
		time.Sleep(200 * time.Millisecond) // someone took our port; maybe briefly
	}
	if err != nil {
		c.t.Fatalf("restarting caddy: %v\n%s", err, c.Logs())
	}
}

// Running reports whether the process is running.
func (c *Caddy) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Reload replaces the config through the admin endpoint
// (`caddy reload --force`), with the same global options; args expand the
// Caddyfile as in startCaddy. The test fails if the reload fails.
func (c *Caddy) Reload(caddyfile string, args ...any) {
	c.t.Helper()
	if err := c.TryReload(caddyfile, args...); err != nil {
		c.t.Fatal(err)
	}
}

// TryReload is Reload returning the error, for tests of rejected configs.
// After a rejected reload Caddy keeps running the old config, but the
// Caddyfile on disk (which a later Restart uses) is the rejected one.
func (c *Caddy) TryReload(caddyfile string, args ...any) error {
	c.t.Helper()
	c.writeCaddyfile(expand(caddyfile, args))
	cmd := exec.Command(c.bin, "reload", "--config", c.Caddyfile, "--adapter", "caddyfile",
		"--address", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.AdminPort)), "--force")
	cmd.Dir = c.Dir
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(&c.logs, "=== harness: caddy reload: %v ===\n%s", err, out)
	if err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out)
	}
	return nil
}

// URL is the address of path on the HTTP port ("/x?y=z").
func (c *Caddy) URL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort) + path
}

// AdminURL is the address of path on the admin endpoint ("/config/").
func (c *Caddy) AdminURL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(c.AdminPort) + path
}

// Logs returns everything Caddy wrote to stdout and stderr, over all its
// starts, with the harness's own markers.
func (c *Caddy) Logs() string { return c.logs.String() }

// syncBuffer is a bytes.Buffer safe for concurrent use (the process writes
// while tests read).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lockedList is a list that goroutines add to while the test reads it.
type lockedList[T any] struct {
	mu    sync.Mutex
	items []T
}

func (l *lockedList[T]) add(v T) {
	l.mu.Lock()
	l.items = append(l.items, v)
	l.mu.Unlock()
}

// list returns a copy of the items added so far.
func (l *lockedList[T]) list() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.items...)
}

func (l *lockedList[T]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

func (l *lockedList[T]) reset() {
	l.mu.Lock()
	l.items = nil
	l.mu.Unlock()
}

// usedPorts are the ports freePorts has handed out in this process. Caddy
// binds with SO_REUSEPORT, so a second Caddy on a port the first one holds
// starts without error and the two share the traffic: never hand a port
// out twice.
var usedPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// freePorts returns n loopback ports that were free a moment ago and that
// this process has not handed out before.
func freePorts(n int) ([]int, error) {
	usedPorts.Lock()
	defer usedPorts.Unlock()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100 {
			return nil, errors.New("no unused free port found")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // hold each until all are picked, so they differ
		p := l.Addr().(*net.TCPAddr).Port
		if !usedPorts.m[p] {
			usedPorts.m[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// ---------------------------------------------------------------------------
// Redis

// startRedis runs a redis-server on a free loopback port for the test; args
// are redis-server options ("--maxmemory-policy", "allkeys-lru").
func startRedis(t testing.TB, args ...string) *redistest.Server {
	t.Helper()
	return redistest.Start(t, args...)
}

// ---------------------------------------------------------------------------
// Upstream

// Echo is what the upstream received, as it answers it in JSON.
type Echo struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// RawQuery is the query string as received; Query is it parsed.
	RawQuery string     `json:"raw_query"`
	Query    url.Values `json:"query"`
	Host     string     `json:"host"`
	// Authorization holds every Authorization header, in order.
	Authorization []string    `json:"authorization"`
	Header        http.Header `json:"header"`
	Body          string      `json:"body"`
}

// Upstream is an HTTP server on 127.0.0.1 standing for the API behind
// Caddy. It records every request; unless given another handler it answers
// 200 with the request as JSON (Echo).
type Upstream struct {
	*httptest.Server

	requests lockedList[Echo]
}

// startUpstream starts an echoing upstream, closed when the test ends.
func startUpstream(t testing.TB) *Upstream {
	t.Helper()
	return startUpstreamHandler(t, nil)
}

// startUpstreamHandler starts an upstream that records each request and then
// calls h, which reads the body from EchoOf(r). A nil h echoes.
func startUpstreamHandler(t testing.TB, h http.Handler) *Upstream {
	t.Helper()
	u := &Upstream{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Server = &httptest.Server{
		Listener: l,
		Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			e := Echo{
				Method:        r.Method,
				Path:          r.URL.Path,
				RawQuery:      r.URL.RawQuery,
				Query:         r.URL.Query(),
				Host:          r.Host,
				Authorization: r.Header.Values("Authorization"),
				Header:        r.Header.Clone(),
				Body:          string(body),
			}
			u.requests.add(e)
			if h != nil {
				r.Body = io.NopCloser(bytes.NewReader(body))
				h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), echoKey{}, e)))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(e)
		})},
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

type echoKey struct{}

// EchoOf returns the recorded request inside a startUpstreamHandler handler.
func EchoOf(r *http.Request) Echo {
	e, _ := r.Context().Value(echoKey{}).(Echo)
	return e
}

// Addr is the upstream's "127.0.0.1:port", for reverse_proxy.
func (u *Upstream) Addr() string { return u.Listener.Addr().String() }

// Requests returns the requests received so far.
func (u *Upstream) Requests() []Echo { return u.requests.list() }

// Count is the number of requests received so far.
func (u *Upstream) Count() int { return u.requests.len() }

// Last returns the last request received; it fails the test if none was.
func (u *Upstream) Last(t testing.TB) Echo {
	t.Helper()
	reqs := u.requests.list()
	if len(reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return reqs[len(reqs)-1]
}

// Reset forgets the recorded requests.
func (u *Upstream) Reset() { u.requests.reset() }

// ---------------------------------------------------------------------------
// HTTP helpers

// Response is what the HTTP helpers return.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Echo decodes the body as the echo upstream's answer; it fails the test if
// it is not one.
func (r Response) Echo(t testing.TB) Echo {
	t.Helper()
	var e Echo
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("response is not an upstream echo (status %d): %v\n%s", r.Status, err, r.Body)
	}
	return e
}

// httpClient follows no redirects and keeps no idle connections (they would
// hold up Caddy's graceful shutdown and break across restarts).
var httpClient = &http.Client{
	Timeout:       httpTimeout,
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get sends a GET. headers are "Name: value" strings; a name may repeat, and
// "Host: x" sets the Host header.
func get(t testing.TB, url string, headers ...string) Response {
	t.Helper()
	return do(t, http.MethodGet, url, nil, headers...)
}

// postForm sends a POST with form as an application/x-www-form-urlencoded
// body. headers are as for get.
func postForm(t testing.TB, url string, form url.Values, headers ...string) Response {
	t.Helper()
	headers = append([]string{"Content-Type: application/x-www-form-urlencoded"}, headers...)
	return do(t, http.MethodPost, url, strings.NewReader(form.Encode()), headers...)
}

// do sends a request with any method and body (nil for none). A
// Content-Type in headers replaces an earlier one.
func do(t testing.TB, method, url string, body io.Reader, headers ...string) Response {
	t.Helper()
	res, err := tryDo(method, url, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// tryDo is do returning the transport error, for tests that expect the
// connection to fail.
func tryDo(method, url string, body io.Reader, headers ...string) (Response, error) {
	return tryDoWith(httpClient, method, url, body, headers...)
}

// tryDoWith is tryDo through client (one with a TLS client certificate).
func tryDoWith(client *http.Client, method, url string, body io.Reader, headers ...string) (Response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return Response{}, err
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return Response{}, fmt.Errorf("header %q: want \"Name: value\"", h)
		}
		name, value = http.CanonicalHeaderKey(strings.TrimSpace(name)), strings.TrimSpace(value)
		switch name {
		case "Host":
			req.Host = value
		case "Content-Type":
			req.Header.Set(name, value)
		default:
			req.Header.Add(name, value)
		}
	}
	res, err := client.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: reading body: %w", method, url, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: string(b)}, nil
}
