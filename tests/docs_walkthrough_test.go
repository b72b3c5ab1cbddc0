package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// walkStep is one command of a shell snippet and the answer the comment
// lines right below it promise.
type walkStep struct {
	cmd  string
	want []string
}

// walkSteps splits a shell snippet into its commands, each with the
// comment lines that follow it without a blank line between (a comment
// after a blank line is prose about the next command).
func walkSteps(body string) []walkStep {
	var steps []walkStep
	answer := false
	for _, line := range strings.Split(body, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			answer = false
		case strings.HasPrefix(line, "#"):
			if answer {
				s := &steps[len(steps)-1]
				s.want = append(s.want, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			}
		default:
			steps = append(steps, walkStep{cmd: line})
			answer = true
		}
	}
	return steps
}

// headerLine matches a promised header ("Www-Authenticate: Bearer ...").
var headerLine = regexp.MustCompile(`^[A-Za-z-]+: `)

// checkAnswer fails unless out (curl -i's output) is the answer want
// promises: "HTTP/1.1 200 OK" is the status line ("HTTP/1.1 200 OK ...
// text": and text is in the output), "Name: value" a header line, anything
// else text of the output.
func checkAnswer(t *testing.T, cmd, out string, want []string) {
	t.Helper()
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	for _, w := range want {
		ok := false
		switch {
		case strings.HasPrefix(w, "HTTP/"):
			status, text, _ := strings.Cut(w, " ... ")
			ok = lines[0] == status && strings.Contains(out, text)
		case headerLine.MatchString(w):
			for _, l := range lines {
				ok = ok || strings.EqualFold(l, w)
			}
		default:
			ok = strings.Contains(out, w)
		}
		if !ok {
			t.Errorf("%s\nanswered\n%s\nnot the README's\n# %s", cmd, out, w)
		}
	}
}

// TestReadmeWalkThrough runs the README's 60-second walk-through as a
// reader pastes it into a shell, against what command 1 starts:
// Caddyfile.example on the embedded store, its two ports moved to free
// ones (the test's only change to the file; `localhost:8080` in the
// commands follows), and `go run ./cmd/caddy` standing for the binary under
// test. Each curl's answer is held to the comment lines below it; then a
// restart keeps demo-token-1 revoked, as the README says, and each command
// of the reset snippet (the CLI's unrevoke with the gateway running; stop,
// delete the file, start) makes the whole walk-through pass again.
func TestReadmeWalkThrough(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(root, "README.md")
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	heading := strings.Count(string(b[:strings.Index(string(b), "\n## 60-second walk-through\n")+1]), "\n")
	if heading == 0 {
		t.Fatal(`README.md has no "## 60-second walk-through" section`)
	}
	var blocks []snippet
	for _, s := range snippets(t, readme) {
		if s.lang == "sh" && s.line > heading && len(blocks) < 2 {
			blocks = append(blocks, s)
		}
	}
	if len(blocks) < 2 {
		t.Fatal("the walk-through has not its two ```sh blocks (the walk, the reset)")
	}

	example, err := os.ReadFile(filepath.Join(root, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(example)
	for _, r := range [][2]string{
		{"\tauto_https off\n", ""}, // the harness sets it
		{"\n:8080 {", "\nhttp:// {"},
		{"reverse_proxy 127.0.0.1:8081", fmt.Sprintf("reverse_proxy 127.0.0.1:%d", ports[0])},
		{"\nhttp://:8081 {", fmt.Sprintf("\nhttp://:%d {", ports[0])},
	} {
		if strings.Count(cfg, r[0]) != 1 {
			t.Fatalf("Caddyfile.example no longer holds %q once: update this test's port moves", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	c := startCaddy(t, cfg)

	gateway := fmt.Sprintf("localhost:%d", c.HTTPPort)
	shell := func(cmd string) string {
		t.Helper()
		sh := exec.Command("bash", "-c", `go() { if [ "$1" = run ] && [ "$2" = ./cmd/caddy ]; then shift 2; "$CADDY_BIN" "$@"; else command go "$@"; fi; }
`+strings.ReplaceAll(cmd, "localhost:8080", gateway))
		sh.Dir = t.TempDir()
		sh.Env = append(os.Environ(),
			"CADDY_BIN="+caddyBinary(t),
			"HOME="+filepath.Join(c.Dir, "home"),
			"XDG_DATA_HOME="+filepath.Join(c.Dir, "data"), // the gateway's
			fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", c.AdminPort),
		)
		out, err := sh.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	walk := walkSteps(blocks[0].body)
	promised := 0
	for _, s := range walk {
		promised += len(s.want)
	}
	if len(walk) < 5 || promised < 6 {
		t.Fatalf("the walk-through has %d commands and %d promised answer lines: is it still curl -i with # answers below?", len(walk), promised)
	}
	run := func(steps []walkStep) {
		t.Helper()
		for _, s := range steps {
			checkAnswer(t, s.cmd, shell(s.cmd), s.want)
		}
	}
	revoke := -1
	for i, s := range walk {
		if strings.Contains(s.cmd, "/oauth/revoke") {
			revoke = i
		}
	}
	if revoke < 0 {
		t.Fatal("the walk-through revokes nothing (no /oauth/revoke)")
	}

	run(walk)
	if t.Failed() {
		return
	}
	c.Restart() // "Stop and start the gateway again: demo-token-1 stays revoked"
	run(walk[revoke+1:])

	reset := walkSteps(blocks[1].body)
	if len(reset) != 2 {
		t.Fatalf("the reset snippet has %d commands, not 2 (unrevoke; delete the file)", len(reset))
	}
	shell(reset[0].cmd) // through the admin API, the gateway running
	run(walk)
	c.Stop()
	shell(reset[1].cmd) // the gateway stopped
	c.Restart()
	run(walk)
}
