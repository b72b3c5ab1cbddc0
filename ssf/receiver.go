package ssf

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// Defaults of a Config.
const (
	DefaultMaxEvents    = 100
	DefaultPollTimeout  = 70 * time.Second
	DefaultRetryBackoff = time.Second
	maxRetryBackoff     = time.Minute
	maxPushBody         = 64 << 10
)

// Config configures a Receiver of one transmitter.
type Config struct {
	// Issuer is the transmitter's issuer; its discovery document is at
	// WellKnownURL(Issuer). Required.
	Issuer string
	// Delivery is DeliveryPoll (the default) or DeliveryPush.
	Delivery string
	// PushEndpoint is the URL at which the transmitter reaches the
	// receiver's push endpoint (ServeHTTP). Required for push.
	PushEndpoint string
	// PushAuthorization, when set, is given to the transmitter as the
	// stream's authorization_header, and a push without exactly this
	// Authorization header is refused with authentication_failed.
	PushAuthorization string
	// Auth authorizes stream management and polls (nil: none).
	Auth Auth
	// Audience: a SET's aud must hold one of these. Default: the stream's
	// aud, as the transmitter set it.
	Audience []string
	// Subjects says whose identifiers a subject may name (TokenIssuers
	// defaults to Issuer alone).
	Subjects Subjects
	// EventsRequested are asked for when a stream is created. Default:
	// RevocationEvents.
	EventsRequested []string
	// PushMaxAge refuses a pushed SET whose iat is older (400
	// invalid_request): one captured and pushed again after State forgot
	// it would move its cut-off to now. Polled SETs come from the
	// transmitter itself and have no such bound. Default: DefaultRetention.
	PushMaxAge time.Duration
	// Description labels a created stream.
	Description string
	// MaxEvents is a poll's maxEvents. Default: DefaultMaxEvents.
	MaxEvents int
	// ReturnImmediately polls without waiting for events; off (the
	// default), a poll is a long poll the transmitter holds until it has
	// events or its own timeout.
	ReturnImmediately bool
	// PollTimeout bounds one poll request: longer than the transmitter
	// holds a long poll. Default: DefaultPollTimeout.
	PollTimeout time.Duration
	// RetryBackoff is the first wait after a failed poll, doubled up to a
	// minute. Default: DefaultRetryBackoff.
	RetryBackoff time.Duration
	// HTTPClient makes every call (discovery, JWKS, streams, polls); its
	// Timeout should be zero or above PollTimeout. Default: a plain client.
	HTTPClient *http.Client
	// State remembers the stream, the events applied and the
	// acknowledgements owed. Default: a MemoryState.
	State State
	// Metrics counts events. Default: none.
	Metrics Metrics
	// Apply stores the cut-offs of a SET. The SET is acknowledged (a push
	// answered 202, a polled SET acked) only when it returns nil; an error
	// makes a push answered 503 and a polled SET delivered again. Apply is
	// called only for SETs with cut-offs. Required.
	Apply func(ctx context.Context, set *SET) error
	// Logger receives what happens to the stream and SETs (never a token).
	// Default: none.
	Logger *zap.Logger
	// Now is the clock of cut-offs. Default: time.Now.
	Now func() time.Time
}

// Receiver receives the SETs of one transmitter's stream, pushed or
// polled, verifies them and hands their cut-offs to Config.Apply. It is
// safe for concurrent use; PollOnce and Run poll one at a time.
type Receiver struct {
	cfg      Config
	client   *http.Client
	streams  *StreamClient
	stream   *Stream
	verifier *jwtverify.Verifier
	metrics  Metrics
	log      *zap.Logger

	pollMu  sync.Mutex
	setErrs map[string]*SETError // polled SETs refused, reported at the next poll

	mu       sync.Mutex
	status   string
	verified map[string]bool
	inflight map[string]bool // event keys being applied
}

