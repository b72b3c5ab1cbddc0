// Package ssftest is the tests' Shared Signals Framework transmitter: no
// installable transmitter offers stream management with both deliveries
// (see ssf/doc.go), so this one, on a free loopback port, serves the SSF
// 1.0 and RFC 8935/8936 specifications' own exchanges and signs the
// CAEP, RISC and SSF specifications' example SETs (examples.go) with
// go-jose. It speaks the wire format with types of its own, not package
// ssf's, so that the receiver is tested against what the specifications
// write rather than against itself; package ssf's tests and the
// end-to-end tests both use it.
package ssftest

// TB is what the transmitter needs of its caller: a *testing.T or
// *testing.B, or the benchmark tool's stand-in (internal/benchtool).
type TB interface {
	Helper()
	Fatal(args ...any)
	Error(args ...any)
	Cleanup(f func())
}

// Delivery methods (SSF 1.0 section 6.1).
const (
	DeliveryPush = "urn:ietf:rfc:8935"
	DeliveryPoll = "urn:ietf:rfc:8936"
)

// SSF event types the transmitter sends itself.
const (
	SSFVerification  = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	SSFStreamUpdated = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
)

// StreamConfig is a stream's configuration (SSF 1.0 section 8.1.1).
type StreamConfig struct {
	// ID is the stream_id.
	ID string `json:"stream_id,omitempty"`
	// Iss and Aud are the issuer and audience of the stream's SETs.
	Iss string   `json:"iss,omitempty"`
	Aud []string `json:"aud,omitempty"`
	// EventsRequested and EventsDelivered are the event types asked for
	// and sent.
	EventsRequested []string `json:"events_requested,omitempty"`
	EventsDelivered []string `json:"events_delivered,omitempty"`
	// Delivery is the method, the endpoint and (push) the Authorization.
	Delivery struct {
		Method              string `json:"method"`
		EndpointURL         string `json:"endpoint_url,omitempty"`
		AuthorizationHeader string `json:"authorization_header,omitempty"`
	} `json:"delivery"`
	// Description is the receiver's label.
	Description string `json:"description,omitempty"`
}

// PollRequest is an RFC 8936 section 2.4 poll request.
type PollRequest struct {
	// Ack are the jtis acknowledged.
	Ack []string `json:"ack,omitempty"`
	// SetErrs are the SETs refused, by jti.
	SetErrs map[string]*SETError `json:"setErrs,omitempty"`
	// MaxEvents and ReturnImmediately are the poll's options.
	MaxEvents         int  `json:"maxEvents"`
	ReturnImmediately bool `json:"returnImmediately"`
}

// PollAnswer is an RFC 8936 section 2.5 poll answer.
type PollAnswer struct {
	// Sets are the SETs, by jti.
	Sets map[string]string `json:"sets"`
	// MoreAvailable says more SETs are queued.
	MoreAvailable bool `json:"moreAvailable"`
}

// SETError is an RFC 8935 section 2.3 error, as a poll's setErrs carry it.
type SETError struct {
	// Code is the err member.
	Code string `json:"err"`
	// Description says what is wrong.
	Description string `json:"description"`
}
