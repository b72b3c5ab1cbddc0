package gateway

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/live"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// The handler's Prometheus metrics, all of them in this file. They live at package level and are
// registered into each config's registry (ctx.GetMetricsRegistry() is new
// for every config load), so their values survive reloads. Caddy serves
// them on its admin endpoint at /metrics. docs/operations-metrics.md
// describes them.
const (
	metricsNamespace = "caddy"
	metricsSubsystem = "token_revocation"
)

// Rejection reasons besides the kinds of entry (token, jti, session, user,
// client, cnf).
const (
	reasonTooLarge     = "too_large"      // a token longer than max_token_size
	reasonBodyTooLarge = "body_too_large" // a form body larger than max_body_size
	reasonBadRequest   = "bad_request"    // an unreadable request
	reasonAmbiguous    = "ambiguous"      // a request parsers could read two ways
	reasonUnavailable  = "unavailable"    // the store could not be read, fail closed
	reasonStatusList   = "status_list"    // a token its status list says is not VALID (status_list.go)
)

// The package's metrics (their Help says what each counts), and the
// descriptions of the store metrics that admin's collectors send at
// scrape time (caddymodule/admin/registry.go).
var (
	metricChecked = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "requests_checked_total",
		Help: "Requests that carried at least one token and were checked against the denylist.",
	})
	metricRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "requests_rejected_total",
		Help: "Requests rejected, by reason: token, jti, session, user, client or cnf (the kind of entry that revoked the token; client: a client-wide cut-off such as Keycloak's not-before push; cnf: the key the token is bound to), too_large, body_too_large, bad_request, ambiguous, status_list (the token's Token Status List entry is not VALID), or unavailable (store or status list unreadable, fail closed).",
	}, []string{"reason"})
	metricFailOpen = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "fail_open_total",
		Help: "Tokens let through unchecked because the store could not be read and fail_mode is open.",
	})
	metricCandidatesUnchecked = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "candidates_unchecked_total",
		Help: "Strings found outside the named token channels, of a revoked token's length, and requests' keys looked up alone, let through because the store could not be read (what the mirror holds is still checked).",
	})
	MetricRevocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "revocations_total",
		Help: "Denylist entries written, by route (a route type: revoke, logout, ...; admin: the admin API; ssf: a Shared Signals receiver) and kind (token, jti, session, user, client: a client-wide cut-off; cnf: the key tokens are bound to).",
	}, []string{"route", "kind"})
	metricUnrevocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "unrevocations_total",
		Help: "Denylist entries removed through the admin API, by kind.",
	}, []string{"kind"})
	MetricStoreErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "store_errors_total",
		Help: "Failed denylist store operations, by operation (check, revoke, unrevoke, get, list).",
	}, []string{"op"})
	metricCheckDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name:    "check_duration_seconds",
		Help:    "Time to check the tokens of one request against the denylist (requests without a token are not observed).",
		Buckets: []float64{0.00001, 0.0001, 0.001, 0.01, 0.1, 1},
	})
	// ssf.go's receivers, through ssfMetrics:
	metricSSFEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "ssf_events_total",
		Help: "Shared Signals events in verified SETs, by transmitter issuer, event type and outcome: received (every verified delivery), applied (its cut-offs stored) or ignored (acknowledged without a cut-off).",
	}, []string{"issuer", "type", "outcome"})
	metricSSFRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "ssf_sets_rejected_total",
		Help: "Shared Signals SETs refused, by transmitter issuer and RFC 8935 error code (invalid_key, invalid_issuer, invalid_audience, invalid_request, authentication_failed, ...).",
	}, []string{"issuer", "code"})
	metricSSFStreamStatus = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "ssf_stream_status",
		Help: "1 for the current status (enabled, paused, disabled) of the Shared Signals stream of a transmitter issuer, 0 for the others.",
	}, []string{"issuer", "status"})
	metricSSFPollLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name:    "ssf_poll_lag_seconds",
		Help:    "For a polled Shared Signals event that revokes, the time from its SET's iat to its cut-offs stored, by transmitter issuer.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"issuer"})

	StoreEntriesDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "store_entries"),
		"Live entries in the denylist store (for a mirrored store, in the in-process mirror).", []string{"store"}, nil)
	StoreHealthyDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "store_healthy"),
		"1 when the denylist store answers, else 0.", []string{"store"}, nil)
	MirrorLagDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "mirror_lag_seconds"),
		"How far the in-process mirror may be behind the shared store: the time since it last proved itself fresh.", []string{"store"}, nil)
	MirrorEventLagDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "mirror_event_lag_seconds"),
		"How old the last revocation event was when the in-process mirror applied it: the propagation delay from the instance that wrote it.", []string{"store"}, nil)
	MirrorFreshDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "mirror_fresh"),
		"1 when the in-process mirror is within its staleness bound and answers checks, else 0 (checks then go to the store, or fail as configured).", []string{"store"}, nil)

	// MetricsCollectors are every metric of the package but the store
	// collectors (admin/registry.go, over the registry of handlers),
	// registered into each config's registry.
	MetricsCollectors = []prometheus.Collector{
		metricChecked, metricRejected, metricFailOpen, metricCandidatesUnchecked, MetricRevocations, metricUnrevocations,
		MetricStoreErrors, metricCheckDuration,
		metricRefused, metricUnverified, // guard.go
		metricIntrospections,          // quota_introspect.go
		MetricNoSID, MetricNearMisses, // warnings.go
		metricBuildInfo, // version.go
		// live_connections.go:
		metricLiveOpen, metricLiveRegistered, metricLiveClosed, metricLiveCloseDuration,
		metricFirstMessagesRefused,                                                  // ws_first_messages.go
		metricSSFEvents, metricSSFRejected, metricSSFStreamStatus, metricSSFPollLag, // ssf.go
		// and statusListCollector (admin/registry.go), appended at init
	}

	// rejectedBy holds the rejection counters of the known reasons, so the
	// hot path does no label look-up.
	rejectedBy = map[string]prometheus.Counter{}
)

