package caddymodule

import "github.com/prometheus/client_golang/prometheus"

// Version is this module's version, as CHANGELOG.md records it. A binary
// reports it in `caddy token-revocation version`, in the admin API's
// status (version), and as the metric
// caddy_token_revocation_build_info{version="..."} 1. `caddy list-modules
// --versions` shows the Go module version from the binary's build info
// instead: the tag when built from a published version, the version
// xcaddy.json pins for a build from a checkout (scripts/build), nothing
// for `go build ./cmd/caddy` (there the module is the main module).
const Version = "v0.2.0"

// metricBuildInfo is 1, labelled with the module's version.
var metricBuildInfo = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: metricsNamespace, Subsystem: metricsSubsystem,
	Name:        "build_info",
	Help:        "Always 1; the version label is the token_revocation module's version.",
	ConstLabels: prometheus.Labels{"version": Version},
})

func init() {
	metricBuildInfo.Set(1)
}
