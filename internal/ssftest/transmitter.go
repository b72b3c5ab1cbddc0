package ssftest

// The transmitter of the tests: no installable SSF transmitter offers
// stream management with both deliveries as a published module or npm
// package (see ssf/doc.go), so this one serves the SSF 1.0 and RFC 8935/8936
// specifications' own exchanges, and the SETs of the CAEP, RISC and SSF
// specifications' examples, signed with go-jose.

import (
	"bytes"
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
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Queued is a SET in a stream's queue.
type Queued struct {
	// JTI and SET are the SET's jti and compact form.
	JTI, SET string
	// Acked is set once a poll acknowledged it.
	Acked bool
	// Errored is the error a poll reported for it in setErrs.
	Errored *SETError
	// Delivered counts the poll answers that carried it.
	Delivered int
}

// Stream is a stream at the transmitter.
type Stream struct {
	// Cfg is the stream's configuration, as the transmitter answers it.
	Cfg StreamConfig
	// Status is enabled, paused or disabled.
	Status string
	// Queue holds the SETs of a poll stream.
	Queue []*Queued
}

// Transmitter is an SSF transmitter on loopback; its exported fields are
// read and set by tests under Mu.
type Transmitter struct {
	T      TB
	Server *httptest.Server
	Issuer string
	Aud    string
	Key    *ecdsa.PrivateKey
	Kid    string

	Bearer             string // a static token it accepts
	ClientID, Secret   string // client credentials it accepts
	TokenCalls         int
	AccessTokens       map[string]bool
	Mu                 sync.Mutex
	wake               chan struct{} // closed when a SET is queued
	Streams            map[string]*Stream
	Creates, Updates   int
	Deletes            int
	NextID             int
	Polls              []PollRequest
	DropAcks           int // the next polls whose acks are lost
	Pushed             []int
	PushClient         *http.Client
	HoldLongPoll       time.Duration
	VerificationsAsked int
	FailPolls          int  // the next polls answered 500
	ListAsObject       bool // GET without stream_id answers the one stream, not an array
	ListNone           int  // the next lists answer no stream: another receiver's create not seen yet
}

// New starts a transmitter on a free loopback port, closed when the
// test ends. Its issuer is Issuer, its streams are created by receivers.
func New(t TB) *Transmitter { return start(t, false) }

// NewTLS is New over HTTPS, with a certificate of httptest's own CA:
// Server.Certificate() is what a receiver must trust.
func NewTLS(t TB) *Transmitter { return start(t, true) }

func start(t TB, overTLS bool) *Transmitter {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tx := &Transmitter{T: t, Key: key, Kid: "tx-key-1", Bearer: "receiver-bearer-token", ClientID: "gateway", Secret: "gateway-secret",
		AccessTokens: map[string]bool{}, Streams: map[string]*Stream{}, wake: make(chan struct{}),
		Aud: "https://gateway.example.com/ssf", HoldLongPoll: 30 * time.Second, PushClient: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	if overTLS {
		tx.Server = httptest.NewTLSServer(mux)
	} else {
		tx.Server = httptest.NewServer(mux)
	}
	t.Cleanup(tx.Server.Close)
	tx.Issuer = tx.Server.URL + "/tenant1"
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
func (tx *Transmitter) discovery(w http.ResponseWriter, _ *http.Request) {
	u := tx.Server.URL
	WriteJSON(w, http.StatusOK, map[string]any{
		"spec_version":               "1_0",
		"issuer":                     tx.Issuer,
		"jwks_uri":                   u + "/jwks",
		"delivery_methods_supported": []string{DeliveryPush, DeliveryPoll},
		"configuration_endpoint":     u + "/ssf/streams",
		"status_endpoint":            u + "/ssf/status",
		"verification_endpoint":      u + "/ssf/verify",
		"default_subjects":           "ALL",
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6749"}},
	})
}

func (tx *Transmitter) jwks(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &tx.Key.PublicKey, KeyID: tx.Kid, Algorithm: "ES256", Use: "sig"}}})
}

