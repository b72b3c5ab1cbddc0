package ssf

// The transmitter of the tests: no installable SSF transmitter offers
// stream management with both deliveries as a published module or npm
// package (see doc.go), so this one serves the SSF 1.0 and RFC 8935/8936
// specifications' own exchanges, and the SETs of the CAEP, RISC and SSF
// specifications' examples, signed with go-jose.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// queued is a SET in a stream's queue.
type queued struct {
	jti, set string
	acked    bool
	errored  *SETError // reported in setErrs
}

// txStream is a stream at the transmitter.
type txStream struct {
	cfg    Stream
	status string
	queue  []*queued
}

// transmitter is an SSF transmitter on loopback.
type transmitter struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string
	aud    string
	key    *ecdsa.PrivateKey
	kid    string

	bearer             string // a static token it accepts
	clientID, secret   string // client credentials it accepts
	tokenCalls         int
	accessTokens       map[string]bool
	mu                 sync.Mutex
	wake               chan struct{} // closed when a SET is queued
	streams            map[string]*txStream
	creates, updates   int
	nextID             int
	polls              []pollRequest
	dropAcks           int // the next polls whose acks are lost
	pushed             []int
	pushClient         *http.Client
	holdLongPoll       time.Duration
	verificationsAsked int
	failPolls          int  // the next polls answered 500
	listAsObject       bool // GET without stream_id answers the one stream, not an array
}

func newTransmitter(t *testing.T) *transmitter {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tx := &transmitter{t: t, key: key, kid: "tx-key-1", bearer: "receiver-bearer-token", clientID: "gateway", secret: "gateway-secret",
		accessTokens: map[string]bool{}, streams: map[string]*txStream{}, wake: make(chan struct{}),
		aud: "https://gateway.example.com/ssf", holdLongPoll: 30 * time.Second, pushClient: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	tx.srv = httptest.NewServer(mux)
	t.Cleanup(tx.srv.Close)
	tx.issuer = tx.srv.URL + "/tenant1"
	mux.HandleFunc("GET /.well-known/ssf-configuration/tenant1", tx.discovery)
	mux.HandleFunc("GET /jwks", tx.jwks)
	mux.HandleFunc("POST /token", tx.token)
	mux.HandleFunc("/ssf/streams", tx.authed(tx.configuration))
	mux.HandleFunc("GET /ssf/status", tx.authed(tx.statusEP))
	mux.HandleFunc("POST /ssf/verify", tx.authed(tx.verify))
	mux.HandleFunc("POST /ssf/poll/{id}", tx.authed(tx.poll))
	return tx
}

// discovery is SSF 1.0 section 7.2's example, at this server.
func (tx *transmitter) discovery(w http.ResponseWriter, _ *http.Request) {
	u := tx.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"spec_version":               "1_0",
		"issuer":                     tx.issuer,
		"jwks_uri":                   u + "/jwks",
		"delivery_methods_supported": []string{DeliveryPush, DeliveryPoll},
		"configuration_endpoint":     u + "/ssf/streams",
		"status_endpoint":            u + "/ssf/status",
		"verification_endpoint":      u + "/ssf/verify",
		"default_subjects":           "ALL",
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6749"}},
	})
}

func (tx *transmitter) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &tx.key.PublicKey, KeyID: tx.kid, Algorithm: "ES256", Use: "sig"}}})
}

