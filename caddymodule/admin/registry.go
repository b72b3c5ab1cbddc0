package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/statuslist"
	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// LiveHandlers are the provisioned handlers, for the admin API and the
// store metrics: Caddy builds the admin API apart from the HTTP app, so
// it can reach the handlers only through package-level state (as
// reverse_proxy's /reverse_proxy/upstreams reads a package-level pool).
// Provision adds a handler, Cleanup removes it.
var LiveHandlers = struct {
	sync.Mutex
	seq uint64
	M   map[*Served]liveHandler
}{M: map[*Served]liveHandler{}}

// liveHandler is what the registry knows of a handler.
type liveHandler struct {
	// config identifies the config the handler belongs to: each config
	// load has its own metrics registry.
	config *prometheus.Registry
	// seq orders registrations: the newest config has the highest.
	seq uint64
	// same is equal for handlers that behave alike for the admin API:
	// same settings and store, whatever their routes (but for whether one
	// records grants, which a token revocation then fans out to).
	same string
	// storeLabel names the handler's store in metrics, without secrets.
	storeLabel string
	// store is the handler's store, for the store metrics.
	store denylist.Store
	// status are the handler's status lists (nil: none), for the status
	// list metrics.
	status *gateway.StatusLists
}

// Served is what the admin API and the store metrics know of one
// provisioned handler: its runtime, and the settings they report or
// compare. Package caddymodule builds one when a handler provisions.
type Served struct {
	*gateway.Runtime
	Name             string
	MaxTokenLifetime caddy.Duration
	// StoreLabel names the store in metrics, without secrets:
	// "embedded:<path>" or "redis:<addresses>/<key prefix>".
	StoreLabel string
	// Same is equal for handlers that behave alike for the admin API:
	// their settings but the routes, as JSON.
	Same string
}

// RegisterLive adds h, provisioned in ctx, to the registry.
func RegisterLive(ctx caddy.Context, h *Served) { RegisterLiveIn(ctx.GetMetricsRegistry(), h) }

// RegisterLiveIn adds h to the registry as a handler of the config whose
// metrics registry is config.
func RegisterLiveIn(config *prometheus.Registry, h *Served) {
	LiveHandlers.Lock()
	LiveHandlers.seq++
	LiveHandlers.M[h] = liveHandler{
		config:     config,
		seq:        LiveHandlers.seq,
		same:       h.StoreKey + "\x00" + strconv.FormatBool(h.RecordsGrants()) + "\x00" + h.Same,
		storeLabel: h.StoreLabel,
		store:      h.Store,
		status:     h.Status,
	}
	LiveHandlers.Unlock()
}

// UnregisterLive removes h from the registry.
func UnregisterLive(h *Served) {
	LiveHandlers.Lock()
	delete(LiveHandlers.M, h)
	LiveHandlers.Unlock()
}

// currentHandlers returns the handlers of the running config, grouped by
// sameness (each group newest first; groups by name), limited to those
// named name when named is set. The running config is the active one if
// any of its handlers are registered, else the newest registered (a
// config being loaded, or tests without a running Caddy).
func currentHandlers(name string, named bool) ([][]*Served, error) {
	active := caddy.ActiveContext()
	activeReg := active.GetMetricsRegistry()

	LiveHandlers.Lock()
	type item struct {
		h *Served
		liveHandler
	}
	var all []item
	var newest liveHandler
	hasActive := false
	for h, l := range LiveHandlers.M {
		all = append(all, item{h, l})
		if l.seq > newest.seq {
			newest = l
		}
		if activeReg != nil && l.config == activeReg {
			hasActive = true
		}
	}
	LiveHandlers.Unlock()

	if len(all) == 0 {
		return nil, apiError(http.StatusNotFound, "the running config has no token_revocation handler")
	}
	config := newest.config
	if hasActive {
		config = activeReg
	}
	slices.SortFunc(all, func(a, b item) int { return cmp.Compare(b.seq, a.seq) })
	var groups [][]*Served
	index := map[string]int{}
	names := map[string]bool{}
	for _, it := range all {
		if it.config != config {
			continue
		}
		names[it.h.Name] = true
		if named && it.h.Name != name {
			continue
		}
		i, ok := index[it.same]
		if !ok {
			i = len(groups)
			index[it.same] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], it.h)
	}
	if len(groups) == 0 {
		return nil, apiError(http.StatusNotFound, "no token_revocation handler is named %q; the names are %s", name, quoteNames(names))
	}
	slices.SortStableFunc(groups, func(a, b []*Served) int { return strings.Compare(a[0].Name, b[0].Name) })
	return groups, nil
}