func (tx *Transmitter) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != tx.ClientID || secret != tx.Secret || r.FormValue("grant_type") != "client_credentials" {
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tx.Mu.Lock()
	tx.TokenCalls++
	tok := "at-" + strconv.Itoa(tx.TokenCalls)
	tx.AccessTokens[tok] = true
	tx.Mu.Unlock()
	WriteJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (tx *Transmitter) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tx.Mu.Lock()
		good := ok && (tok == tx.Bearer || tx.AccessTokens[tok])
		tx.Mu.Unlock()
		if !good {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// configuration creates (POST), reads (GET) and deletes (DELETE) streams,
// SSF 1.0 section 8.1.1.
func (tx *Transmitter) configuration(w http.ResponseWriter, r *http.Request) {
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		var s StreamConfig
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil || s.Delivery.Method == "" {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "bad stream"})
			return
		}
		tx.Creates++
		tx.NextID++
		s.ID = fmt.Sprintf("stream-%d", tx.NextID)
		s.Iss, s.Aud = tx.Issuer, []string{tx.Aud}
		s.EventsDelivered = s.EventsRequested
		if s.Delivery.Method == DeliveryPoll {
			s.Delivery.EndpointURL = tx.Server.URL + "/ssf/poll/" + s.ID
		}
		tx.Streams[s.ID] = &Stream{Cfg: s, Status: "enabled"}
		WriteJSON(w, http.StatusCreated, s)
	case http.MethodGet:
		if id := r.URL.Query().Get("stream_id"); id != "" {
			s := tx.Streams[id]
			if s == nil {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			WriteJSON(w, http.StatusOK, s.Cfg)
			return
		}
		if tx.ListNone > 0 {
			tx.ListNone--
			WriteJSON(w, http.StatusOK, []StreamConfig{})
			return
		}
		if tx.ListAsObject && tx.Streams["stream-1"] != nil {
			WriteJSON(w, http.StatusOK, tx.Streams["stream-1"].Cfg)
			return
		}
		list := []StreamConfig{}
		for i := 1; i <= tx.NextID; i++ {
			if s := tx.Streams[fmt.Sprintf("stream-%d", i)]; s != nil {
				list = append(list, s.Cfg)
			}
		}
		WriteJSON(w, http.StatusOK, list)
	case http.MethodPatch:
		var u StreamConfig
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s := tx.Streams[u.ID]
		if s == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		tx.Updates++
		if u.EventsRequested != nil {
			s.Cfg.EventsRequested, s.Cfg.EventsDelivered = u.EventsRequested, u.EventsRequested
		}
		WriteJSON(w, http.StatusOK, s.Cfg)
	case http.MethodDelete:
		id := r.URL.Query().Get("stream_id")
		if tx.Streams[id] == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		tx.Deletes++
		delete(tx.Streams, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (tx *Transmitter) statusEP(w http.ResponseWriter, r *http.Request) {
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	s := tx.Streams[r.URL.Query().Get("stream_id")]
	if s == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"stream_id": s.Cfg.ID, "status": s.Status})
}

// verify queues SSF 1.0 section 8.1.4.1's verification event.
func (tx *Transmitter) verify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tx.Mu.Lock()
	tx.VerificationsAsked++
	_, ok := tx.Streams[req.StreamID]
	tx.Mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	// Sent once this answer is done: the receiver may reuse its connection
	// to fetch the JWKS while it verifies the event.
	jti, set := tx.Sign(map[string]any{
		"sub_id": map[string]string{"format": "opaque", "id": req.StreamID},
		"events": map[string]any{SSFVerification: map[string]string{"state": req.State}},
	}, nil)
	go tx.Deliver(req.StreamID, jti, set)
}

// SetStatus changes a stream's status and sends stream-updated.
func (tx *Transmitter) SetStatus(id, status, reason string) {
	tx.Mu.Lock()
	tx.Streams[id].Status = status
	tx.Mu.Unlock()
	tx.Send(id, map[string]any{
		"sub_id": map[string]string{"format": "opaque", "id": id},
		"events": map[string]any{SSFStreamUpdated: map[string]string{"status": status, "reason": reason}},
	})
}

// poll is RFC 8936 section 2.4: acks and setErrs taken, then up to
// maxEvents SETs neither acknowledged nor refused, held until one is
// queued when returnImmediately is false and none is.
func (tx *Transmitter) poll(w http.ResponseWriter, r *http.Request) {
	var req PollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"err": "invalid_request"})
		return
	}
	id := r.PathValue("id")
	tx.Mu.Lock()
	if tx.FailPolls > 0 {
		tx.FailPolls--
		tx.Mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s := tx.Streams[id]
	if s == nil {
		tx.Mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		return
	}
	tx.Polls = append(tx.Polls, req)
	if tx.DropAcks > 0 && len(req.Ack) > 0 {
		tx.DropAcks--
	} else {
		for _, q := range s.Queue {
			for _, a := range req.Ack {
				if q.JTI == a {
					q.Acked = true
				}
			}
			if e := req.SetErrs[q.JTI]; e != nil {
				q.Errored = e
			}
		}
	}
	tx.Mu.Unlock()
	for {
		tx.Mu.Lock()
		sets := map[string]string{}
		more := false
		var sent []*Queued
		for _, q := range s.Queue {
			if q.Acked || q.Errored != nil {
				continue
			}
			if len(sets) == max(req.MaxEvents, 1) {
				more = true
				break
			}
			sets[q.JTI] = q.SET
			sent = append(sent, q)
		}
		wake := tx.wake
		for _, q := range sent {
			q.Delivered++
		}
		tx.Mu.Unlock()
		if len(sets) > 0 || req.ReturnImmediately {
			WriteJSON(w, http.StatusOK, PollAnswer{Sets: sets, MoreAvailable: more})
			return
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		case <-time.After(tx.HoldLongPoll):
			WriteJSON(w, http.StatusOK, PollAnswer{Sets: sets})
			return
		}
	}
}

