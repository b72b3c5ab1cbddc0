package tests

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The PostgreSQL server of the test run: the laravel-pgsql oracle keeps its
// users there, under a collation that compares at ICU's primary level (as
// MySQL 8's default collation does). One server for the run, started on its
// first use on a free loopback port and stopped by TestMain.
var testPostgres struct {
	once sync.Once
	port int
	err  error
	cmd  *exec.Cmd
	dir  string
}

// postgresBinDir is the newest of Debian's PostgreSQL server directories
// (/usr/lib/postgresql/<major>/bin), or "" when none has initdb.
func postgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return ""
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return majorOf(a) - majorOf(b)
	})
	return filepath.Dir(dirs[len(dirs)-1])
}

// majorOf is the major version in a path of postgresBinDir's glob.
func majorOf(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// sharedPostgres returns the port of the run's PostgreSQL server, starting
// it on the first call. PostgreSQL refuses to run as root: as root, the
// server runs as the postgres user Debian's package creates. (The kernel
// stops it if the test binary dies first: procAttr.)
func sharedPostgres() (int, error) {
	testPostgres.once.Do(func() {
		testPostgres.port, testPostgres.err = startPostgresServer()
	})
	return testPostgres.port, testPostgres.err
}

// startPostgresServer runs initdb and postgres in a new directory (see
// sharedPostgres), and waits until the server accepts connections.
func startPostgresServer() (int, error) {
	bin := postgresBinDir()
	if bin == "" {
		return 0, errors.New("no PostgreSQL server (postgresql)")
	}
	dir, err := os.MkdirTemp("", "oracle-postgres-")
	if err != nil {
		return 0, err
	}
	testPostgres.dir = dir
	as := func(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return 0, fmt.Errorf("running as root, and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return 0, err
		}
		as = func(name string, args ...string) *exec.Cmd {
			cmd := exec.Command(name, args...)
			cmd.SysProcAttr = procAttrAs(uint32(uid), uint32(gid))
			return cmd
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := as(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	cmd := as(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(ports[0]), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "logging_collector=off")
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = procAttr()
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	testPostgres.cmd = cmd
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return ports[0], nil
		}
	}
	return 0, fmt.Errorf("PostgreSQL did not listen on %s in 30s:\n%s", addr, logs.String())
}

// stopPostgres stops the run's PostgreSQL server, if one was started, and
// removes its directory (TestMain).
func stopPostgres() {
	if testPostgres.cmd != nil && testPostgres.cmd.Process != nil {
		testPostgres.cmd.Process.Signal(os.Interrupt) // a fast shutdown
		done := make(chan struct{})
		go func() { testPostgres.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			testPostgres.cmd.Process.Kill()
		}
	}
	if testPostgres.dir != "" {
		os.RemoveAll(testPostgres.dir)
	}
}
