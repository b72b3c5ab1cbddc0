package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
)

// Stream is a stream's configuration (SSF 1.0 section 8.1.1), the members
// the receiver reads and writes.
type Stream struct {
	// ID is the stream_id the transmitter assigned.
	ID string `json:"stream_id,omitempty"`
	// Iss is the transmitter's issuer.
	Iss string `json:"iss,omitempty"`
	// Aud is the audience of the stream's SETs: a string or an array.
	Aud audience `json:"aud,omitempty"`
	// EventsRequested are the event types the receiver asked for.
	EventsRequested []string `json:"events_requested,omitempty"`
	// EventsDelivered are the event types the transmitter sends.
	EventsDelivered []string `json:"events_delivered,omitempty"`
	// Delivery is how the SETs travel.
	Delivery Delivery `json:"delivery"`
	// Description is a label for people.
	Description string `json:"description,omitempty"`
}

// Delivery is a stream's delivery method and endpoint.
type Delivery struct {
	// Method is DeliveryPush or DeliveryPoll.
	Method string `json:"method"`
	// EndpointURL is the receiver's push endpoint, or the transmitter's
	// poll endpoint.
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is what the transmitter sends as Authorization
	// when it pushes (push only).
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// StreamStatus is a stream's status (SSF 1.0 section 8.1.2).
type StreamStatus struct {
	// StreamID names the stream.
	StreamID string `json:"stream_id"`
	// Status is enabled, paused or disabled.
	Status string `json:"status"`
	// Reason says why, when the transmitter says.
	Reason string `json:"reason,omitempty"`
}

// audience is aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// errStatus is an unexpected HTTP status from the transmitter.
type errStatus struct {
	op     string
	status int
	body   string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("ssf %s: status %d %s", e.op, e.status, e.body)
}

// isStatus reports whether err is the transmitter's answer code.
func isStatus(err error, code int) bool {
	var e *errStatus
	return errors.As(err, &e) && e.status == code
}

// StreamClient calls a transmitter's stream management API (SSF 1.0
// section 8.1) as one receiver.
type StreamClient struct {
	// Config is the transmitter's discovery document.
	Config *TransmitterConfig
	// Auth authorizes each call (nil: none).
	Auth Auth
	// HTTPClient makes the calls.
	HTTPClient *http.Client
}

// do calls the transmitter: body, when not nil, is sent as JSON; the
// answer, when out is not nil and the status is 2xx, is read into out.
func (c *StreamClient) do(ctx context.Context, op, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Auth != nil {
		if err := c.Auth.Authorize(ctx, req); err != nil {
			return err
		}
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("ssf %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPollAnswer+1))
	if err != nil {
		return fmt.Errorf("ssf %s: %w", op, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if cc, ok := c.Auth.(*ClientCredentials); ok {
			cc.Invalidate()
		}
	}
	if resp.StatusCode/100 != 2 {
		if len(data) > 200 {
			data = data[:200]
		}
		return &errStatus{op: op, status: resp.StatusCode, body: string(data)}
	}
	if len(data) > maxPollAnswer {
		return fmt.Errorf("ssf %s: answer larger than %d bytes", op, maxPollAnswer)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("ssf %s: answer is not the expected JSON: %v", op, err)
		}
	}
	return nil
}

func (c *StreamClient) endpoint(name, u string) (string, error) {
	if u == "" {
		return "", fmt.Errorf("token_revocation: the ssf transmitter %s publishes no %s", c.Config.Issuer, name)
	}
	return u, nil
}

func withStreamID(u, id string) string {
	q := url.Values{"stream_id": {id}}.Encode()
	if bytes.ContainsRune([]byte(u), '?') {
		return u + "&" + q
	}
	return u + "?" + q
}

// Get reads stream id; an unknown stream is an error for which
// IsNotFound holds.
func (c *StreamClient) Get(ctx context.Context, id string) (*Stream, error) {
	u, err := c.endpoint("configuration_endpoint", c.Config.ConfigurationEndpoint)
	if err != nil {
		return nil, err
	}
	var s Stream
	if err := c.do(ctx, "read stream", http.MethodGet, withStreamID(u, id), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// List reads every stream of the receiver. A transmitter that keeps one
// stream per receiver may answer with one object rather than an array.
func (c *StreamClient) List(ctx context.Context) ([]Stream, error) {
	u, err := c.endpoint("configuration_endpoint", c.Config.ConfigurationEndpoint)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, "list streams", http.MethodGet, u, nil, &raw); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, nil
		}
		return nil, err
	}
	var list []Stream
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var one Stream
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("ssf list streams: neither a stream nor an array of streams: %v", err)
	}
	return []Stream{one}, nil
}

// Create creates a stream with want's delivery and events_requested.
func (c *StreamClient) Create(ctx context.Context, want Stream) (*Stream, error) {
	u, err := c.endpoint("configuration_endpoint", c.Config.ConfigurationEndpoint)
	if err != nil {
		return nil, err
	}
	want.ID = ""
	var s Stream
	if err := c.do(ctx, "create stream", http.MethodPost, u, want, &s); err != nil {
		return nil, err
	}
	if s.ID == "" {
		return nil, errors.New("ssf create stream: the answer has no stream_id")
	}
	return &s, nil
}

// Delete deletes stream id (SSF 1.0 section 8.1.1.5).
func (c *StreamClient) Delete(ctx context.Context, id string) error {
	u, err := c.endpoint("configuration_endpoint", c.Config.ConfigurationEndpoint)
	if err != nil {
		return err
	}
	return c.do(ctx, "delete stream", http.MethodDelete, withStreamID(u, id), nil, nil)
}

// UpdateEvents sets stream id's events_requested (a PATCH, SSF 1.0
// section 8.1.1.3) and returns the stream as the transmitter now has it.
func (c *StreamClient) UpdateEvents(ctx context.Context, id string, events []string) (*Stream, error) {
	u, err := c.endpoint("configuration_endpoint", c.Config.ConfigurationEndpoint)
	if err != nil {
		return nil, err
	}
	var s Stream
	body := map[string]any{"stream_id": id, "events_requested": events}
	if err := c.do(ctx, "update stream", http.MethodPatch, u, body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Status reads stream id's status.
func (c *StreamClient) Status(ctx context.Context, id string) (*StreamStatus, error) {
	u, err := c.endpoint("status_endpoint", c.Config.StatusEndpoint)
	if err != nil {
		return nil, err
	}
	var s StreamStatus
	if err := c.do(ctx, "read status", http.MethodGet, withStreamID(u, id), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// RequestVerification asks the transmitter to send a verification event
// on stream id carrying state (SSF 1.0 section 8.1.4.2).
func (c *StreamClient) RequestVerification(ctx context.Context, id, state string) error {
	u, err := c.endpoint("verification_endpoint", c.Config.VerificationEndpoint)
	if err != nil {
		return err
	}
	return c.do(ctx, "request verification", http.MethodPost, u, map[string]string{"stream_id": id, "state": state}, nil)
}

// Matches reports whether s delivers as want asks: the same method and,
// for push, the same endpoint.
func (s *Stream) Matches(want *Stream) bool {
	if s.Delivery.Method != want.Delivery.Method {
		return false
	}
	return want.Delivery.Method != DeliveryPush || s.Delivery.EndpointURL == want.Delivery.EndpointURL
}

// Ensure returns the stream to use: saved (the stream_id remembered from
// a previous run, "" for none) when the transmitter still has it and it
// delivers as want asks; else the first of the receiver's streams that
// does; else a new one made from want. created says it was made now. A
// stream reused whose events_requested are not want's is updated to
// them.
func (c *StreamClient) Ensure(ctx context.Context, saved string, want Stream) (s *Stream, created bool, err error) {
	if saved != "" {
		s, err := c.Get(ctx, saved)
		switch {
		case err == nil && s.Matches(&want):
			return c.reuse(ctx, s, &want)
		case err != nil && !isStatus(err, http.StatusNotFound):
			return nil, false, err
		}
	}
	list, err := c.List(ctx)
	if err != nil {
		return nil, false, err
	}
	for i := range list {
		if list[i].ID != "" && list[i].Matches(&want) {
			return c.reuse(ctx, &list[i], &want)
		}
	}
	s, err = c.Create(ctx, want)
	if err != nil {
		return nil, false, err
	}
	return s, true, nil
}

// reuse returns s, its events_requested updated to want's when they
// differ (as sets).
func (c *StreamClient) reuse(ctx context.Context, s, want *Stream) (*Stream, bool, error) {
	if sameSet(s.EventsRequested, want.EventsRequested) {
		return s, false, nil
	}
	u, err := c.UpdateEvents(ctx, s.ID, want.EventsRequested)
	if err != nil {
		return nil, false, err
	}
	if u.ID == "" {
		u.ID = s.ID
	}
	return u, false, nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool { return maps.Equal(set(a), set(b)) }

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
