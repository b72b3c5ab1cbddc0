package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-token-revocation/caddy-token-revocation/statuslist"
)

// TestStatusListMetrics: a list two handlers hold is reported once, from
// the copy fetched last; status_lists counts the lists held by issuer;
// fetch_ok is 0 after a failed fetch and for a list not yet held, which
// has no fetch age; and the per-uri series stop at statusListMetricURIs
// however many lists the issuer's tokens name.
func TestStatusListMetrics(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	const iss = "https://issuer.example"
	older := statuslist.ListStatus{Issuer: iss, URI: iss + "/lists/a", Held: true, FetchedAt: now.Add(-time.Hour)}
	newer := older
	newer.FetchedAt = now.Add(-time.Minute)
	failed := statuslist.ListStatus{Issuer: iss, URI: iss + "/lists/b", Held: true, FetchedAt: now.Add(-2 * time.Minute), Err: errors.New("down")}
	notYet := statuslist.ListStatus{Issuer: iss, URI: iss + "/lists/c"}
	got := scrapeStatusLists(t, mergeStatusLists([]statuslist.ListStatus{older, failed}, []statuslist.ListStatus{notYet, newer}), now)
	want := []string{
		`status_list_fetch_age_seconds{issuer="` + iss + `",uri="` + iss + `/lists/a"} 60`,
		`status_list_fetch_age_seconds{issuer="` + iss + `",uri="` + iss + `/lists/b"} 120`,
		`status_list_fetch_ok{issuer="` + iss + `",uri="` + iss + `/lists/a"} 1`,
		`status_list_fetch_ok{issuer="` + iss + `",uri="` + iss + `/lists/b"} 0`,
		`status_list_fetch_ok{issuer="` + iss + `",uri="` + iss + `/lists/c"} 0`,
		`status_lists{issuer="` + iss + `"} 2`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var many []statuslist.ListStatus
	for i := range 3 * statusListMetricURIs {
		many = append(many, statuslist.ListStatus{Issuer: iss, URI: fmt.Sprintf("%s/lists/%04d", iss, i), Held: true, FetchedAt: now})
	}
	series := map[string]int{}
	for _, s := range scrapeStatusLists(t, mergeStatusLists(many), now) {
		name, _, _ := strings.Cut(s, "{")
		series[name]++
	}
	if series["status_list_fetch_ok"] != statusListMetricURIs || series["status_list_fetch_age_seconds"] != statusListMetricURIs || series["status_lists"] != 1 {
		t.Errorf("%d lists gave series %v, want %d per uri metric and one status_lists", len(many), series, statusListMetricURIs)
	}
}

// scrapeStatusLists returns the samples collectStatusLists sends for lists
// at now, as "name{labels} value" without the metrics' prefix, sorted.
func scrapeStatusLists(t *testing.T, lists []statuslist.ListStatus, now time.Time) []string {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	collectStatusLists(ch, lists, now)
	close(ch)
	var out []string
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range pb.GetLabel() {
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		name := strings.TrimPrefix(m.Desc().String(), `Desc{fqName: "caddy_token_revocation_`)
		name, _, _ = strings.Cut(name, `"`)
		out = append(out, fmt.Sprintf("%s{%s} %g", name, strings.Join(labels, ","), pb.GetGauge().GetValue()))
	}
	slices.Sort(out)
	return out
}