func (tx *transmitter) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != tx.clientID || secret != tx.secret || r.FormValue("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tx.mu.Lock()
	tx.tokenCalls++
	tok := "at-" + strconv.Itoa(tx.tokenCalls)
	tx.accessTokens[tok] = true
	tx.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (tx *transmitter) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tx.mu.Lock()
		good := ok && (tok == tx.bearer || tx.accessTokens[tok])
		tx.mu.Unlock()
		if !good {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// configuration creates (POST) and reads (GET) streams, SSF 1.0 section
// 8.1.1.
func (tx *transmitter) configuration(w http.ResponseWriter, r *http.Request) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		var s Stream
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil || s.Delivery.Method == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad stream"})
			return
		}
		tx.creates++
		tx.nextID++
		s.ID = fmt.Sprintf("stream-%d", tx.nextID)
		s.Iss, s.Aud = tx.issuer, audience{tx.aud}
		s.EventsDelivered = s.EventsRequested
		if s.Delivery.Method == DeliveryPoll {
			s.Delivery.EndpointURL = tx.srv.URL + "/ssf/poll/" + s.ID
		}
		tx.streams[s.ID] = &txStream{cfg: s, status: "enabled"}
		writeJSON(w, http.StatusCreated, s)
	case http.MethodGet:
		if id := r.URL.Query().Get("stream_id"); id != "" {
			s := tx.streams[id]
			if s == nil {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			writeJSON(w, http.StatusOK, s.cfg)
			return
		}
		if tx.listAsObject && tx.streams["stream-1"] != nil {
			writeJSON(w, http.StatusOK, tx.streams["stream-1"].cfg)
			return
		}
		list := []Stream{}
		for i := 1; i <= tx.nextID; i++ {
			if s := tx.streams[fmt.Sprintf("stream-%d", i)]; s != nil {
				list = append(list, s.cfg)
			}
		}
		writeJSON(w, http.StatusOK, list)
	case http.MethodPatch:
		var u Stream
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s := tx.streams[u.ID]
		if s == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		tx.updates++
		if u.EventsRequested != nil {
			s.cfg.EventsRequested, s.cfg.EventsDelivered = u.EventsRequested, u.EventsRequested
		}
		writeJSON(w, http.StatusOK, s.cfg)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (tx *transmitter) statusEP(w http.ResponseWriter, r *http.Request) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	s := tx.streams[r.URL.Query().Get("stream_id")]
	if s == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, StreamStatus{StreamID: s.cfg.ID, Status: s.status})
}

// verify queues SSF 1.0 section 8.1.4.1's verification event.
func (tx *transmitter) verify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tx.mu.Lock()
	tx.verificationsAsked++
	_, ok := tx.streams[req.StreamID]
	tx.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	// Sent once this answer is done: the receiver may reuse its connection
	// to fetch the JWKS while it verifies the event.
	jti, set := tx.sign(map[string]any{
		"sub_id": map[string]string{"format": "opaque", "id": req.StreamID},
		"events": map[string]any{SSFVerification: map[string]string{"state": req.State}},
	}, nil)
	go tx.deliver(req.StreamID, jti, set)
}

// setStatus changes a stream's status and sends stream-updated.
func (tx *transmitter) setStatus(id, status, reason string) {
	tx.mu.Lock()
	tx.streams[id].status = status
	tx.mu.Unlock()
	tx.send(id, map[string]any{
		"sub_id": map[string]string{"format": "opaque", "id": id},
		"events": map[string]any{SSFStreamUpdated: map[string]string{"status": status, "reason": reason}},
	})
}

// poll is RFC 8936 section 2.4: acks and setErrs taken, then up to
// maxEvents SETs neither acknowledged nor refused, held until one is
// queued when returnImmediately is false and none is.
func (tx *transmitter) poll(w http.ResponseWriter, r *http.Request) {
	var req pollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"err": "invalid_request"})
		return
	}
	id := r.PathValue("id")
	tx.mu.Lock()
	if tx.failPolls > 0 {
		tx.failPolls--
		tx.mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s := tx.streams[id]
	if s == nil {
		tx.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		return
	}
	tx.polls = append(tx.polls, req)
	if tx.dropAcks > 0 && len(req.Ack) > 0 {
		tx.dropAcks--
	} else {
		for _, q := range s.queue {
			for _, a := range req.Ack {
				if q.jti == a {
					q.acked = true
				}
			}
			if e := req.SetErrs[q.jti]; e != nil {
				q.errored = e
			}
		}
	}
	tx.mu.Unlock()
	for {
		tx.mu.Lock()
		sets := map[string]string{}
		more := false
		for _, q := range s.queue {
			if q.acked || q.errored != nil {
				continue
			}
			if len(sets) == max(req.MaxEvents, 1) {
				more = true
				break
			}
			sets[q.jti] = q.set
		}
		wake := tx.wake
		tx.mu.Unlock()
		if len(sets) > 0 || req.ReturnImmediately {
			writeJSON(w, http.StatusOK, pollAnswer{Sets: sets, MoreAvailable: more})
			return
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		case <-time.After(tx.holdLongPoll):
			writeJSON(w, http.StatusOK, pollAnswer{Sets: sets})
			return
		}
	}
}

