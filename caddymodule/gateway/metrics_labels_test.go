package gateway

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// entryKinds returns the label of every kind of denylist entry
// (denylist.Kind.Valid): what revocations_total counts as kind and
// requests_rejected_total as the reason of a revoked token.
func entryKinds() []string {
	var out []string
	for b := range 256 {
		if k := denylist.Kind(b); k.Valid() {
			out = append(out, k.String())
		}
	}
	return out
}

// TestRevocationKindsInHelp: the help of revocations_total names every
// kind a revocation stores (storeEntries counts each entry's Kind). On
// e51cf28 it named token, jti, session and user, not client (a
// keycloak_admin not-before push) nor cnf (a key revoked through the
// admin API).
func TestRevocationKindsInHelp(t *testing.T) {
	desc := make(chan *prometheus.Desc, 1)
	MetricRevocations.Describe(desc)
	help := (<-desc).String()
	for _, k := range entryKinds() {
		if !strings.Contains(help, k) {
			t.Errorf("the help of revocations_total does not name the kind %s: %s", k, help)
		}
	}
}

// rejectionReasons returns every reason requests_rejected_total counts:
// the entry kinds, and the value of every reason* constant of metrics.go.
func rejectionReasons(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "metrics.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	reasons := entryKinds()
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "reason") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				reasons = append(reasons, v)
			}
		}
		return true
	})
	if len(reasons) <= len(entryKinds()) {
		t.Fatal("no reason constant found in metrics.go")
	}
	return reasons
}

// TestRejectionReasonsStartAtZero: every reason of requests_rejected_total
// has its series from the start (0 until counted), for rate() and alerts,
// as the other reasons have. On e51cf28 ambiguous appeared only once a
// request had been refused as ambiguous.
func TestRejectionReasonsStartAtZero(t *testing.T) {
	ch := make(chan prometheus.Metric, 64)
	metricRejected.Collect(ch)
	close(ch)
	series := map[string]bool{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "reason" {
				series[l.GetValue()] = true
			}
		}
	}
	for _, r := range rejectionReasons(t) {
		if rejectedBy[r] == nil || !series[r] {
			t.Errorf("requests_rejected_total{reason=%q} is not created at init", r)
		}
	}
}
