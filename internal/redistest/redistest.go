// Package redistest runs real redis-server processes for tests.
//
// Every server gets its own free loopback port and its own temporary working
// directory, and is killed when the test ends. Persistence is off by
// default; a test that wants it configures it (extra arguments or a config
// file body), which later arguments override.
//
// The helpers are general enough for replicas, Sentinels and cluster nodes:
//
//	primary := redistest.Start(t)
//	replica := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
//	sentinel := redistest.StartConfig(t, "sentinel monitor mymaster 127.0.0.1 "+
//		strconv.Itoa(primary.Port)+" 1\n", "--sentinel")
//	node := redistest.Start(t, "--cluster-enabled", "yes")
//
// The cluster bus port (Port+10000) is checked free too, so cluster nodes
// can start on any server this package picks.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvBinary names an environment variable that, when set, is the path of the
// redis-server binary to run instead of the one found in PATH.
const EnvBinary = "REDISTEST_SERVER"

// StartTimeout bounds how long a server may take to answer PING.
var StartTimeout = 15 * time.Second

// Server is one running redis-server.
type Server struct {
	// Addr is "127.0.0.1:<Port>".
	Addr string
	// Port is the TCP port the server listens on.
	Port int
	// Dir is the server's working directory (its config file, log, RDB and
	// AOF files, cluster nodes.conf live there).
	Dir string

	t      testing.TB
	bin    string
	args   []string // extra arguments, after the config file
	config string   // path of the config file

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *os.File
}

// Start runs redis-server with persistence off (`save ""`, `appendonly no`)
// plus args (e.g. "--maxmemory-policy", "allkeys-lru"), which take
// precedence. It fails the test when the server cannot be started.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return StartConfig(t, "", args...)
}

// StartConfig is Start with a config file: body is written into the
// server's config file after the defaults (so it overrides them) and before
// the listening port and directory; args are passed on the command line and
// override both. Sentinels need a config file (pass "--sentinel" in args).
func StartConfig(t testing.TB, body string, args ...string) *Server {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		var err error
		bin, err = exec.LookPath("redis-server")
		if err != nil {
			t.Fatalf("redistest: redis-server not found in PATH (%v): install it with `apt-get install redis-server`, or set %s", err, EnvBinary)
		}
	}
	s := &Server{
		t:    t,
		bin:  bin,
		args: append([]string(nil), args...),
		Dir:  t.TempDir(),
	}
	s.config = filepath.Join(s.Dir, "redis.conf")
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		err = s.start(port, body)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	t.Fatalf("redistest: starting redis-server: %v", lastErr)
	return nil
}

var errPortInUse = errors.New("port in use")

// freePort returns a loopback port that is free, with its cluster bus port
// (port+10000) free too, at the time of the call.
func freePort() (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		l.Close()
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port with a free cluster bus port")
}

// start writes the config file for port (body included) and runs the server
// until it answers PING.
func (s *Server) start(port int, body string) error {
	conf := fmt.Sprintf("save \"\"\nappendonly no\ndaemonize no\n%s\nbind 127.0.0.1\nport %d\ndir %s\n",
		body, port, quote(s.Dir))
	if err := os.WriteFile(s.config, []byte(conf), 0o600); err != nil {
		return err
	}
	s.Port = port
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return s.run()
}

// run starts the process from the existing config file and waits for PING.
func (s *Server) run() error {
	logPath := filepath.Join(s.Dir, "redis.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, append([]string{s.config}, s.args...)...)
	cmd.Dir = s.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.log = cmd, done, logf
	s.mu.Unlock()

	if err := s.waitReady(cmd.Process.Pid, done); err != nil {
		s.Stop()
		logText, _ := os.ReadFile(logPath)
		if errors.Is(err, errPortInUse) {
			return err
		}
		if strings.Contains(string(logText), "Address already in use") {
			return fmt.Errorf("%w: %s", errPortInUse, s.Addr)
		}
		return fmt.Errorf("%s (%s %s): %v; log:\n%s", s.Addr, s.bin, strings.Join(cmd.Args[1:], " "), err, tail(logText, 20))
	}
	return nil
}

// waitReady polls PING until it answers, and then checks (INFO server
// process_id) that it is our process that answered, not another server
// that already held the port.
func (s *Server) waitReady(pid int, done <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{
		Addr:         s.Addr,
		DialTimeout:  200 * time.Millisecond,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		MaxRetries:   -1,
		PoolSize:     1,
		Protocol:     2,
	})
	defer c.Close()
	deadline := time.Now().Add(StartTimeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("redis-server exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.Ping(ctx).Err()
		if err == nil {
			var info string
			info, err = c.Info(ctx, "server").Result()
			if err == nil && infoField(info, "process_id") != strconv.Itoa(pid) {
				cancel()
				return fmt.Errorf("%w: another server answers on %s", errPortInUse, s.Addr)
			}
		}
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer to PING within %s: %v", StartTimeout, err)
}

func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), name+":"); ok {
			return v
		}
	}
	return ""
}

// Stop kills the server (SIGKILL: no final save) and waits for it to exit.
// It is safe to call more than once; the test's cleanup calls it too.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done, logf := s.cmd, s.done, s.log
	s.cmd, s.done, s.log = nil, nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
	logf.Close()
}

// Restart stops the server and starts it again on the same port with the
// same configuration and working directory. What it held is lost unless
// persistence was configured (e.g. "--appendonly", "yes",
// "--appendfsync", "always").
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.run(); err == nil || !errors.Is(err, errPortInUse) {
			break
		}
		time.Sleep(100 * time.Millisecond) // someone grabbed the port meanwhile
	}
	if err != nil {
		s.t.Fatalf("redistest: restarting redis-server: %v", err)
	}
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Client returns a new client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Log returns what the server has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}

// quote quotes a config value the way redis.conf reads it.
func quote(v string) string { return strconv.Quote(v) }

func tail(b []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