// LastPoll returns the last poll request.
func (tx *Transmitter) LastPoll() PollRequest {
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	return tx.Polls[len(tx.Polls)-1]
}

// Sign makes a SET of claims: iss, aud, iat and jti filled in unless
// claims has them; typ secevent+jwt.
func (tx *Transmitter) Sign(claims map[string]any, key *ecdsa.PrivateKey) (jti, set string) {
	tx.T.Helper()
	if claims["iss"] == nil {
		claims["iss"] = tx.Issuer
	}
	if claims["aud"] == nil {
		claims["aud"] = tx.Aud
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
		key = tx.Key
	}
	opts := (&jose.SignerOptions{}).WithType("secevent+jwt").WithHeader("kid", tx.Kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		tx.T.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		tx.T.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tx.T.Fatal(err)
	}
	set, err = jws.CompactSerialize()
	if err != nil {
		tx.T.Fatal(err)
	}
	return claims["jti"].(string), set
}

// Send signs claims and delivers the SET on stream id: queued for polls,
// or pushed (RFC 8935) with the stream's authorization_header, its answer
// status appended to pushed.
func (tx *Transmitter) Send(id string, claims map[string]any) string {
	jti, set := tx.Sign(claims, nil)
	tx.Deliver(id, jti, set)
	return jti
}

// Deliver queues the signed SET jti on stream id (poll), or pushes it
// (push) and appends the answer's status to Pushed.
func (tx *Transmitter) Deliver(id, jti, set string) {
	tx.Mu.Lock()
	s := tx.Streams[id]
	if s.Cfg.Delivery.Method == DeliveryPoll {
		s.Queue = append(s.Queue, &Queued{JTI: jti, SET: set})
		close(tx.wake)
		tx.wake = make(chan struct{})
		tx.Mu.Unlock()
		return
	}
	endpoint, auth := s.Cfg.Delivery.EndpointURL, s.Cfg.Delivery.AuthorizationHeader
	tx.Mu.Unlock()
	status := tx.Push(endpoint, auth, set)
	tx.Mu.Lock()
	tx.Pushed = append(tx.Pushed, status)
	tx.Mu.Unlock()
}

// Push POSTs set as RFC 8935 section 2 says and returns the status.
func (tx *Transmitter) Push(endpoint, auth, set string) int {
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader([]byte(set)))
	if err != nil {
		tx.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := tx.PushClient.Do(req)
	if err != nil {
		tx.T.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Unacked returns the jtis of stream id's queue not acknowledged.
func (tx *Transmitter) Unacked(id string) []string {
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	var out []string
	for _, q := range tx.Streams[id].Queue {
		if !q.Acked && q.Errored == nil {
			out = append(out, q.JTI)
		}
	}
	return out
}

func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// StreamIDs returns the ids of the streams created, in creation order.
func (tx *Transmitter) StreamIDs() []string {
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	var out []string
	for i := 1; i <= tx.NextID; i++ {
		if id := fmt.Sprintf("stream-%d", i); tx.Streams[id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// Deliveries returns how many poll answers of stream id carried the SET
// jti.
func (tx *Transmitter) Deliveries(id, jti string) int {
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	for _, q := range tx.Streams[id].Queue {
		if q.JTI == jti {
			return q.Delivered
		}
	}
	return 0
}

// Unack forgets the acknowledgement of the SETs jtis of stream id, as a
// transmitter that lost it does, and wakes the polls it holds: they are
// delivered again.
func (tx *Transmitter) Unack(id string, jtis ...string) {
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	for _, q := range tx.Streams[id].Queue {
		for _, j := range jtis {
			if q.JTI == j {
				q.Acked = false
			}
		}
	}
	close(tx.wake)
	tx.wake = make(chan struct{})
}