// pickHandler returns the one handler an admin call is for: the one named
// name when named is set, else the only one. Several handlers with the
// same settings and store count as one.
func pickHandler(name string, named bool) (*Served, error) {
	groups, err := currentHandlers(name, named)
	if err != nil {
		return nil, err
	}
	if len(groups) > 1 {
		names := map[string]bool{}
		for _, g := range groups {
			names[g[0].Name] = true
		}
		if named || len(names) < len(groups) {
			return nil, apiError(http.StatusBadRequest, "%d token_revocation handlers named %s differ in their settings: give each a distinct name (subdirective name <name>) and pick one with ?handler=<name> (CLI: --handler)", len(groups), quoteNames(names))
		}
		return nil, apiError(http.StatusBadRequest, "the running config has %d token_revocation handlers (names %s): pick one with ?handler=<name> (CLI: --handler)", len(groups), quoteNames(names))
	}
	return groups[0][0], nil
}

// apiError is a Caddy API error whose message starts with
// "token_revocation: ".
func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf("token_revocation: "+format, args...)}
}

func quoteNames(names map[string]bool) string {
	var out []string
	for n := range names {
		out = append(out, strconv.Quote(n))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// RegisterMetrics registers the collectors into the config's registry;
// those already there (another handler of the same config) are skipped.
func RegisterMetrics(ctx caddy.Context) error { return RegisterMetricsInto(ctx.GetMetricsRegistry()) }

// RegisterMetricsInto registers the collectors into reg (nil: none): the
// package's metrics (gateway/metrics.go, with the status lists' below) and the
// collectors of the registered handlers' stores.
func RegisterMetricsInto(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range append([]prometheus.Collector{storeCollector{}, readinessCollector{}}, gateway.MetricsCollectors...) {
		if err := reg.Register(c); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
			return err
		}
	}
	return nil
}

// storeCollector reports the size and health of every open store, and the
// freshness of its mirror, at scrape time.
type storeCollector struct{}

// storeStatusTimeout bounds the status calls of one scrape.
const storeStatusTimeout = 2 * time.Second

// Describe implements prometheus.Collector.
func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gateway.StoreEntriesDesc
	ch <- gateway.StoreHealthyDesc
	ch <- gateway.MirrorLagDesc
	ch <- gateway.MirrorFreshDesc
	ch <- gateway.MirrorEventLagDesc
}

// Collect implements prometheus.Collector: one status call per distinct
// store, concurrently. A mirrored store's size and freshness come from its
// mirror, known even while the shared store does not answer.
func (storeCollector) Collect(ch chan<- prometheus.Metric) {
	stores := liveStores()
	ctx, cancel := context.WithTimeout(context.Background(), storeStatusTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for label, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s.Status(ctx)
			ch <- prometheus.MustNewConstMetric(gateway.StoreHealthyDesc, prometheus.GaugeValue, gateway.BoolGauge(st.Healthy), label)
			s := storage.CurrentStore(s) // storage/resilient.go
			if m, ok := s.(gateway.MirrorReporter); ok {
				age, fresh := m.Freshness()
				ch <- prometheus.MustNewConstMetric(gateway.StoreEntriesDesc, prometheus.GaugeValue, float64(m.Len()), label)
				ch <- prometheus.MustNewConstMetric(gateway.MirrorLagDesc, prometheus.GaugeValue, age.Seconds(), label)
				ch <- prometheus.MustNewConstMetric(gateway.MirrorFreshDesc, prometheus.GaugeValue, gateway.BoolGauge(fresh), label)
				if e, ok := s.(gateway.EventLagReporter); ok {
					ch <- prometheus.MustNewConstMetric(gateway.MirrorEventLagDesc, prometheus.GaugeValue, e.EventLag().Seconds(), label)
				}
			} else if st.Healthy { // else the count is unknown, not 0
				ch <- prometheus.MustNewConstMetric(gateway.StoreEntriesDesc, prometheus.GaugeValue, float64(st.Entries), label)
			}
		}()
	}
	wg.Wait()
}

// readinessCollector reports, per store, whether it is ready and the depth
// of its outbox.
type readinessCollector struct{}

// Describe implements prometheus.Collector.
func (readinessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gateway.StoreReadyDesc
	ch <- gateway.OutboxPendingDesc
	ch <- gateway.OutboxFullDesc
	ch <- gateway.EvictionRiskDesc
	ch <- gateway.KeysLostDesc
}