// lastPoll returns the last poll request.
func (tx *transmitter) lastPoll() pollRequest {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.polls[len(tx.polls)-1]
}

// sign makes a SET of claims: iss, aud, iat and jti filled in unless
// claims has them; typ secevent+jwt.
func (tx *transmitter) sign(claims map[string]any, key *ecdsa.PrivateKey) (jti, set string) {
	tx.t.Helper()
	if claims["iss"] == nil {
		claims["iss"] = tx.issuer
	}
	if claims["aud"] == nil {
		claims["aud"] = tx.aud
	}
	if claims["iat"] == nil {
		claims["iat"] = time.Now().Unix()
	}
	if claims["jti"] == nil {
		var b [8]byte
		_, _ = rand.Read(b[:])
		claims["jti"] = fmt.Sprintf("%x", b)
	}
	if key == nil {
		key = tx.key
	}
	opts := (&jose.SignerOptions{}).WithType("secevent+jwt").WithHeader("kid", tx.kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		tx.t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		tx.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tx.t.Fatal(err)
	}
	set, err = jws.CompactSerialize()
	if err != nil {
		tx.t.Fatal(err)
	}
	return claims["jti"].(string), set
}

// send signs claims and delivers the SET on stream id: queued for polls,
// or pushed (RFC 8935) with the stream's authorization_header, its answer
// status appended to pushed.
func (tx *transmitter) send(id string, claims map[string]any) string {
	jti, set := tx.sign(claims, nil)
	tx.deliver(id, jti, set)
	return jti
}

func (tx *transmitter) deliver(id, jti, set string) {
	tx.mu.Lock()
	s := tx.streams[id]
	if s.cfg.Delivery.Method == DeliveryPoll {
		s.queue = append(s.queue, &queued{jti: jti, set: set})
		close(tx.wake)
		tx.wake = make(chan struct{})
		tx.mu.Unlock()
		return
	}
	endpoint, auth := s.cfg.Delivery.EndpointURL, s.cfg.Delivery.AuthorizationHeader
	tx.mu.Unlock()
	status := tx.push(endpoint, auth, set)
	tx.mu.Lock()
	tx.pushed = append(tx.pushed, status)
	tx.mu.Unlock()
}

// push POSTs set as RFC 8935 section 2 says and returns the status.
func (tx *transmitter) push(endpoint, auth, set string) int {
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader([]byte(set)))
	if err != nil {
		tx.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := tx.pushClient.Do(req)
	if err != nil {
		tx.t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// unacked returns the jtis of stream id's queue not acknowledged.
func (tx *transmitter) unacked(id string) []string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	var out []string
	for _, q := range tx.streams[id].queue {
		if !q.acked && q.errored == nil {
			out = append(out, q.jti)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// recorder is an Apply callback that counts what it stored per jti, and
// fails while fail says so.
type recorder struct {
	mu      sync.Mutex
	applied map[string]int
	sets    []*SET
	fail    func(*SET) error
}

func newRecorder() *recorder { return &recorder{applied: map[string]int{}} }

func (rc *recorder) apply(_ context.Context, s *SET) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail != nil {
		if err := rc.fail(s); err != nil {
			return err
		}
	}
	rc.applied[s.JTI]++
	rc.sets = append(rc.sets, s)
	return nil
}

func (rc *recorder) count(jti string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.applied[jti]
}

func (rc *recorder) total() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, c := range rc.applied {
		n += c
	}
	return n
}