// New checks cfg and returns a Receiver; Start connects it.
func New(cfg Config) (*Receiver, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("token_revocation: ssf needs the transmitter's issuer")
	}
	if _, err := WellKnownURL(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Apply == nil {
		return nil, errors.New("token_revocation: ssf needs an Apply callback")
	}
	switch cfg.Delivery {
	case "", "poll":
		cfg.Delivery = DeliveryPoll
	case "push":
		cfg.Delivery = DeliveryPush
	case DeliveryPoll, DeliveryPush:
	default:
		return nil, fmt.Errorf("token_revocation: ssf delivery %q: want push or poll", cfg.Delivery)
	}
	if cfg.Delivery == DeliveryPush && cfg.PushEndpoint == "" {
		return nil, errors.New("token_revocation: ssf push delivery needs the URL the transmitter pushes to (push_endpoint)")
	}
	if len(cfg.Subjects.TokenIssuers) == 0 {
		cfg.Subjects.TokenIssuers = []string{cfg.Issuer}
	}
	if len(cfg.EventsRequested) == 0 {
		cfg.EventsRequested = RevocationEvents
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	if cfg.PushMaxAge <= 0 {
		cfg.PushMaxAge = DefaultRetention
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.State == nil {
		cfg.State = NewMemoryState()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Receiver{cfg: cfg, client: cfg.HTTPClient, metrics: cfg.Metrics, log: cfg.Logger,
		setErrs: map[string]*SETError{}, verified: map[string]bool{}, inflight: map[string]bool{}}
	if r.client == nil {
		r.client = &http.Client{}
	}
	if r.metrics == nil {
		r.metrics = noMetrics{}
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	return r, nil
}

func (r *Receiver) now() time.Time { return r.cfg.Now() }

// Start discovers the transmitter, creates or reuses the stream (the one
// State remembers, else one of the receiver's that delivers the same way,
// else a new one), reads its status and builds the SET verifier.
func (r *Receiver) Start(ctx context.Context) error {
	tc, err := Discover(ctx, r.client, r.cfg.Issuer)
	if err != nil {
		return err
	}
	if !tc.Supports(r.cfg.Delivery) {
		return fmt.Errorf("token_revocation: the ssf transmitter %s does not offer delivery %s (it offers %v)", tc.Issuer, r.cfg.Delivery, tc.DeliveryMethodsSupported)
	}
	r.streams = &StreamClient{Config: tc, Auth: r.cfg.Auth, HTTPClient: r.client}
	saved, err := r.cfg.State.StreamID(ctx)
	if err != nil {
		return err
	}
	want := Stream{Delivery: Delivery{Method: r.cfg.Delivery}, EventsRequested: r.cfg.EventsRequested, Description: r.cfg.Description}
	if r.cfg.Delivery == DeliveryPush {
		want.Delivery.EndpointURL = r.cfg.PushEndpoint
		want.Delivery.AuthorizationHeader = r.cfg.PushAuthorization
	}
	s, created, err := r.streams.Ensure(ctx, saved, want)
	if err != nil {
		return err
	}
	if created {
		s, err = r.keepOneStream(ctx, saved, s)
	} else if s.ID != saved {
		err = r.cfg.State.SaveStreamID(ctx, s.ID)
	}
	if err != nil {
		return err
	}
	if r.cfg.Delivery == DeliveryPoll && s.Delivery.EndpointURL == "" {
		return fmt.Errorf("token_revocation: the ssf transmitter %s gave stream %s no poll endpoint_url", tc.Issuer, s.ID)
	}
	aud := r.cfg.Audience
	if len(aud) == 0 {
		aud = s.Aud
	}
	if len(aud) == 0 {
		return fmt.Errorf("token_revocation: ssf stream %s of %s has no aud: configure the audience its SETs carry", s.ID, tc.Issuer)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuer: tc.Issuer, Audiences: aud, JWKSURL: tc.JWKSURI, HTTPClient: r.client, Logger: r.log})
	if err != nil {
		return fmt.Errorf("token_revocation: ssf %s: %w", tc.Issuer, err)
	}
	r.mu.Lock()
	r.stream, r.verifier = s, v
	r.mu.Unlock()
	v.Start()
	r.log.Info("ssf stream ready", zap.String("issuer", tc.Issuer), zap.String("stream_id", s.ID),
		zap.Bool("created", created), zap.String("delivery", s.Delivery.Method))
	if st, err := r.streams.Status(ctx, s.ID); err == nil {
		r.setStatus(st.Status)
	} else if !isStatus(err, http.StatusNotFound) {
		r.log.Warn("ssf stream status unread", zap.String("stream_id", s.ID), zap.Error(err))
	}
	return nil
}

// keepOneStream saves s, the stream this receiver just created in place
// of saved, as the one in use, unless an instance sharing its State
// created and saved another first (both found none to reuse as they
// started): then s is deleted, and the other's is used.
func (r *Receiver) keepOneStream(ctx context.Context, saved string, s *Stream) (*Stream, error) {
	id, err := r.cfg.State.SwapStreamID(ctx, saved, s.ID)
	if err != nil || id == s.ID {
		return s, err
	}
	if err := r.streams.Delete(ctx, s.ID); err != nil {
		r.log.Warn("ssf stream created twice; this one is not used but could not be deleted",
			zap.String("stream_id", s.ID), zap.String("in_use", id), zap.Error(err))
	}
	return r.streams.Get(ctx, id)
}

// Close stops the verifier's background key fetches.
func (r *Receiver) Close() {
	if r.verifier != nil {
		r.verifier.Close()
	}
}

// Stream returns the stream in use (nil before Start).
func (r *Receiver) Stream() *Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stream
}

// Status returns the stream's last known status ("" when unknown).
func (r *Receiver) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *Receiver) setStatus(s string) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
	r.metrics.StreamStatus(s)
}

// RefreshStatus reads the stream's status from the transmitter.
func (r *Receiver) RefreshStatus(ctx context.Context) (string, error) {
	st, err := r.streams.Status(ctx, r.Stream().ID)
	if err != nil {
		return "", err
	}
	r.setStatus(st.Status)
	return st.Status, nil
}

// RequestVerification asks the transmitter for a verification event and
// returns the state it will carry; Verified reports its arrival.
func (r *Receiver) RequestVerification(ctx context.Context) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	return state, r.streams.RequestVerification(ctx, r.Stream().ID, state)
}

