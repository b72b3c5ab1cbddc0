package ssf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Delivery methods (SSF 1.0 section 6.1).
const (
	// DeliveryPush is RFC 8935: the transmitter POSTs each SET to the
	// receiver's endpoint.
	DeliveryPush = "urn:ietf:rfc:8935"
	// DeliveryPoll is RFC 8936: the receiver polls the transmitter's
	// endpoint and acknowledges what it applied.
	DeliveryPoll = "urn:ietf:rfc:8936"
)

// maxDocument bounds a discovery document, a stream configuration and a
// poll answer's headers; a poll answer is bounded by maxPollAnswer.
const (
	maxDocument   = 1 << 20
	maxPollAnswer = 16 << 20
)

// TransmitterConfig is a transmitter's discovery document (SSF 1.0
// section 7.1), the members the receiver uses.
type TransmitterConfig struct {
	// SpecVersion is spec_version, e.g. "1_0".
	SpecVersion string `json:"spec_version,omitempty"`
	// Issuer is the transmitter's issuer: the iss of its SETs. It must equal
	// the configured issuer.
	Issuer string `json:"issuer"`
	// JWKSURI is where the transmitter publishes the keys its SETs are
	// signed with.
	JWKSURI string `json:"jwks_uri"`
	// DeliveryMethodsSupported lists the delivery methods it offers.
	DeliveryMethodsSupported []string `json:"delivery_methods_supported,omitempty"`
	// ConfigurationEndpoint creates (POST), reads (GET), updates (PATCH,
	// PUT) and deletes (DELETE) streams.
	ConfigurationEndpoint string `json:"configuration_endpoint,omitempty"`
	// StatusEndpoint reads a stream's status.
	StatusEndpoint string `json:"status_endpoint,omitempty"`
	// VerificationEndpoint asks for a verification event.
	VerificationEndpoint string `json:"verification_endpoint,omitempty"`
	// AddSubjectEndpoint and RemoveSubjectEndpoint manage the subjects of a
	// stream (unused: the receiver asks for every subject).
	AddSubjectEndpoint    string `json:"add_subject_endpoint,omitempty"`
	RemoveSubjectEndpoint string `json:"remove_subject_endpoint,omitempty"`
	// DefaultSubjects is ALL or NONE: whether a new stream carries every
	// subject's events.
	DefaultSubjects string `json:"default_subjects,omitempty"`
}

// WellKnownURL is where the transmitter of issuer publishes its
// configuration: /.well-known/ssf-configuration inserted between the host
// and the issuer's path (SSF 1.0 section 7.2.1).
func WellKnownURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("token_revocation: ssf issuer %q must be an http(s) URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("token_revocation: ssf issuer %q must have no query or fragment", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + "/.well-known/ssf-configuration" + path, nil
}

// Discover fetches and checks the discovery document of the transmitter
// of issuer: its issuer must be issuer, it must name its JWKS, and the
// endpoints it names must be http(s) URLs.
func Discover(ctx context.Context, client *http.Client, issuer string) (*TransmitterConfig, error) {
	u, err := WellKnownURL(issuer)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ssf discovery %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("ssf discovery %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ssf discovery %s: status %d", u, resp.StatusCode)
	}
	if len(body) > maxDocument {
		return nil, fmt.Errorf("ssf discovery %s: document larger than %d bytes", u, maxDocument)
	}
	var tc TransmitterConfig
	if err := json.Unmarshal(body, &tc); err != nil {
		return nil, fmt.Errorf("ssf discovery %s: not a JSON object: %v", u, err)
	}
	if tc.Issuer != issuer {
		return nil, fmt.Errorf("token_revocation: ssf discovery %s names issuer %q, want %q: configure the issuer exactly as the transmitter spells it", u, tc.Issuer, issuer)
	}
	if tc.JWKSURI == "" {
		return nil, fmt.Errorf("token_revocation: ssf discovery %s has no jwks_uri: the SETs could not be verified", u)
	}
	for name, ep := range map[string]string{"jwks_uri": tc.JWKSURI, "configuration_endpoint": tc.ConfigurationEndpoint,
		"status_endpoint": tc.StatusEndpoint, "verification_endpoint": tc.VerificationEndpoint} {
		if ep == "" {
			continue
		}
		if p, err := url.Parse(ep); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, fmt.Errorf("ssf discovery %s: %s %q is not an http(s) URL", u, name, ep)
		}
	}
	return &tc, nil
}

// Supports reports whether the transmitter offers delivery method m (a
// document that lists none is taken to offer both).
func (tc *TransmitterConfig) Supports(m string) bool {
	if len(tc.DeliveryMethodsSupported) == 0 {
		return true
	}
	for _, s := range tc.DeliveryMethodsSupported {
		if s == m {
			return true
		}
	}
	return false
}