func init() {
	metricBuildInfo.Set(1)
	// Labels shown as 0 from the start, for rate() and alerts.
	for _, r := range []live.Reason{live.ReasonRevoked, live.ReasonExpired} {
		metricLiveClosed.WithLabelValues(r.String())
	}
	for _, w := range []live.Refusal{live.RefusedRevoked, live.RefusedUnavailable, live.RefusedTooLarge, live.RefusedUnreadable, live.RefusedSlow} {
		metricFirstMessagesRefused.WithLabelValues(w.String())
	}
	for _, r := range []string{"active", "inactive", "error"} {
		metricIntrospections.WithLabelValues(r)
	}
	for _, r := range []string{"invalid_client", "rate_limited_client", "rate_limited_address", "denylist_full", "owner_index_full", "too_many_tokens", "anonymous_share_full", "quota_address", "quota_client"} {
		metricRefused.WithLabelValues(r) // shown as 0 from the start, for rate() and alerts
	}
	for _, r := range []string{"token", "jti", "session", "user", "client", "cnf", reasonTooLarge, reasonBodyTooLarge, reasonBadRequest, reasonAmbiguous, reasonUnavailable, reasonStatusList} {
		rejectedBy[r] = metricRejected.WithLabelValues(r)
	}
	for _, op := range []string{"check", "revoke", "unrevoke", "get", "list"} {
		MetricStoreErrors.WithLabelValues(op) // shown as 0 from the start, for rate() and alerts
	}
}

// countRefused counts a refused call.
func countRefused(reason string) { metricRefused.WithLabelValues(reason).Inc() }

// observeCheck records one checked request: how long since start, and its
// rejection when reason is not "". One call per request that carried a
// token.
func observeCheck(start time.Time, reason string) {
	metricCheckDuration.Observe(time.Since(start).Seconds())
	metricChecked.Inc()
	if reason != "" {
		countRejected(reason)
	}
}

// countRejected counts a rejected request.
func countRejected(reason string) {
	if c, ok := rejectedBy[reason]; ok {
		c.Inc()
		return
	}
	metricRejected.WithLabelValues(reason).Inc()
}

// countExtractError counts a request rejected because its tokens could
// not be read (err from token.Sources.Extract).
func countExtractError(err error) { countRejected(extractReason(err)) }

// extractReason is the rejection reason of a token extraction failure.
func extractReason(err error) string {
	switch {
	case errors.Is(err, token.ErrTooLarge):
		return reasonTooLarge
	case errors.Is(err, token.ErrBodyTooLarge):
		return reasonBodyTooLarge
	}
	return reasonBadRequest
}