// Verified reports whether a verification event carrying state arrived.
func (r *Receiver) Verified(state string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.verified[state]
}

// handle verifies and applies one SET. ackJTI is what to acknowledge it
// by at the next poll: the key of the poll answer's sets ("" for a push,
// answered instead). It returns nil when the SET is done with (applied,
// ignored, or applied before: to be acknowledged) and a *SETError
// otherwise.
func (r *Receiver) handle(ctx context.Context, raw, ackJTI string) *SETError {
	push := ackJTI == ""
	set, serr := r.parse(ctx, raw, push)
	if serr != nil {
		r.metrics.SETRejected(serr.Code)
		r.log.Warn("ssf SET refused", zap.String("err", serr.Code), zap.String("description", serr.Description))
		return serr
	}
	for _, ev := range set.Events {
		r.metrics.EventReceived(ev.Type) // every verified delivery
	}
	if push && r.now().Sub(set.IssuedAt) > r.cfg.PushMaxAge {
		r.metrics.SETRejected("invalid_request")
		return badSET("invalid_request", "the SET was issued "+set.IssuedAt.UTC().Format(time.RFC3339)+", more than "+r.cfg.PushMaxAge.String()+" ago")
	}
	// The same event twice at once (a push retried while the first is
	// being stored): the second waits for the transmitter's next try.
	r.mu.Lock()
	busy := r.inflight[set.Key()]
	r.inflight[set.Key()] = true
	r.mu.Unlock()
	if busy {
		return unavailable("the same event is being stored; send it again later")
	}
	defer func() {
		r.mu.Lock()
		delete(r.inflight, set.Key())
		r.mu.Unlock()
	}()
	seen, err := r.cfg.State.Applied(ctx, set.Key())
	if err != nil {
		return unavailable("the receiver's state is unavailable")
	}
	if seen {
		if push {
			r.metrics.SETRejected("invalid_request")
			return badSET("invalid_request", "SET "+set.Key()+" was received before")
		}
		if err := r.cfg.State.OweAck(ctx, ackJTI); err != nil {
			return unavailable("the receiver's state is unavailable")
		}
		return nil // applied before, its acknowledgement lost: acknowledged again, not applied
	}
	if len(set.Cutoffs) > 0 {
		if err := r.cfg.Apply(ctx, set); err != nil {
			r.log.Error("ssf SET not stored; not acknowledged", zap.String("jti", set.JTI), zap.Error(err))
			return unavailable("the revocation could not be stored; send the SET again")
		}
	}
	if err := r.cfg.State.MarkApplied(ctx, set.Key(), ackJTI); err != nil {
		// Applied and not remembered: delivered again, it is applied again
		// (a cut-off moved later), never lost.
		r.log.Error("ssf SET applied but not remembered", zap.String("jti", set.JTI), zap.Error(err))
		return unavailable("the receiver's state is unavailable")
	}
	for _, ev := range set.Events {
		switch {
		case ev.Type == SSFVerification:
			r.mu.Lock()
			r.verified[ev.State] = true
			r.mu.Unlock()
			r.metrics.EventIgnored(ev.Type, ev.Ignored)
		case ev.Type == SSFStreamUpdated:
			r.setStatus(ev.Status)
			r.metrics.EventIgnored(ev.Type, ev.Ignored)
		case ev.Ignored != "":
			r.metrics.EventIgnored(ev.Type, ev.Ignored)
		default:
			r.metrics.EventApplied(ev.Type)
		}
		r.log.Info("ssf event", zap.String("type", ev.Type), zap.String("jti", set.JTI), zap.Int("cutoffs", len(ev.Cutoffs)), zap.String("ignored", ev.Ignored))
	}
	if !push && len(set.Cutoffs) > 0 && !set.IssuedAt.IsZero() {
		r.metrics.PollLag(r.now().Sub(set.IssuedAt))
	}
	return nil
}

// ServeHTTP is the push endpoint (RFC 8935): a SET in the body,
// Content-Type application/secevent+jwt, answered 202 once stored, 400
// with the RFC 8935 error object when refused, 503 when it may succeed
// later.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a SET", http.StatusMethodNotAllowed)
		return
	}
	r.mu.Lock()
	started := r.verifier != nil
	r.mu.Unlock()
	if !started {
		writeSETError(w, unavailable("the receiver has not started"))
		return
	}
	if want := r.cfg.PushAuthorization; want != "" && subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), []byte(want)) != 1 {
		r.metrics.SETRejected("authentication_failed")
		writeSETError(w, &SETError{Status: http.StatusUnauthorized, Code: "authentication_failed", Description: "the Authorization header is not the stream's authorization_header"})
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/secevent+jwt" {
		writeSETError(w, badSET("invalid_request", "Content-Type must be application/secevent+jwt"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxPushBody))
	if err != nil {
		writeSETError(w, badSET("invalid_request", "unreadable body, or larger than "+strconv.Itoa(maxPushBody)+" bytes"))
		return
	}
	if serr := r.handle(req.Context(), string(body), ""); serr != nil {
		writeSETError(w, serr)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func writeSETError(w http.ResponseWriter, e *SETError) {
	body, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
