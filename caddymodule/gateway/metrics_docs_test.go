package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// docLine returns the first line of README.md or docs/*.md holding marker.
func docLine(t *testing.T, marker string) string {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	for _, f := range append([]string{"../../README.md"}, files...) {
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

// TestMetricsDocumented: every metric the handler exports has a row of
// the metrics table in docs/operations-metrics.md naming its labels. On
// 5278a12 the status list metrics did not exist (nor their rows).
func TestMetricsDocumented(t *testing.T) {
	descs := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range MetricsCollectors {
			c.Describe(descs)
		}
		close(descs)
	}()
	b, err := os.ReadFile("../../docs/operations-metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	metricsRows := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Split(l, "|"); len(f) > 2 && strings.HasPrefix(strings.TrimSpace(f[1]), "`caddy_") {
			metricsRows[strings.Trim(strings.TrimSpace(f[1]), "`")] = l
		}
	}
	fq := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	for d := range descs {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		row := metricsRows[m[1]]
		if row == "" {
			t.Errorf("docs/operations-metrics.md has no row for %s", m[1])
			continue
		}
		for _, label := range strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' || r == ' ' }) {
			if !strings.Contains(row, "`"+label+"`") {
				t.Errorf("the row of %s does not name its label `%s`: %s", m[1], label, row)
			}
		}
	}
}