// countCheckFailed counts a check the store could not answer; with
// failOpen the token was let through.
func countCheckFailed(failOpen bool) {
	CountStoreError("check")
	if failOpen {
		metricFailOpen.Inc()
	}
}

// countCandidateUnchecked counts a string found outside the named channels,
// or a request's keys looked up alone, that the store could not be asked
// about (see requestCheck.check, checkKeysAlone).
func countCandidateUnchecked() { metricCandidatesUnchecked.Inc() }

// CountStoreError counts a failed store operation.
func CountStoreError(op string) { MetricStoreErrors.WithLabelValues(op).Inc() }

// CountRevocation counts one entry written through a route of type route.
func CountRevocation(route string, kind denylist.Kind) {
	MetricRevocations.WithLabelValues(route, kind.String()).Inc()
}

// CountUnrevocation counts one entry removed.
func CountUnrevocation(kind denylist.Kind) { metricUnrevocations.WithLabelValues(kind.String()).Inc() }

// BoolGauge is b as a gauge value: 1 or 0.
func BoolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// MirrorReporter is a store with an in-process mirror of a shared store
// (redisstore.MirrorStore): its size and freshness are known without asking
// the shared store.
type MirrorReporter interface {
	// Freshness returns how long ago the shared store last proved the
	// mirror up to date, and whether that is within the staleness bound.
	Freshness() (age time.Duration, fresh bool)
	// Len returns the number of entries the mirror holds.
	Len() int
}

// EventLagReporter is a mirror that knows how late revocation events
// reach it.
type EventLagReporter interface {
	EventLag() time.Duration
}

// Calls refused by the guards before anything was stored (guard.go).
var (
	metricRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "refused_total",
		Help: "Calls to revocation routes and token endpoint observers refused before anything was stored, by reason: invalid_client (401), unauthorized_client (400, another client's token), rate_limited_client and rate_limited_address (429), quota_address and quota_client (429, the caller's quota reached), denylist_full and owner_index_full (503, max_entries or max_owner_records reached), anonymous_share_full (503, an anonymous revocation past quota anonymous), too_many_tokens (400).",
	}, []string{"reason"})
	metricUnverified = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "unverified_tokens_total",
		Help: "Tokens that a verified_only route answered without recording, because they did not verify.",
	})
)

// Live connections (live_connections.go).
var (
	metricLiveOpen = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "live_connections",
		Help: "Live connections (upgraded, streaming) open and registered to be ended when their token is revoked.",
	}, func() float64 {
		n := 0
		liveRegistries.Range(func(k, _ any) bool {
			n += k.(*live.Registry).Len()
			return true
		})
		return float64(n)
	})
	metricLiveRegistered = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "live_connections_registered_total",
		Help: "Live connections registered: upgrades, and responses that turned out streaming (flushed), of requests whose tokens passed the check.",
	})
	metricLiveClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "live_connections_closed_total",
		Help: "Live connections ended by the gateway, by reason: revoked (a revocation of one of their tokens, from any instance) or expired (close_on_expiry).",
	}, []string{"reason"})
	metricLiveCloseDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name:    "live_close_seconds",
		Help:    "Time from the store telling this instance of a revocation (stored here, or read from the events stream) to the closing of a live connection it revokes.",
		Buckets: []float64{0.00001, 0.0001, 0.001, 0.01, 0.1, 1},
	})
)

// Introspection of anonymous revocations (quota_introspect.go).
var metricIntrospections = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metricsNamespace, Subsystem: metricsSubsystem,
	Name: "introspections_total",
	Help: "Opaque tokens of anonymous forward-mode revocations asked about at the introspection endpoint, by result: active (trusted), inactive (not stored), error (the endpoint could not be asked: the token counts as anonymous).",
}, []string{"result"})

// metricBuildInfo is 1, labelled with the module's version (version.go).
var metricBuildInfo = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: metricsNamespace, Subsystem: metricsSubsystem,
	Name:        "build_info",
	Help:        "Always 1; the version label is the token_revocation module's version.",
	ConstLabels: prometheus.Labels{"version": Version},
})

// What the start warnings count at run time (warnings.go).
var (
	MetricNoSID = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "tokens_without_sid_total",
		Help: "JWTs checked (each distinct token once) that carry no sid claim while a route revokes sessions: a session revocation does not reach them. By issuer.",
	}, []string{"issuer"})
	MetricNearMisses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "route_near_misses_total",
		Help: "POST requests that matched no revocation route but whose path ends like one (e.g. a Keycloak logout under another prefix): passed on, nothing recorded. By route.",
	}, []string{"route"})
)

