package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// docLine returns the first line of README.md or docs/*.md holding marker.
func docLine(t *testing.T, marker string) string {
	t.Helper()
	files, _ := filepath.Glob("../docs/*.md")
	for _, f := range append([]string{"../README.md"}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, marker) {
				return l
			}
		}
	}
	t.Fatalf("no line of README.md or docs/*.md holds %s", marker)
	return ""
}

// TestRejectionReasonsDocumented: every reason requests_rejected_total
// counts is named in the metric's help, in its row of the metrics page and
// in the {http.token_revocation.reason} placeholder's row. On 5278a12
// `client` (a client-wide cut-off) was in none of them.
func TestRejectionReasonsDocumented(t *testing.T) {
	desc := make(chan *prometheus.Desc, 1)
	metricRejected.Describe(desc)
	help := (<-desc).String()
	table := docLine(t, "| `caddy_token_revocation_requests_rejected_total` |")
	placeholder := docLine(t, "`{http.token_revocation.reason}`")
	for reason := range rejectedBy {
		if !strings.Contains(help, reason) {
			t.Errorf("the help of requests_rejected_total does not name the reason %s: %s", reason, help)
		}
		for what, line := range map[string]string{"the metrics table": table, "the placeholder's row": placeholder} {
			if !strings.Contains(line, "`"+reason+"`") {
				t.Errorf("%s does not name the reason `%s`: %s", what, reason, line)
			}
		}
	}
}
