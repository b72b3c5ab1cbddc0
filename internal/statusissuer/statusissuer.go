// Package statusissuer starts statuslist/testdata/issuer/issuer.mjs for
// tests: a Token Status List issuer (the OpenWallet Foundation's
// @sd-jwt/jwt-status-list, signed ES256, its key at /jwks) served by Node
// on a free loopback port. statuslist's tests and the end-to-end tests
// (tests/status_list_test.go) share it.
package statusissuer

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Start runs the issuer of dir (statuslist/testdata/issuer) until the
// test ends and returns its base URL, "http://127.0.0.1:PORT". It skips
// the test when node or the issuer's npm packages are missing, outside CI
// (in CI, scripts/test installs them and their absence fails the test).
func Start(t testing.TB, dir string) string {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed (apt-get install nodejs)"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "@sd-jwt", "jwt-status-list")); err != nil {
		missing = "the issuer's npm packages are not installed (cd statuslist/testdata/issuer && npm ci)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %s", missing)
		}
		t.Skipf("skipped: %s", missing)
	}
	cmd := exec.Command("node", "issuer.mjs")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the issuer exits at the end of its stdin
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("the issuer printed no address: %v", err)
	}
	var hello struct{ Base string }
	if err := json.Unmarshal(line, &hello); err != nil {
		t.Fatalf("the issuer printed %q: %v", line, err)
	}
	return hello.Base
}