// WebSockets refused during their first messages (ws_first_messages.go).
var metricFirstMessagesRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metricsNamespace, Subsystem: metricsSubsystem,
	Name: "websocket_refused_total",
	Help: "WebSockets closed during their first messages, by reason: revoked (a message carried a revoked token), unavailable (the denylist could not be read), too_large, unreadable, slow.",
}, []string{"reason"})

// The stores' health, collected at scrape time (caddymodule/admin/registry.go).
var (
	StoreReadyDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "store_ready"),
		"1 when the denylist store is open and, for a mirror, loaded, fresh and proven whole: checks are answered from an up-to-date denylist. 0 while Caddy serves without it (fail mode, revocations 503).", []string{"store"}, nil)
	OutboxPendingDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "outbox_pending"),
		"Revocations an upstream confirmed (forward mode) that wait in the local outbox for the shared store: enforced on this instance, not yet on the others.", []string{"store"}, nil)
	OutboxFullDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "outbox_full_total"),
		"Confirmed revocations (forward mode) the local outbox refused because it held its bound of entries: each was written to the shared store directly, or refused (503) when that failed too.", []string{"store"}, nil)
	EvictionRiskDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "store_eviction_risk"),
		"1 when Redis's maxmemory-policy may evict denylist keys (allkeys-*) or cannot be read (CONFIG GET and INFO denied), else 0; read at start, every 10s and after reconnections.", []string{"store"}, nil)
	KeysLostDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "store_keys_lost_total"),
		"Times this instance found denylist keys gone from Redis while it kept running (evicted, or deleted: under their epoch, or the epoch too while the events stream stayed): each is handled as a Redis restarted empty (write-back; fail mode until proven whole).", []string{"store"}, nil)
)

// ssfMetrics is the ssf.Metrics of the receiver of one transmitter issuer.
type ssfMetrics struct{ issuer string }

func newSSFMetrics(issuer string) ssfMetrics { return ssfMetrics{issuer} }

func (m ssfMetrics) EventReceived(typ string) {
	metricSSFEvents.WithLabelValues(m.issuer, typ, "received").Inc()
}

func (m ssfMetrics) EventApplied(typ string) {
	metricSSFEvents.WithLabelValues(m.issuer, typ, "applied").Inc()
}

func (m ssfMetrics) EventIgnored(typ, _ string) {
	metricSSFEvents.WithLabelValues(m.issuer, typ, "ignored").Inc()
}

func (m ssfMetrics) SETRejected(code string) {
	metricSSFRejected.WithLabelValues(m.issuer, code).Inc()
}

// StreamStatus sets the status's gauge to 1 and the others' to 0.
func (m ssfMetrics) StreamStatus(status string) {
	if status == "" {
		return
	}
	for _, s := range []string{"enabled", "paused", "disabled", status} {
		v := 0.0
		if s == status {
			v = 1
		}
		metricSSFStreamStatus.WithLabelValues(m.issuer, s).Set(v)
	}
}

func (m ssfMetrics) PollLag(d time.Duration) {
	metricSSFPollLag.WithLabelValues(m.issuer).Observe(d.Seconds())
}

// Token Status Lists held by the jwt blocks' status_list checkers
// (status_list.go), read at scrape time from statuslist.Checker.Lists by
// statusListCollector (admin/registry.go). A
// list exists only for a uri on an allowed host that a verified token of
// the issuer named, at most max_lists of them; the per-uri series are
// further capped at statusListMetricURIs per scrape.
var (
	StatusListsDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "status_lists"),
		"Token Status Lists held (fetched and usable) for the tokens of a jwt block's issuer, by issuer.", []string{"issuer"}, nil)
	StatusListFetchAgeDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "status_list_fetch_age_seconds"),
		"Time since the Token Status List held was fetched, by issuer and uri; absent while none is held.", []string{"issuer", "uri"}, nil)
	StatusListFetchOKDesc = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "status_list_fetch_ok"),
		"1 when the last fetch of a Token Status List succeeded, 0 when it failed (the list held, if any, is used until max_stale), by issuer and uri.", []string{"issuer", "uri"}, nil)
)