// Collect implements prometheus.Collector.
func (readinessCollector) Collect(ch chan<- prometheus.Metric) {
	for label, s := range liveStores() {
		ready, _ := storage.StoreReady(s)
		ch <- prometheus.MustNewConstMetric(gateway.StoreReadyDesc, prometheus.GaugeValue, gateway.BoolGauge(ready), label)
		if r, ok := s.(*denylist.Resilient); ok {
			ch <- prometheus.MustNewConstMetric(gateway.OutboxPendingDesc, prometheus.GaugeValue, float64(r.OutboxLen()), label)
			ch <- prometheus.MustNewConstMetric(gateway.OutboxFullDesc, prometheus.CounterValue, float64(r.OutboxFull()), label)
		}
		if rs := storage.RedisStoreOf(s); rs != nil {
			ch <- prometheus.MustNewConstMetric(gateway.EvictionRiskDesc, prometheus.GaugeValue, gateway.BoolGauge(rs.EvictionRisk()), label)
			ch <- prometheus.MustNewConstMetric(gateway.KeysLostDesc, prometheus.CounterValue, float64(rs.Lost()), label)
		}
	}
}

// liveStores returns the stores of the registered handlers by their
// metric label.
func liveStores() map[string]denylist.Store {
	out := map[string]denylist.Store{}
	LiveHandlers.Lock()
	defer LiveHandlers.Unlock()
	for _, l := range LiveHandlers.M {
		out[l.storeLabel] = l.store
	}
	return out
}

// statusListMetricURIs caps the lists reported by uri in one scrape (the
// first by issuer and uri); status_lists counts them all.
const statusListMetricURIs = 100

// The status list metrics are the package's (metricsCollectors: their
// rows on the metrics page are checked with the others'), read from the
// registry: their collector is defined here, beside what it reads.
func init() { gateway.MetricsCollectors = append(gateway.MetricsCollectors, statusListCollector{}) }

// statusListCollector reports the status lists of every registered
// handler. Handlers of one config, or of a config and the one replacing
// it, may hold the same list: it is reported once, from the copy fetched
// last.
type statusListCollector struct{}

// Describe implements prometheus.Collector.
func (statusListCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gateway.StatusListsDesc
	ch <- gateway.StatusListFetchAgeDesc
	ch <- gateway.StatusListFetchOKDesc
}

// Collect implements prometheus.Collector.
func (statusListCollector) Collect(ch chan<- prometheus.Metric) {
	collectStatusLists(ch, liveStatusLists(), time.Now())
}

// collectStatusLists sends the metrics of lists (sorted, each once) at
// time now.
func collectStatusLists(ch chan<- prometheus.Metric, lists []statuslist.ListStatus, now time.Time) {
	held := map[string]int{}
	for _, l := range lists {
		if _, ok := held[l.Issuer]; !ok {
			held[l.Issuer] = 0
		}
		if l.Held {
			held[l.Issuer]++
		}
	}
	for issuer, n := range held {
		ch <- prometheus.MustNewConstMetric(gateway.StatusListsDesc, prometheus.GaugeValue, float64(n), issuer)
	}
	for _, l := range lists[:min(len(lists), statusListMetricURIs)] {
		ch <- prometheus.MustNewConstMetric(gateway.StatusListFetchOKDesc, prometheus.GaugeValue, gateway.BoolGauge(l.Err == nil && l.Held), l.Issuer, l.URI)
		if l.Held {
			ch <- prometheus.MustNewConstMetric(gateway.StatusListFetchAgeDesc, prometheus.GaugeValue, now.Sub(l.FetchedAt).Seconds(), l.Issuer, l.URI)
		}
	}
}

// liveStatusLists returns the status lists of the registered handlers,
// each (issuer, uri) once (the copy fetched last), sorted by issuer and
// uri.
func liveStatusLists() []statuslist.ListStatus {
	var checkers []*statuslist.Checker
	LiveHandlers.Lock()
	for _, l := range LiveHandlers.M {
		if l.status != nil {
			for _, c := range l.status.Checkers {
				checkers = append(checkers, c)
			}
		}
	}
	LiveHandlers.Unlock()
	all := make([][]statuslist.ListStatus, 0, len(checkers))
	for _, c := range checkers {
		all = append(all, c.Lists())
	}
	return mergeStatusLists(all...)
}

// mergeStatusLists returns the lists of every checker's, each (issuer,
// uri) once (the copy fetched last), sorted by issuer and uri.
func mergeStatusLists(checkers ...[]statuslist.ListStatus) []statuslist.ListStatus {
	type key struct{ issuer, uri string }
	byKey := map[key]statuslist.ListStatus{}
	for _, lists := range checkers {
		for _, l := range lists {
			k := key{l.Issuer, l.URI}
			if old, ok := byKey[k]; !ok || (l.Held && (!old.Held || l.FetchedAt.After(old.FetchedAt))) {
				byKey[k] = l
			}
		}
	}
	out := make([]statuslist.ListStatus, 0, len(byKey))
	for _, l := range byKey {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b statuslist.ListStatus) int {
		return cmp.Or(cmp.Compare(a.Issuer, b.Issuer), cmp.Compare(a.URI, b.URI))
	})
	return out
}
